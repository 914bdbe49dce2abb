#pragma once
// RequestCounter: how many requests a simulator has served, per method and route, for tests and
// benchmarks that bound the traffic a client causes ("at most three backend requests per
// executor"). A route is a pattern the simulator chooses (`/api/v1/namespaces/{ns}/pods/{name}`),
// never a raw path, so counts stay few and comparable. Backend-agnostic: each simulator maps its
// own paths to routes; administration (/sim/...) is not counted.
//
// Served on a simulator's admin port by serve_request_counts():
//   GET  /sim/requests           {"requests": [{"method", "route", "count"}...], "total": N}
//   GET  /sim/requests?reset=1   the same, and the counts start again from zero
//   POST /sim/requests/reset     {"ok": true}; the counts start again from zero
//
// Thread-safety: every method is safe from any thread.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/http.h"

namespace berth::sim_common {

struct RouteCount {
  std::string method;  // "GET", "POST", ...
  std::string route;   // the simulator's pattern, e.g. "/v1/job/{id}"
  std::uint64_t count = 0;
};

class RequestCounter {
 public:
  void count(const std::string& method, const std::string& route);
  // Every (method, route) seen since the last reset, ordered by route, then method.
  std::vector<RouteCount> counts() const;
  // counts(), and the counts start again from zero, in one step: no request is lost between.
  std::vector<RouteCount> take();
  std::uint64_t total() const;
  void reset();

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> counts_;  // (route, method) -> count
};

// `{"requests": [{"method", "route", "count"}...], "total": N}`.
std::string render_counts(const std::vector<RouteCount>& counts);

// True for the simulators' administration paths (/sim and below), which are never counted.
bool is_admin_path(const std::string& path);

// The response to one of the request-count endpoints above, or nullopt when `request` is not
// one of them (the simulator serves it itself). A wrong method on /sim/requests is a 405.
std::optional<net::HttpResponse> serve_request_counts(const net::HttpRequest& request, RequestCounter& counter);

}  // namespace berth::sim_common
