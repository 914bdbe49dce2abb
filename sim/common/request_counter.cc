#include "sim/common/request_counter.h"

#include <boost/json.hpp>

namespace berth::sim_common {
namespace json = boost::json;

void RequestCounter::count(const std::string& method, const std::string& route) {
  std::lock_guard lock(mutex_);
  ++counts_[{route, method}];
}

namespace {

std::vector<RouteCount> listed(const std::map<std::pair<std::string, std::string>, std::uint64_t>& counts) {
  std::vector<RouteCount> out;
  out.reserve(counts.size());
  for (const auto& [key, count] : counts) out.push_back(RouteCount{key.second, key.first, count});
  return out;
}

}  // namespace

std::vector<RouteCount> RequestCounter::counts() const {
  std::lock_guard lock(mutex_);
  return listed(counts_);
}

std::vector<RouteCount> RequestCounter::take() {
  std::lock_guard lock(mutex_);
  auto out = listed(counts_);
  counts_.clear();
  return out;
}

std::uint64_t RequestCounter::total() const {
  std::lock_guard lock(mutex_);
  std::uint64_t sum = 0;
  for (const auto& entry : counts_) sum += entry.second;
  return sum;
}

void RequestCounter::reset() {
  std::lock_guard lock(mutex_);
  counts_.clear();
}

std::string render_counts(const std::vector<RouteCount>& counts) {
  json::array requests;
  std::uint64_t total = 0;
  for (const RouteCount& entry : counts) {
    requests.push_back(json::object{{"method", entry.method}, {"route", entry.route}, {"count", entry.count}});
    total += entry.count;
  }
  return json::serialize(json::object{{"requests", std::move(requests)}, {"total", total}}) + "\n";
}

bool is_admin_path(const std::string& path) { return path == "/sim" || path.rfind("/sim/", 0) == 0; }

std::optional<net::HttpResponse> serve_request_counts(const net::HttpRequest& request, RequestCounter& counter) {
  const auto json_reply = [](int status, std::string body) {
    return net::HttpResponse{status, {{"content-type", "application/json"}}, std::move(body)};
  };
  const auto method_not_allowed = [&](const char* message) {
    return json_reply(405, json::serialize(json::object{{"ok", false}, {"error", message}}) + "\n");
  };
  if (request.path == "/sim/requests") {
    if (request.method != "GET") {
      return method_not_allowed("/sim/requests answers GET; POST /sim/requests/reset resets the counts");
    }
    const auto reset = request.param("reset");
    const bool take = reset && *reset != "0" && *reset != "false";
    return json_reply(200, render_counts(take ? counter.take() : counter.counts()));
  }
  if (request.path == "/sim/requests/reset") {
    if (request.method != "POST") return method_not_allowed("/sim/requests/reset answers POST");
    counter.reset();
    return json_reply(200, json::serialize(json::object{{"ok", true}}) + "\n");
  }
  return std::nullopt;
}

}  // namespace berth::sim_common
