#pragma once
// The /sim/ administration, as far as every simulator serves it the same way: JSON replies
// ({"ok": true, ...}, or {"ok": false, "error": ...} with 404 for a missing object, 409 for a
// conflict and 400 otherwise), the body of a POST (empty or one JSON object), 404 for an unknown
// endpoint, and the shared routes:
//   GET  /sim/requests, POST /sim/requests/reset  request counts (request_counter.h)
//   POST /sim/advance {"seconds": s}              the clock jumps and what came due runs; the
//                                                 answer carries the simulated time under the
//                                                 simulator's key ("simTime", "SimTime", ...)
//   GET|POST /sim/faults                          the shared faults (faults.h), then the
//                                                 simulator's own through its hooks
// Everything else under /sim/ (state, nodes, agents, exits...) is the simulator's.
//
// Thread-safety: none; a simulator serves its administration on its strand.

#include <boost/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "net/http.h"
#include "sim/common/faults.h"
#include "sim/common/request_counter.h"
#include "sim/common/sim_clock.h"

namespace berth::sim_common {

// One request under /sim/, its path split and its POST body parsed.
class AdminRequest {
 public:
  explicit AdminRequest(const net::HttpRequest& http);

  const net::HttpRequest& http() const { return http_; }
  const std::string& method() const { return http_.method; }
  // The path's segments, "sim" first: /sim/nodes/n1/kill -> {"sim", "nodes", "n1", "kill"}.
  const std::vector<std::string>& parts() const { return parts_; }
  // False when a POST body is not a JSON object (serve_shared_admin answers 400 then).
  bool body_ok() const { return body_ok_; }
  const boost::json::object& body() const { return body_; }  // empty without a body
  // The body's field `key` when it is a JSON number.
  std::optional<double> number(const char* key) const;
  // True when the body's field `key` is JSON true.
  bool flag(const char* key) const;

 private:
  const net::HttpRequest& http_;
  std::vector<std::string> parts_;
  boost::json::object body_;
  bool body_ok_ = true;
};

// `body` as application/json with a trailing newline.
net::HttpResponse admin_json(int status, const boost::json::value& body);
// 200 {"ok": true, ...extra} for an ok status; {"ok": false, "error": message} with 404
// (kNotFound), 409 (kFailedPrecondition, kAlreadyExists) or 400 (anything else) otherwise.
net::HttpResponse admin_reply(const Status& status, boost::json::object extra = {});
// 404 {"ok": false, "error": "unknown admin endpoint METHOD PATH"}.
net::HttpResponse unknown_admin_endpoint(const net::HttpRequest& request);

// What the shared routes work on, and the simulator's part of /sim/faults.
struct SharedAdmin {
  RequestCounter& requests;
  Agenda& agenda;
  Faults& faults;
  const char* sim_time_key;  // names the simulated time in the /sim/advance answer
  // POST /sim/faults, after the shared fields were applied: the simulator's own fields, its
  // own reset (update.reset) and the outage (update.down_for). May be empty.
  std::function<void(const AdminRequest&, const FaultUpdate&)> apply_faults;
  // GET and POST /sim/faults: adds the simulator's own fields to the answer. May be empty.
  std::function<void(boost::json::object&)> describe_faults;
};

// The response to a shared route, or to a POST whose body is not a JSON object; nullopt when
// the simulator serves `request` itself.
std::optional<net::HttpResponse> serve_shared_admin(const AdminRequest& request, const SharedAdmin& shared);

}  // namespace berth::sim_common
