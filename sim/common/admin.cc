#include "sim/common/admin.h"

namespace berth::sim_common {
namespace json = boost::json;

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!part.empty()) parts.push_back(std::move(part));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

}  // namespace

AdminRequest::AdminRequest(const net::HttpRequest& http) : http_(http), parts_(split_path(http.path)) {
  if (http.method != "POST" || http.body.empty()) return;
  boost::system::error_code ec;
  json::value parsed = json::parse(http.body, ec);
  if (ec || !parsed.is_object()) {
    body_ok_ = false;
    return;
  }
  body_ = std::move(parsed.as_object());
}

std::optional<double> AdminRequest::number(const char* key) const {
  const json::value* value = body_.if_contains(key);
  if (value == nullptr || !value->is_number()) return std::nullopt;
  return value->to_number<double>();
}

bool AdminRequest::flag(const char* key) const {
  const json::value* value = body_.if_contains(key);
  return value != nullptr && value->is_bool() && value->as_bool();
}

net::HttpResponse admin_json(int status, const json::value& body) {
  return net::HttpResponse{status, {{"content-type", "application/json"}}, json::serialize(body) + "\n"};
}

net::HttpResponse admin_reply(const Status& status, json::object extra) {
  if (status.ok()) {
    extra["ok"] = true;
    return admin_json(200, extra);
  }
  const int code = status.code() == StatusCode::kNotFound                                                     ? 404
                   : status.code() == StatusCode::kFailedPrecondition || status.code() == StatusCode::kAlreadyExists ? 409
                                                                                                                     : 400;
  return admin_json(code, json::object{{"ok", false}, {"error", status.message()}});
}

net::HttpResponse unknown_admin_endpoint(const net::HttpRequest& request) {
  return admin_json(404, json::object{{"ok", false}, {"error", "unknown admin endpoint " + request.method + " " + request.path}});
}

std::optional<net::HttpResponse> serve_shared_admin(const AdminRequest& request, const SharedAdmin& shared) {
  if (auto response = serve_request_counts(request.http(), shared.requests)) return response;
  if (!request.body_ok()) return admin_reply(Status::InvalidArgument("the body must be a JSON object"));
  const auto& parts = request.parts();
  const std::string& method = request.method();
  if (parts.size() != 2) return std::nullopt;
  if (parts[1] == "advance" && method == "POST") {
    shared.agenda.advance(request.number("seconds").value_or(0));
    return admin_reply(Status::Ok(), json::object{{shared.sim_time_key, shared.agenda.now()}});
  }
  if (parts[1] == "faults" && (method == "GET" || method == "POST")) {
    if (method == "POST") {
      const FaultUpdate update = shared.faults.apply(request.body());
      if (shared.apply_faults) shared.apply_faults(request, update);
    }
    json::object described = shared.faults.describe();
    if (shared.describe_faults) shared.describe_faults(described);
    return admin_reply(Status::Ok(), std::move(described));
  }
  return std::nullopt;
}

}  // namespace berth::sim_common
