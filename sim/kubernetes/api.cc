// The HTTP half of the simulator: authentication, fault injection, routing of the pod API,
// discovery and OpenAPI, lists with chunking, watches (replay from a resourceVersion, 410,
// bookmarks, timeouts, Table events), and the /sim/ administration endpoints.

#include <boost/asio/post.hpp>
#include <algorithm>
#include <iostream>
#include <set>

#include "sim/kubernetes/internal.h"

namespace berth::sim::kubernetes {
namespace asio = boost::asio;
namespace {

// The event a watch shows for a stored event, given whether the object matches the watch's
// selectors now and before the change: objects entering a selector are ADDED for it, objects
// leaving it DELETED, as the API server's watch cache does. "" = not shown.
std::string type_seen_by_watch(const std::string& stored_type, bool now_match, bool was_match) {
  if (stored_type == "ADDED") return now_match ? "ADDED" : "";
  if (stored_type == "DELETED") return now_match ? "DELETED" : "";
  if (now_match) return was_match ? "MODIFIED" : "ADDED";
  return was_match ? "DELETED" : "";
}

constexpr const char* kJson = "application/json";

net::HttpResponse json_response(int code, const json::value& body) {
  net::HttpResponse response;
  response.status = code;
  response.headers["content-type"] = kJson;
  response.headers["cache-control"] = "no-cache, private";
  response.body = json::serialize(body);
  response.body += "\n";
  return response;
}

net::HttpResponse error_response(const ApiError& error) {
  auto response = json_response(error.code, status_object(error));
  if (error.details.contains("retryAfterSeconds")) {
    response.headers["retry-after"] = json::serialize(error.details.at("retryAfterSeconds"));
  }
  return response;
}

net::HttpResponse result_response(const ApiResult& result) {
  if (result.error) return error_response(*result.error);
  return json_response(result.code, result.body);
}

ApiError bad_request(const std::string& message) { return ApiError{400, "BadRequest", message, {}}; }

ApiError not_found_resource() {
  return ApiError{404, "NotFound", "the server could not find the requested resource", {}};
}

ApiError list_options_invalid(const std::string& field, const std::string& reason, const std::string& detail) {
  json::object details{{"group", "meta.k8s.io"},
                       {"kind", "ListOptions"},
                       {"causes", json::array{json::object{{"reason", reason}, {"message", detail}, {"field", field}}}}};
  return ApiError{422, "Invalid", "ListOptions.meta.k8s.io \"\" is invalid: " + field + ": " + detail, std::move(details)};
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

// A boolean query parameter as the API server reads one (apimachinery's
// Convert_Slice_string_To_bool): absent, "0" or "false" in any letter case is false; any other
// value, even an empty one (`?watch`) or "True" (the Python client's), is true.
bool query_flag(const std::optional<std::string>& value) {
  if (!value || *value == "0") return false;
  std::string lower = *value;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower != "false";
}

// What a request under /api/v1 addresses, as the API server's RequestInfo resolves it, and its
// route (the path with {ns} and {name} for the variable parts). nullopt for paths that are not
// a resource (discovery, OpenAPI, health) or not served.
struct ResourcePath {
  std::string resource;        // "pods" or "namespaces"
  std::string subresource;     // "log", "eviction", "status" ...
  std::string namespace_name;  // "" at the cluster scope
  std::string name;            // "" for a collection
  bool legacy_watch = false;   // /api/v1/watch/...
  std::string route;
};

std::optional<ResourcePath> resource_path(const std::vector<std::string>& parts) {
  if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1") return std::nullopt;
  std::vector<std::string> rest(parts.begin() + 2, parts.end());
  ResourcePath out;
  out.route = "/api/v1";
  if (rest[0] == "watch") {
    out.legacy_watch = true;
    out.route += "/watch";
    rest.erase(rest.begin());
  }
  if (rest.size() == 1 && rest[0] == "pods") {
    out.resource = "pods";
    out.route += "/pods";
    return out;
  }
  if (rest.empty() || rest[0] != "namespaces") return std::nullopt;
  if (rest.size() == 1) {
    out.resource = "namespaces";
    out.route += "/namespaces";
    return out;
  }
  out.namespace_name = rest[1];
  if (rest.size() == 2) {  // a namespace is its own namespace (RequestInfo)
    out.resource = "namespaces";
    out.name = rest[1];
    out.route += "/namespaces/{ns}";
    return out;
  }
  if (rest[2] != "pods" || rest.size() > 5 || (out.legacy_watch && rest.size() > 4)) return std::nullopt;
  out.resource = "pods";
  out.route += "/namespaces/{ns}/pods";
  if (rest.size() >= 4) {
    out.name = rest[3];
    out.route += "/{name}";
  }
  if (rest.size() == 5) {
    out.subresource = rest[4];
    const bool known = rest[4] == "log" || rest[4] == "eviction" || rest[4] == "status";
    out.route += known ? "/" + rest[4] : std::string("/{subresource}");
  }
  return out;
}

// The RBAC verb of a request (RequestInfo): GET is get, list or watch; DELETE of a collection is
// deletecollection.
std::string verb_of(const net::HttpRequest& request, const ResourcePath& path) {
  const std::string& method = request.method;
  if (method == "GET" || method == "HEAD") {
    if (path.legacy_watch || query_flag(request.param("watch"))) return "watch";
    return path.name.empty() ? "list" : "get";
  }
  if (method == "POST") return "create";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return path.name.empty() ? "deletecollection" : "delete";
  std::string lower = method;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

// The route a request is counted under: its resource route (" watch" added for watches), one of
// the fixed discovery and health paths, or "{other}".
std::string route_of(const net::HttpRequest& request, const std::vector<std::string>& parts) {
  if (auto path = resource_path(parts)) {
    return path->route + (verb_of(request, *path) == "watch" ? " watch" : "");
  }
  static const std::set<std::string> kFixed = {"/",           "/version",           "/api",    "/apis",
                                               "/api/v1",     "/openapi/v3",        "/healthz", "/readyz",
                                               "/livez",      "/openapi/v3/api/v1"};
  const std::string path = request.path.empty() ? "/" : request.path;
  return kFixed.count(path) ? path : "{other}";
}

// The user of a TLS client certificate: its subject's CN (RFC 2253 text, "CN=name,O=group").
std::string common_name(const std::string& subject) {
  std::size_t start = 0;
  while (start < subject.size()) {
    const auto comma = subject.find(',', start);
    const std::string part = subject.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (part.rfind("CN=", 0) == 0) return part.substr(3);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return subject;
}

// The manager a create records: the fieldManager parameter, else the User-Agent up to its first
// "/" (apiserver's managerOrUserAgent).
std::string field_manager_of(const net::HttpRequest& request) {
  if (auto manager = request.param("fieldManager"); manager && !manager->empty()) return *manager;
  const std::string agent = request.header("user-agent").value_or("");
  return agent.substr(0, agent.find('/'));
}

std::optional<std::uint64_t> parse_rv(const std::string& text) {
  if (text.empty() || text.size() > 19 || !std::all_of(text.begin(), text.end(), ::isdigit)) return std::nullopt;
  return std::stoull(text);
}

const char* kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const std::string& in) {
  std::string out;
  int value = 0;
  int bits = -6;
  for (unsigned char c : in) {
    value = (value << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(kBase64[(value >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(kBase64[((value << 8) >> (bits + 8)) & 0x3F]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

std::optional<std::string> base64_decode(const std::string& in) {
  std::string out;
  int value = 0;
  int bits = -8;
  for (char c : in) {
    if (c == '=') break;
    const char* p = std::strchr(kBase64, c);
    if (!p || c == '\0') return std::nullopt;
    value = (value << 6) + static_cast<int>(p - kBase64);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

bool wants_table(const net::HttpRequest& request) {
  const auto accept = request.header("accept");
  return accept && accept->find("as=Table") != std::string::npos;
}

std::optional<json::object> parse_object(const std::string& body, std::string& error) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec) {
    error = "the body of the request was in an unknown format - accepted media types include: application/json: " +
            ec.message();
    return std::nullopt;
  }
  if (!value.is_object()) {
    error = "the body of the request must be a JSON object";
    return std::nullopt;
  }
  return std::move(value.as_object());
}

}  // namespace

// ---- lifecycle ----------------------------------------------------------------------------

SimulatorImpl::SimulatorImpl(asio::any_io_executor executor, SimulatorOptions options)
    : executor_(executor),
      strand_(asio::make_strand(executor)),
      options_(std::move(options)),
      agenda_(strand_, sim_common::SimClock(options_.time_scale)),
      bookmark_timer_(strand_),
      outage_(strand_),
      rng_(options_.seed) {
}

Status SimulatorImpl::start() {
  try {
    init_cluster();
  } catch (const std::exception& e) {
    return Status::InvalidArgument(e.what());
  }
  agenda_.clock().start();
  if (Status s = bring_up(); !s.ok()) return s;
  asio::post(strand_, [self = shared_from_this()] { self->arm_bookmarks(); });
  return Status::Ok();
}

Status SimulatorImpl::bring_up() {
  net::HttpServerOptions server_options;
  server_options.listen = address_.empty() ? options_.listen : address_;
  server_options.tls_cert_file = options_.tls_cert_file;
  server_options.tls_key_file = options_.tls_key_file;
  server_options.tls_client_ca_file = options_.client_ca_file;
  std::weak_ptr<SimulatorImpl> weak = shared_from_this();
  auto server = std::make_unique<net::HttpServer>(
      executor_, server_options, [weak](net::HttpRequest request, std::shared_ptr<net::ResponseWriter> writer) {
        auto self = weak.lock();
        if (!self) return;
        asio::post(self->strand_, [self, request = std::move(request), writer = std::move(writer)]() mutable {
          self->handle(std::move(request), std::move(writer));
        });
      });
  if (Status s = server->start(); !s.ok()) return s;
  std::lock_guard lock(server_mutex_);
  address_ = server->address();
  port_ = server->port();
  server_ = std::move(server);
  return Status::Ok();
}

void SimulatorImpl::stop() {
  {
    std::lock_guard lock(server_mutex_);
    if (server_) server_->stop();
  }
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->agenda_.stop();
    self->bookmark_timer_.cancel();
    self->outage_.stop();
    for (auto& [id, watcher] : self->watchers_) {
      if (watcher.timeout) watcher.timeout->cancel();
    }
    self->watchers_.clear();
  });
}

void SimulatorImpl::go_down(std::chrono::milliseconds duration) {
  // Refuse connections for `duration`: the listener stops and a new one takes the same address.
  auto self = shared_from_this();
  outage_.begin(
      duration,
      [self] {
        std::lock_guard lock(self->server_mutex_);
        if (self->server_) self->server_->stop();
      },
      [self] {
        if (Status s = self->bring_up(); !s.ok()) std::cerr << "berth-sim: cannot come back up: " << s.message() << "\n";
      });
}

// ---- dispatch -----------------------------------------------------------------------------

void SimulatorImpl::handle(net::HttpRequest request, std::shared_ptr<net::ResponseWriter> writer) {
  if (stopped_) {
    writer->abort();
    return;
  }
  const bool admin = sim_common::is_admin_path(request.path);
  if (!admin) requests_.count(request.method, route_of(request, split_path(request.path)));
  sim_common::after_latency(strand_, admin ? std::chrono::milliseconds(0) : faults_.latency(),
                             [self = shared_from_this(), request = std::move(request), writer]() mutable {
                               self->serve(request, writer);
                             });
}

void SimulatorImpl::serve(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer) {
  const std::string& path = request.path;
  if (path == "/healthz" || path == "/readyz" || path == "/livez") {
    writer->respond(net::HttpResponse{200, {{"content-type", "text/plain; charset=utf-8"}}, "ok"});
    return;
  }
  if (!options_.token.empty() && request.client_cert_subject.empty() &&
      request.header("authorization") != "Bearer " + options_.token) {
    writer->respond(error_response(ApiError{401, "Unauthorized", "Unauthorized", {}}));
    return;
  }
  if (path == "/sim" || path.rfind("/sim/", 0) == 0) {
    serve_admin(request, writer);
    return;
  }
  const auto parts = split_path(path);
  const auto resource = resource_path(parts);
  // Authorization comes before everything but authentication, as in the API server's filters.
  if (resource && options_.rbac_role) {
    const RequestAttributes attributes{user_of(request),      verb_of(request, *resource), "",
                                       resource->resource,    resource->subresource,       resource->namespace_name,
                                       resource->name};
    if (!rbac_allows(*options_.rbac_role, attributes)) {
      json::object details;
      if (!attributes.name.empty()) details["name"] = attributes.name;
      details["kind"] = attributes.resource;
      return writer->respond(error_response(ApiError{403, "Forbidden", forbidden_message(attributes), std::move(details)}));
    }
  }
  // Verb, for fault injection.
  std::string verb = "discovery";
  if (resource && resource->resource == "pods") {
    verb = verb_of(request, *resource);
    if (verb != "watch" && verb != "list" && verb != "get" && verb != "create" && verb != "delete" &&
        verb != "deletecollection") {
      verb = "discovery";
    }
  }
  if (auto code = faults_.draw(verb, rng_)) {
    if (*code == 429) {
      writer->respond(net::HttpResponse{429,
                                        {{"content-type", "text/plain; charset=utf-8"}, {"retry-after", "1"},
                                         {"x-content-type-options", "nosniff"}},
                                        "Too many requests, please try again later.\n"});
    } else if (*code == 503) {
      writer->respond(error_response(ApiError{503, "ServiceUnavailable", "the server is currently unable to handle the request", {}}));
    } else if (*code == 504) {
      writer->respond(error_response(ApiError{504, "Timeout",
                                              "the server was unable to return a response in the time allotted, but may "
                                              "still be processing the request",
                                              {}}));
    } else {
      writer->respond(error_response(ApiError{*code, "InternalError", "Internal error occurred: injected fault (berth-sim)", {}}));
    }
    return;
  }

  if (request.method == "GET" && parts.empty()) {
    writer->respond(json_response(200, json::object{{"paths", json::array{"/api", "/api/v1", "/apis", "/healthz",
                                                                          "/openapi/v3", "/version", "/sim/state"}}}));
    return;
  }
  if (request.method == "GET" && path == "/version") return writer->respond(json_response(200, version_document()));
  if (request.method == "GET" && path == "/api") {
    return writer->respond(json_response(200, api_versions_document(address_)));
  }
  if (request.method == "GET" && path == "/apis") return writer->respond(json_response(200, api_group_list_document()));
  if (request.method == "GET" && path == "/api/v1") return writer->respond(json_response(200, api_resource_list_document()));
  if (request.method == "GET" && path == "/openapi/v3") return writer->respond(json_response(200, openapi_v3_root()));
  if (request.method == "GET" && path == "/openapi/v3/api/v1") return writer->respond(json_response(200, openapi_v3_core()));

  if (parts.size() >= 2 && parts[0] == "api" && parts[1] == "v1") {
    // /api/v1/pods, /api/v1/watch/pods, /api/v1/watch/namespaces/{ns}/pods
    if (parts.size() == 3 && parts[2] == "pods") return serve_pods(request, writer, std::nullopt, "", "");
    if (parts.size() == 4 && parts[2] == "watch" && parts[3] == "pods") {
      return serve_watch(request, writer, std::nullopt);
    }
    if (parts.size() == 6 && parts[2] == "watch" && parts[3] == "namespaces" && parts[5] == "pods") {
      return serve_watch(request, writer, parts[4]);
    }
    if (parts.size() == 7 && parts[2] == "watch" && parts[3] == "namespaces" && parts[5] == "pods") {
      request.query.emplace_back("fieldSelector", "metadata.name=" + parts[6]);
      return serve_watch(request, writer, parts[4]);
    }
    if (parts.size() >= 3 && parts[2] == "namespaces") {
      if (parts.size() == 3 && request.method == "GET") {
        std::set<std::string> names{"default", "kube-public", "kube-system"};
        for (const auto& [key, pod] : pods_) names.insert(pod.namespace_name);
        for (const auto& [key, quota] : quotas_) names.insert(quota.spec.namespace_name);
        json::array items;
        for (const auto& name : names) {
          json::value ns = namespace_object(name, timestamp(0));
          ns.as_object().erase("kind");
          ns.as_object().erase("apiVersion");
          items.push_back(std::move(ns));
        }
        return writer->respond(json_response(
            200, json::object{{"kind", "NamespaceList"}, {"apiVersion", "v1"},
                              {"metadata", json::object{{"resourceVersion", std::to_string(resource_version_)}}},
                              {"items", std::move(items)}}));
      }
      if (parts.size() == 4 && request.method == "GET") {
        return writer->respond(json_response(200, namespace_object(parts[3], timestamp(0))));
      }
      if (parts.size() >= 5 && parts[4] == "pods" && parts.size() <= 7) {
        return serve_pods(request, writer, parts[3], parts.size() >= 6 ? parts[5] : "", parts.size() == 7 ? parts[6] : "");
      }
    }
  }
  if (path.rfind("/openapi/", 0) == 0 || path.rfind("/apis/", 0) == 0 || path.rfind("/api/", 0) == 0) {
    return writer->respond(error_response(not_found_resource()));
  }
  writer->respond(error_response(ApiError{404, "NotFound", "the server could not find the requested resource", {}}));
}

void SimulatorImpl::serve_pods(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer,
                               const std::optional<std::string>& namespace_name, const std::string& name,
                               const std::string& subresource) {
  const std::string& method = request.method;
  auto method_not_allowed = [&] {
    writer->respond(error_response(ApiError{405, "MethodNotAllowed",
                                            "the server does not allow this method on the requested resource", {}}));
  };
  if (name.empty()) {
    if (method == "GET") {
      if (query_flag(request.param("watch"))) return serve_watch(request, writer, namespace_name);
      return serve_list(request, writer, namespace_name);
    }
    if (!namespace_name) return method_not_allowed();
    if (method == "POST") {
      std::string error;
      auto body = parse_object(request.body, error);
      if (!body) return writer->respond(error_response(bad_request(error)));
      const bool dry_run = request.param("dryRun") == "All";
      return writer->respond(
          result_response(create_pod(*namespace_name, std::move(*body), dry_run, field_manager_of(request))));
    }
    if (method == "DELETE") {
      std::string error;
      auto labels = LabelSelector::parse(request.param("labelSelector").value_or(""), error);
      if (!labels) return writer->respond(error_response(bad_request(error)));
      auto fields = FieldSelector::parse(request.param("fieldSelector").value_or(""), error);
      if (!fields) return writer->respond(error_response(bad_request(error)));
      DeleteOptions options;
      if (auto grace = request.param("gracePeriodSeconds")) {
        try {
          options.grace_seconds = std::stoll(*grace);
        } catch (const std::exception&) {
          return writer->respond(error_response(bad_request("invalid gracePeriodSeconds: " + *grace)));
        }
      }
      std::vector<std::string> names;
      for (const auto& [key, pod] : pods_) {
        if (pod.namespace_name == *namespace_name && labels->matches(labels_of(pod.object)) &&
            fields->matches(fields_of(pod.object))) {
          names.push_back(pod.name);
        }
      }
      json::array items;
      for (const auto& pod_name : names) {
        auto result = delete_pod(*namespace_name, pod_name, options);
        if (result.error) continue;
        auto& object = result.body.as_object();
        object.erase("kind");
        object.erase("apiVersion");
        items.push_back(std::move(result.body));
      }
      return writer->respond(json_response(
          200, json::object{{"kind", "PodList"}, {"apiVersion", "v1"},
                            {"metadata", json::object{{"resourceVersion", std::to_string(resource_version_)}}},
                            {"items", std::move(items)}}));
    }
    return method_not_allowed();
  }

  const std::string& ns = *namespace_name;
  Pod* pod = find_pod(ns, name);
  auto not_found = [&] {
    writer->respond(error_response(ApiError{404, "NotFound", "pods \"" + name + "\" not found",
                                            json::object{{"name", name}, {"kind", "pods"}}}));
  };
  if (subresource == "log") {
    if (method != "GET") return method_not_allowed();
    if (!pod) return not_found();
    return writer->respond(net::HttpResponse{200, {{"content-type", "text/plain"}},
                                             "berth-sim: pod " + name + " has no log output\n"});
  }
  if (subresource == "eviction") {
    if (method != "POST") return method_not_allowed();
    return writer->respond(result_response(evict_pod_api(ns, name)));
  }
  if (!subresource.empty() && subresource != "status") return writer->respond(error_response(not_found_resource()));
  if (method == "GET") {
    if (!pod) return not_found();
    if (wants_table(request)) {
      return writer->respond(json_response(
          200, pod_table({&pod->object}, string_at(pod->object, {"metadata", "resourceVersion"}),
                         request.param("includeObject") == "Object", unix_time(now()))));
    }
    return writer->respond(json_response(200, with_kind(pod->object)));
  }
  if (method == "DELETE" && subresource.empty()) {
    DeleteOptions options;
    if (!request.body.empty()) {
      std::string error;
      auto body = parse_object(request.body, error);
      if (!body) return writer->respond(error_response(bad_request(error)));
      if (auto it = body->find("gracePeriodSeconds"); it != body->end() && it->value().is_int64()) {
        options.grace_seconds = it->value().as_int64();
      }
      if (auto it = body->find("propagationPolicy"); it != body->end() && it->value().is_string()) {
        options.propagation = std::string(it->value().as_string());
      }
      if (auto it = body->find("orphanDependents"); it != body->end() && it->value().is_bool() && it->value().as_bool()) {
        options.propagation = "Orphan";
      }
      if (auto it = body->find("preconditions"); it != body->end() && it->value().is_object()) {
        const auto& pre = it->value().as_object();
        if (pre.contains("uid") && pre.at("uid").is_string()) options.precondition_uid = std::string(pre.at("uid").as_string());
        if (pre.contains("resourceVersion") && pre.at("resourceVersion").is_string()) {
          options.precondition_resource_version = std::string(pre.at("resourceVersion").as_string());
        }
      }
      if (auto it = body->find("dryRun"); it != body->end() && it->value().is_array() && !it->value().as_array().empty()) {
        options.dry_run = true;
      }
    }
    if (auto grace = request.param("gracePeriodSeconds")) {
      try {
        options.grace_seconds = std::stoll(*grace);
      } catch (const std::exception&) {
        return writer->respond(error_response(bad_request("invalid gracePeriodSeconds: " + *grace)));
      }
    }
    if (auto policy = request.param("propagationPolicy")) options.propagation = *policy;
    if (request.param("dryRun") == "All") options.dry_run = true;
    if (options.propagation != "Background" && options.propagation != "Foreground" && options.propagation != "Orphan") {
      return writer->respond(error_response(ApiError{
          422, "Invalid",
          "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"" + options.propagation +
              "\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"",
          json::object{{"group", "meta.k8s.io"}, {"kind", "DeleteOptions"}}}));
    }
    return writer->respond(result_response(delete_pod(ns, name, options)));
  }
  method_not_allowed();
}

// ---- list -------------------------------------------------------------------------------

void SimulatorImpl::serve_list(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer,
                               const std::optional<std::string>& namespace_name) {
  std::string error;
  auto labels = LabelSelector::parse(request.param("labelSelector").value_or(""), error);
  if (!labels) return writer->respond(error_response(bad_request(error)));
  auto fields = FieldSelector::parse(request.param("fieldSelector").value_or(""), error);
  if (!fields) return writer->respond(error_response(bad_request(error)));
  if (request.param("sendInitialEvents")) {
    return writer->respond(error_response(list_options_invalid(
        "sendInitialEvents", "FieldValueForbidden", "Forbidden: sendInitialEvents is forbidden for list")));
  }
  const std::string rv = request.param("resourceVersion").value_or("");
  const std::string match = request.param("resourceVersionMatch").value_or("");
  const std::string token = request.param("continue").value_or("");
  if (!match.empty()) {
    if (match != "NotOlderThan" && match != "Exact") {
      return writer->respond(error_response(list_options_invalid(
          "resourceVersionMatch", "FieldValueNotSupported",
          "Unsupported value: \"" + match + "\": supported values: \"Exact\", \"NotOlderThan\", \"\"")));
    }
    if (rv.empty()) {
      return writer->respond(error_response(list_options_invalid(
          "resourceVersionMatch", "FieldValueForbidden",
          "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided")));
    }
    if (!token.empty()) {
      return writer->respond(error_response(list_options_invalid(
          "resourceVersionMatch", "FieldValueForbidden", "Forbidden: resourceVersionMatch is forbidden for continue")));
    }
    if (match == "Exact" && rv == "0") {
      return writer->respond(error_response(list_options_invalid(
          "resourceVersionMatch", "FieldValueForbidden",
          "Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")));
    }
  }
  if (!token.empty() && !rv.empty() && rv != "0") {
    return writer->respond(error_response(bad_request("specifying resource version is not allowed when using continue")));
  }
  if (!rv.empty()) {
    auto parsed = parse_rv(rv);
    if (!parsed) return writer->respond(error_response(bad_request("invalid resource version: " + rv)));
    if (*parsed > resource_version_) {
      return writer->respond(error_response(ApiError{
          504, "Timeout", "Too large resource version: " + rv + ", current: " + std::to_string(resource_version_),
          json::object{{"causes", json::array{json::object{{"reason", "ResourceVersionTooLarge"},
                                                            {"message", "Too large resource version"}}}},
                       {"retryAfterSeconds", 1}}}));
    }
    if (match == "Exact" && *parsed != resource_version_ && *parsed < compacted_) {
      return writer->respond(error_response(ApiError{410, "Expired", "too old resource version: " + rv + " (" +
                                                                         std::to_string(compacted_ + 1) + ")",
                                                     {}}));
    }
  }
  std::string start_after;
  std::uint64_t list_rv = resource_version_;
  if (!token.empty()) {
    auto decoded = base64_decode(token);
    boost::system::error_code ec;
    json::value value = decoded ? json::parse(*decoded, ec) : json::value();
    if (!decoded || ec || !value.is_object() || !value.as_object().contains("rv") || !value.as_object().contains("start")) {
      return writer->respond(error_response(bad_request("continue key is not valid: incorrect encoded start resourceVersion")));
    }
    list_rv = static_cast<std::uint64_t>(value.as_object().at("rv").to_number<std::int64_t>());
    start_after = std::string(value.as_object().at("start").as_string());
    if (list_rv < compacted_) {
      return writer->respond(error_response(ApiError{
          410, "Expired",
          "The provided continue parameter is too old to display a consistent list result. You can start a new list "
          "without the continue parameter.",
          {}}));
    }
  }
  std::size_t limit = 0;
  if (auto text = request.param("limit")) {
    try {
      const long long value = std::stoll(*text);
      if (value > 0) limit = static_cast<std::size_t>(value);
    } catch (const std::exception&) {
      return writer->respond(error_response(bad_request("invalid limit: " + *text)));
    }
  }
  std::vector<const json::object*> items;
  std::string last_key;
  std::int64_t remaining = 0;
  for (auto it = start_after.empty() ? pods_.begin() : pods_.upper_bound(start_after); it != pods_.end(); ++it) {
    const Pod& pod = it->second;
    if (namespace_name && pod.namespace_name != *namespace_name) continue;
    if (!labels->matches(labels_of(pod.object)) || !fields->matches(fields_of(pod.object))) continue;
    if (limit > 0 && items.size() >= limit) {
      ++remaining;
      continue;
    }
    items.push_back(&pod.object);
    last_key = it->first;
  }
  json::object metadata{{"resourceVersion", std::to_string(list_rv)}};
  if (remaining > 0) {
    metadata["continue"] = base64_encode(json::serialize(json::object{
        {"v", "meta.k8s.io/v1"}, {"rv", static_cast<std::int64_t>(list_rv)}, {"start", last_key}}));
    metadata["remainingItemCount"] = remaining;
  }
  if (wants_table(request)) {
    auto table = pod_table(items, std::to_string(list_rv), request.param("includeObject") == "Object", unix_time(now()));
    table["metadata"] = std::move(metadata);
    return writer->respond(json_response(200, table));
  }
  json::array list_items;
  for (const auto* item : items) list_items.push_back(*item);
  writer->respond(json_response(200, json::object{{"kind", "PodList"}, {"apiVersion", "v1"},
                                                  {"metadata", std::move(metadata)}, {"items", std::move(list_items)}}));
}

// ---- watch ------------------------------------------------------------------------------

std::string SimulatorImpl::event_line(const Watcher& watcher, const std::string& type, const json::object& object) const {
  json::object event;
  event["type"] = type;
  if (watcher.table) {
    event["object"] = pod_table({&object}, string_at(object, {"metadata", "resourceVersion"}),
                                watcher.table_full_object, unix_time(now()));
  } else {
    event["object"] = with_kind(object);
  }
  return json::serialize(event) + "\n";
}

void SimulatorImpl::serve_watch(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer,
                                const std::optional<std::string>& namespace_name) {
  std::string error;
  auto labels = LabelSelector::parse(request.param("labelSelector").value_or(""), error);
  if (!labels) return writer->respond(error_response(bad_request(error)));
  auto fields = FieldSelector::parse(request.param("fieldSelector").value_or(""), error);
  if (!fields) return writer->respond(error_response(bad_request(error)));
  if (request.param("sendInitialEvents")) {
    return writer->respond(error_response(list_options_invalid(
        "sendInitialEvents", "FieldValueForbidden",
        "Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled")));
  }
  if (request.param("continue") || request.param("limit").value_or("0") != "0") {
    if (request.param("continue")) {
      return writer->respond(error_response(bad_request("continue is not supported for watch")));
    }
  }
  const std::string rv = request.param("resourceVersion").value_or("");
  std::optional<std::uint64_t> from;
  if (!rv.empty() && rv != "0") {
    from = parse_rv(rv);
    if (!from) return writer->respond(error_response(bad_request("invalid resource version: " + rv)));
  }
  Watcher watcher;
  watcher.id = next_watcher_++;
  watcher.namespace_name = namespace_name;
  watcher.labels = std::move(*labels);
  watcher.fields = std::move(*fields);
  watcher.table = wants_table(request);
  watcher.table_full_object = request.param("includeObject") == "Object";
  watcher.bookmarks = query_flag(request.param("allowWatchBookmarks"));
  watcher.writer = writer;
  auto matches = [&](const json::object& object) {
    if (watcher.namespace_name && string_at(object, {"metadata", "namespace"}) != *watcher.namespace_name) return false;
    return watcher.labels.matches(labels_of(object)) && watcher.fields.matches(fields_of(object));
  };
  const bool expired = from && *from < compacted_;
  if (expired && !expired_as_event_) {
    return writer->respond(error_response(ApiError{
        410, "Expired", "too old resource version: " + rv + " (" + std::to_string(compacted_ + 1) + ")", {}}));
  }
  writer->start_stream(200, {{"content-type", kJson}, {"cache-control", "no-cache, private"}});
  if (expired) {
    ApiError gone{410, "Expired", "too old resource version: " + rv + " (" + std::to_string(compacted_ + 1) + ")", {}};
    writer->write(json::serialize(json::object{{"type", "ERROR"}, {"object", status_object(gone)}}) + "\n");
    writer->end();
    return;
  }
  std::string initial;
  if (!from) {
    for (const auto& [key, pod] : pods_) {
      if (matches(pod.object)) initial += event_line(watcher, "ADDED", pod.object);
    }
  } else {
    watcher.after_rv = *from;
    for (const auto& event : history_) {
      if (event.resource_version <= *from) continue;
      const bool now_match = matches(*event.object);
      const bool was_match = event.previous && matches(*event.previous);
      const std::string type = type_seen_by_watch(event.type, now_match, was_match);
      if (!type.empty()) initial += event_line(watcher, type, *event.object);
    }
  }
  if (!initial.empty()) writer->write(std::move(initial));
  watcher.after_rv = std::max(watcher.after_rv, resource_version_);
  double timeout_seconds = static_cast<double>(options_.default_watch_timeout.count());
  if (auto text = request.param("timeoutSeconds")) {
    try {
      timeout_seconds = std::stod(*text);
    } catch (const std::exception&) {
    }
  }
  const std::uint64_t id = watcher.id;
  watcher.timeout = std::make_unique<asio::steady_timer>(strand_);
  watcher.timeout->expires_after(std::chrono::milliseconds(static_cast<std::int64_t>(timeout_seconds * 1000)));
  watcher.timeout->async_wait([self = shared_from_this(), id](boost::system::error_code ec) {
    if (!ec) self->end_watch(id, true);
  });
  writer->on_close([self = shared_from_this(), id] {
    asio::post(self->strand_, [self, id] {
      auto it = self->watchers_.find(id);
      if (it == self->watchers_.end()) return;
      if (it->second.timeout) it->second.timeout->cancel();
      self->watchers_.erase(it);
    });
  });
  watchers_.emplace(id, std::move(watcher));
}

void SimulatorImpl::publish(const HistoryEvent& event) {
  for (auto& entry : watchers_) {
    Watcher& watcher = entry.second;
    if (event.resource_version <= watcher.after_rv) continue;
    auto matches = [&](const json::object& object) {
      if (watcher.namespace_name && event.namespace_name != *watcher.namespace_name) return false;
      return watcher.labels.matches(labels_of(object)) && watcher.fields.matches(fields_of(object));
    };
    const bool now_match = matches(*event.object);
    const bool was_match = event.previous && matches(*event.previous);
    const std::string type = type_seen_by_watch(event.type, now_match, was_match);
    watcher.after_rv = event.resource_version;
    if (!type.empty()) watcher.writer->write(event_line(watcher, type, *event.object));
  }
}

void SimulatorImpl::end_watch(std::uint64_t id, bool bookmark_first) {
  auto it = watchers_.find(id);
  if (it == watchers_.end()) return;
  Watcher& watcher = it->second;
  if (bookmark_first && watcher.bookmarks && !watcher.table) {
    watcher.writer->write(json::serialize(json::object{
                              {"type", "BOOKMARK"},
                              {"object", json::object{{"kind", "Pod"}, {"apiVersion", "v1"},
                                                      {"metadata", json::object{{"resourceVersion",
                                                                                 std::to_string(resource_version_)}}}}}}) +
                          "\n");
  }
  watcher.writer->end();
  if (watcher.timeout) watcher.timeout->cancel();
  watchers_.erase(it);
}

void SimulatorImpl::arm_bookmarks() {
  if (stopped_) return;
  bookmark_timer_.expires_after(options_.bookmark_interval);
  bookmark_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;
    self->send_bookmarks();
    self->arm_bookmarks();
  });
}

void SimulatorImpl::send_bookmarks() {
  const std::string line =
      json::serialize(json::object{
          {"type", "BOOKMARK"},
          {"object", json::object{{"kind", "Pod"}, {"apiVersion", "v1"},
                                  {"metadata", json::object{{"resourceVersion", std::to_string(resource_version_)}}}}}}) +
      "\n";
  for (auto& [id, watcher] : watchers_) {
    if (watcher.bookmarks && !watcher.table) watcher.writer->write(line);
  }
}

void SimulatorImpl::drop_watches(bool expire) {
  for (auto& [id, watcher] : watchers_) {
    if (watcher.timeout) watcher.timeout->cancel();
    if (expire) {
      ApiError gone{410, "Expired",
                    "too old resource version: " + std::to_string(watcher.after_rv) + " (" +
                        std::to_string(resource_version_) + ")",
                    {}};
      watcher.writer->write(json::serialize(json::object{{"type", "ERROR"}, {"object", status_object(gone)}}) + "\n");
      watcher.writer->end();
    } else {
      watcher.writer->abort();
    }
  }
  watchers_.clear();
}

// ---- administration -----------------------------------------------------------------------

std::string SimulatorImpl::user_of(const net::HttpRequest& request) const {
  if (!request.client_cert_subject.empty()) return common_name(request.client_cert_subject);
  if (options_.token.empty()) return "system:anonymous";
  if (!options_.token_user.empty()) return options_.token_user;
  if (options_.rbac_role && !options_.rbac_role->subjects.empty()) return options_.rbac_role->subjects.front();
  return "admin";
}

void SimulatorImpl::serve_admin(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer) {
  const sim_common::AdminRequest admin(request);
  const sim_common::SharedAdmin shared{
      requests_, agenda_, faults_, "simTime",
      [this](const sim_common::AdminRequest& faults_request, const sim_common::FaultUpdate& update) {
        if (update.reset) expired_as_event_ = false;
        const json::object& body = faults_request.body();
        if (auto it = body.find("expired_as_event"); it != body.end() && it->value().is_bool()) {
          expired_as_event_ = it->value().as_bool();
        }
        if (faults_request.flag("compact")) {
          compacted_ = resource_version_;
          history_.clear();
        }
        if (faults_request.flag("expire_watches")) drop_watches(true);
        if (faults_request.flag("drop_watches")) drop_watches(false);
        if (update.down_for) go_down(*update.down_for);
      },
      [this](json::object& described) {
        described["expired_as_event"] = expired_as_event_;
        described["compactedResourceVersion"] = std::to_string(compacted_);
      }};
  if (auto response = sim_common::serve_shared_admin(admin, shared)) return writer->respond(std::move(*response));
  const auto& parts = admin.parts();  // "sim", ...
  const json::object& body = admin.body();
  auto reply = [&](const Status& status, json::object extra = {}) {
    writer->respond(sim_common::admin_reply(status, std::move(extra)));
  };
  auto text = [&](const char* key, const std::string& fallback = {}) {
    auto it = body.find(key);
    if (it == body.end()) return fallback;
    if (it->value().is_string()) return std::string(it->value().as_string());
    return json::serialize(it->value());
  };
  auto string_map = [&](const char* key) {
    std::map<std::string, std::string> out;
    auto it = body.find(key);
    if (it == body.end() || !it->value().is_object()) return out;
    for (const auto& [k, v] : it->value().as_object()) {
      out[std::string(k)] = v.is_string() ? std::string(v.as_string()) : json::serialize(v);
    }
    return out;
  };
  const std::string& method = request.method;
  if (parts.size() == 2 && parts[1] == "state" && method == "GET") {
    return writer->respond(sim_common::admin_json(200, state_document()));
  }
  if (parts.size() == 2 && parts[1] == "nodes" && method == "POST") {
    NodeSpec spec;
    spec.name = text("name");
    spec.cpu = text("cpu", spec.cpu);
    spec.memory = text("memory", spec.memory);
    spec.gpu = text("gpu", spec.gpu);
    spec.labels = string_map("labels");
    if (auto it = body.find("maxPods"); it != body.end() && it->value().is_int64()) {
      spec.max_pods = static_cast<int>(it->value().as_int64());
    }
    return reply(add_node(spec));
  }
  if (parts.size() == 4 && parts[1] == "nodes" && method == "POST" && parts[3] == "kill") {
    return reply(kill_node(parts[2], text("mode", "fail")));
  }
  if (parts.size() == 4 && parts[1] == "nodes" && method == "POST" && parts[3] == "restore") {
    return reply(restore_node(parts[2]));
  }
  if (parts.size() == 2 && parts[1] == "quotas" && method == "POST") {
    QuotaSpec spec;
    spec.namespace_name = text("namespace");
    spec.name = text("name");
    spec.hard = string_map("hard");
    return reply(add_quota(spec));
  }
  if (parts.size() == 4 && parts[1] == "quotas" && method == "DELETE") return reply(remove_quota(parts[2], parts[3]));
  if (parts.size() == 5 && parts[1] == "pods" && method == "POST" && parts[4] == "evict") {
    return reply(evict_pod_kubelet(parts[2], parts[3]));
  }
  if (parts.size() == 5 && parts[1] == "pods" && method == "POST" && parts[4] == "exit") {
    int code = 0;
    if (auto it = body.find("code"); it != body.end() && it->value().is_int64()) code = static_cast<int>(it->value().as_int64());
    return reply(exit_pod(parts[2], parts[3], code, admin.flag("oom")));
  }
  writer->respond(sim_common::unknown_admin_endpoint(request));
}

// ---- Simulator --------------------------------------------------------------------------

Simulator::Simulator(asio::any_io_executor executor, SimulatorOptions options)
    : impl_(std::make_shared<SimulatorImpl>(std::move(executor), std::move(options))) {}

Simulator::~Simulator() { impl_->stop(); }

Status Simulator::start() { return impl_->start(); }
void Simulator::stop() { impl_->stop(); }
std::string Simulator::address() const {
  std::lock_guard lock(impl_->server_mutex_);
  return impl_->address_;
}
std::uint16_t Simulator::port() const {
  std::lock_guard lock(impl_->server_mutex_);
  return impl_->port_;
}

}  // namespace berth::sim::kubernetes
