// The HTTP front of the simulator: the two masters' servers (leader and standby), basic
// authentication, fault injection, and POST /api/v1/scheduler with the checks in the order a
// master makes them (leader, method, Content-Type, JSON, Call conversion, validation, Accept,
// framework, subscription, stream id) before a call reaches master.cc or tasks.cc.

#include <boost/asio/post.hpp>
#include <algorithm>
#include <iostream>

#include "sim/mesos/internal.h"

namespace berth::sim::mesos {
namespace asio = boost::asio;
namespace {

constexpr const char* kSchedulerPath = "/api/v1/scheduler";

net::HttpResponse text_response(int code, const std::string& body) {
  net::HttpResponse response;
  response.status = code;
  if (!body.empty()) response.headers["content-type"] = "text/plain; charset=utf-8";
  response.body = body;
  return response;
}

const std::vector<std::string>& call_types() {
  static const std::vector<std::string> kTypes = {
      "SUBSCRIBE", "TEARDOWN",  "ACCEPT",  "DECLINE",   "ACCEPT_INVERSE_OFFERS", "DECLINE_INVERSE_OFFERS",
      "REVIVE",    "KILL",      "SHUTDOWN", "ACKNOWLEDGE", "ACKNOWLEDGE_OPERATION_STATUS", "RECONCILE",
      "RECONCILE_OPERATIONS", "MESSAGE", "REQUEST", "SUPPRESS", "UPDATE_FRAMEWORK"};
  return kTypes;
}

// The payload field of a call type: "ACKNOWLEDGE_OPERATION_STATUS" -> "acknowledge_operation_status".
std::string payload_field(const std::string& type) {
  std::string out = type;
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool has_object(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  return value && value->is_object();
}

bool has_id(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  return value && value->is_object() && value->as_object().contains("value") &&
         value->as_object().at("value").is_string();
}

// The proto2 required fields a JSON Call must carry to convert into a Call protobuf, named as
// protobuf's InitializationErrorString names them ("subscribe.framework_info.user").
std::vector<std::string> missing_required_fields(const json::object& call) {
  std::vector<std::string> missing;
  auto id_field = [&](const json::object& object, const char* key, const std::string& path) {
    const auto* value = object.if_contains(key);
    if (value && value->is_object() && !value->as_object().contains("value")) missing.push_back(path + ".value");
  };
  auto require = [&](const json::object& object, const char* key, const std::string& path) {
    if (!object.contains(key)) missing.push_back(path);
  };
  id_field(call, "framework_id", "framework_id");
  if (has_object(call, "subscribe")) {
    const auto& subscribe = call.at("subscribe").as_object();
    if (has_object(subscribe, "framework_info")) {
      const auto& info = subscribe.at("framework_info").as_object();
      require(info, "user", "subscribe.framework_info.user");
      require(info, "name", "subscribe.framework_info.name");
    } else {
      missing.push_back("subscribe.framework_info");
    }
  }
  if (has_object(call, "accept")) {
    const auto& accept = call.at("accept").as_object();
    if (const auto* operations = accept.if_contains("operations"); operations && operations->is_array()) {
      for (std::size_t i = 0; i < operations->as_array().size(); ++i) {
        const auto& op = operations->as_array()[i];
        if (!op.is_object()) continue;
        const std::string base = "accept.operations[" + std::to_string(i) + "]";
        auto tasks_at = [&](const json::value* tasks, const std::string& path) {
          if (!tasks || !tasks->is_array()) return;
          for (std::size_t j = 0; j < tasks->as_array().size(); ++j) {
            if (!tasks->as_array()[j].is_object()) continue;
            const auto& task = tasks->as_array()[j].as_object();
            const std::string at = path + "[" + std::to_string(j) + "]";
            require(task, "name", at + ".name");
            require(task, "task_id", at + ".task_id");
            require(task, "agent_id", at + ".agent_id");
          }
        };
        if (has_object(op.as_object(), "launch")) {
          tasks_at(op.as_object().at("launch").as_object().if_contains("task_infos"), base + ".launch.task_infos");
        }
        if (has_object(op.as_object(), "launch_group")) {
          const auto& group = op.as_object().at("launch_group").as_object();
          require(group, "executor", base + ".launch_group.executor");
          require(group, "task_group", base + ".launch_group.task_group");
          if (has_object(group, "task_group")) {
            tasks_at(group.at("task_group").as_object().if_contains("tasks"), base + ".launch_group.task_group.tasks");
          }
        }
      }
    }
  }
  if (has_object(call, "kill")) require(call.at("kill").as_object(), "task_id", "kill.task_id");
  if (has_object(call, "acknowledge")) {
    const auto& ack = call.at("acknowledge").as_object();
    require(ack, "agent_id", "acknowledge.agent_id");
    require(ack, "task_id", "acknowledge.task_id");
    require(ack, "uuid", "acknowledge.uuid");
  }
  if (has_object(call, "reconcile")) {
    if (const auto* tasks = call.at("reconcile").as_object().if_contains("tasks"); tasks && tasks->is_array()) {
      for (std::size_t i = 0; i < tasks->as_array().size(); ++i) {
        if (tasks->as_array()[i].is_object()) {
          require(tasks->as_array()[i].as_object(), "task_id", "reconcile.tasks[" + std::to_string(i) + "].task_id");
        }
      }
    }
  }
  return missing;
}

// Whether an Accept header allows `type` ("application/json"): absent = anything.
bool accepts(const std::optional<std::string>& header, const std::string& type) {
  if (!header || header->empty()) return true;
  const std::string family = type.substr(0, type.find('/')) + "/*";
  std::size_t start = 0;
  while (start <= header->size()) {
    auto comma = header->find(',', start);
    std::string item = header->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? header->size() + 1 : comma + 1;
    std::string media = item.substr(0, item.find(';'));
    media.erase(0, media.find_first_not_of(" \t"));
    media.erase(media.find_last_not_of(" \t") + 1);
    bool zero = false;
    if (auto q = item.find("q="); q != std::string::npos) {
      try {
        zero = std::stod(item.substr(q + 2)) <= 0;
      } catch (const std::exception&) {
      }
    }
    if (!zero && (media == type || media == family || media == "*/*")) return true;
  }
  return false;
}

}  // namespace

// ---- lifecycle ----------------------------------------------------------------------------

SimulatorImpl::SimulatorImpl(asio::any_io_executor executor, SimulatorOptions options)
    : executor_(executor),
      strand_(asio::make_strand(executor)),
      options_(std::move(options)),
      agenda_(strand_, sim_common::SimClock(options_.time_scale)),
      outage_(strand_),
      rng_(options_.seed) {
  has_standby_ = !options_.standby_listen.empty();
}

Status SimulatorImpl::start() {
  agenda_.clock().start();
  master_id_ = new_uuid();
  for (const auto& rule : options_.behaviours) behaviours_.emplace_back(rule.match, rule.labels);
  std::vector<AgentSpec> specs = options_.agent_specs;
  if (specs.empty()) {
    for (int i = 1; i <= options_.agents; ++i) {
      AgentSpec spec;
      spec.hostname = "sim-agent-" + std::to_string(i);
      spec.attributes["rack"] = "r" + std::to_string((i - 1) % 2 + 1);
      specs.push_back(spec);
    }
  }
  for (const auto& spec : specs) {
    if (Status s = add_agent(spec); !s.ok()) return s;
  }
  if (Status s = bring_up(0); !s.ok()) return s;
  if (has_standby_) {
    if (Status s = bring_up(1); !s.ok()) return s;
  }
  return Status::Ok();
}

Status SimulatorImpl::bring_up(int master) {
  net::HttpServerOptions server_options;
  {
    std::lock_guard lock(server_mutex_);
    server_options.listen = !addresses_[master].empty() ? addresses_[master]
                            : master == 0               ? options_.listen
                                                        : options_.standby_listen;
  }
  server_options.tls_cert_file = options_.tls_cert_file;
  server_options.tls_key_file = options_.tls_key_file;
  std::weak_ptr<SimulatorImpl> weak = shared_from_this();
  auto server = std::make_unique<net::HttpServer>(
      executor_, server_options,
      [weak, master](net::HttpRequest request, std::shared_ptr<net::ResponseWriter> writer) {
        auto self = weak.lock();
        if (!self) return;
        asio::post(self->strand_, [self, master, request = std::move(request), writer = std::move(writer)]() mutable {
          self->handle(master, std::move(request), std::move(writer));
        });
      });
  if (Status s = server->start(); !s.ok()) return s;
  std::lock_guard lock(server_mutex_);
  addresses_[master] = server->address();
  ports_[master] = server->port();
  servers_[master] = std::move(server);
  return Status::Ok();
}

void SimulatorImpl::stop() {
  {
    std::lock_guard lock(server_mutex_);
    for (auto& server : servers_) {
      if (server) server->stop();
    }
  }
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->agenda_.stop();
    self->outage_.stop();
    for (auto& [id, framework] : self->frameworks_) {
      if (framework.heartbeat) framework.heartbeat->cancel();
      framework.stream.reset();
    }
  });
}

void SimulatorImpl::go_down(std::chrono::milliseconds duration) {
  // Every master refuses connections for `duration` and the subscriptions break.
  auto self = shared_from_this();
  outage_.begin(
      duration,
      [self] {
        {
          std::lock_guard lock(self->server_mutex_);
          for (auto& server : self->servers_) {
            if (server) server->stop();
          }
        }
        for (auto& [id, framework] : self->frameworks_) {
          if (framework.connected) self->disconnect(framework, true);
        }
      },
      [self] {
        for (int master = 0; master < (self->has_standby_ ? 2 : 1); ++master) {
          if (Status s = self->bring_up(master); !s.ok()) {
            std::cerr << "berth-sim: cannot come back up: " << s.message() << "\n";
          }
        }
      });
}

void SimulatorImpl::swap_leader() {
  // A leader change is a master failover: every subscription breaks, offers vanish, stream ids
  // die with the old leader; tasks keep running on the agents.
  leader_ = 1 - leader_;
  master_id_ = new_uuid();
  drop_streams();
}

void SimulatorImpl::drop_streams() {
  for (auto& [id, framework] : frameworks_) {
    if (framework.connected) disconnect(framework, true);
  }
}

namespace {

// The route a request is counted under: the scheduler endpoint with the call's type
// ("/api/v1/scheduler KILL"; UNKNOWN for a type Mesos does not define, nothing when the body
// names none), the redirect endpoints, or "{other}".
std::string route_of(const net::HttpRequest& request) {
  const std::string& path = request.path;
  if (path == "/master/redirect" || path == "/redirect") return path;
  if (path != kSchedulerPath) return "{other}";
  boost::system::error_code ec;
  const json::value call = json::parse(request.body, ec);
  const json::value* type = !ec && call.is_object() ? call.as_object().if_contains("type") : nullptr;
  if (type == nullptr || !type->is_string()) return kSchedulerPath;
  const std::string name(type->as_string());
  const bool known = std::find(call_types().begin(), call_types().end(), name) != call_types().end();
  return std::string(kSchedulerPath) + " " + (known ? name : "UNKNOWN");
}

}  // namespace

// ---- dispatch -----------------------------------------------------------------------------

void SimulatorImpl::handle(int master, net::HttpRequest request, std::shared_ptr<net::ResponseWriter> writer) {
  if (stopped_) {
    writer->abort();
    return;
  }
  const bool admin = sim_common::is_admin_path(request.path);
  if (!admin) requests_.count(request.method, route_of(request));
  sim_common::after_latency(strand_, admin ? std::chrono::milliseconds(0) : faults_.latency(),
                             [self = shared_from_this(), master, request = std::move(request), writer]() mutable {
                               self->serve_guarded(master, request, writer);
                             });
}

void SimulatorImpl::serve_guarded(int master, net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer) {
  // A body of an unexpected shape must not take the simulator down: the request fails alone.
  try {
    serve(master, request, writer);
  } catch (const std::exception& e) {
    writer->respond(text_response(500, std::string("berth-sim: internal error: ") + e.what()));
  }
}

std::optional<std::string> SimulatorImpl::authenticate(const net::HttpRequest& request) const {
  if (options_.principal.empty()) return std::string();
  const auto header = request.header("authorization");
  if (!header || header->rfind("Basic ", 0) != 0) return std::nullopt;
  const auto decoded = base64_decode(header->substr(6));
  if (!decoded || *decoded != options_.principal + ":" + options_.secret) return std::nullopt;
  return options_.principal;
}

void SimulatorImpl::serve(int master, net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer) {
  const auto principal = authenticate(request);
  if (!principal) {
    auto response = text_response(401, "");
    response.headers["www-authenticate"] = "Basic realm=\"mesos-master-scheduler\"";
    return writer->respond(std::move(response));
  }
  const std::string& path = request.path;
  if (path == "/sim" || path.rfind("/sim/", 0) == 0) return serve_admin(request, writer);
  std::string leader;
  {
    std::lock_guard lock(server_mutex_);
    leader = addresses_[leader_];
  }
  if (path == "/master/redirect" || path == "/redirect") {
    if (no_leader_) return writer->respond(text_response(503, "No leader elected"));
    auto response = text_response(307, "");
    response.headers["location"] = "//" + leader;
    return writer->respond(std::move(response));
  }
  if (path != kSchedulerPath) return writer->respond(text_response(404, ""));
  if (no_leader_) return writer->respond(text_response(503, "No leader elected"));
  if (master != leader_) {
    auto response = text_response(307, "");
    response.headers["location"] = "//" + leader + kSchedulerPath;
    return writer->respond(std::move(response));
  }
  if (request.method != "POST") {
    auto response = text_response(405, "Expecting one of { 'POST' }, but received '" + request.method + "'");
    response.headers["allow"] = "POST";
    return writer->respond(std::move(response));
  }
  serve_call(request, writer, *principal);
}

void SimulatorImpl::serve_call(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer,
                               const std::string& principal) {
  auto bad = [&](const std::string& message) { writer->respond(text_response(400, message)); };
  auto invalid = [&](const std::string& message) { bad("Failed to validate scheduler::Call: " + message); };
  const auto content_type = request.header("content-type");
  if (!content_type) return bad("Expecting 'Content-Type' to be present");
  if (*content_type == kProtobuf) {
    // The simulator decodes JSON only; a protobuf client is told so rather than misread.
    return writer->respond(text_response(
        415, "Expecting 'Content-Type' of application/json (berth-sim does not decode application/x-protobuf)"));
  }
  if (*content_type != kJson) {
    return writer->respond(
        text_response(415, std::string("Expecting 'Content-Type' of ") + kJson + " or " + kProtobuf));
  }
  boost::system::error_code ec;
  json::value parsed = json::parse(request.body, ec);
  if (ec) return bad("Failed to parse body into JSON: " + ec.message());
  if (!parsed.is_object()) return bad("Failed to convert JSON into Call protobuf: Expecting a JSON object");
  json::object& call = parsed.as_object();

  std::string type;
  if (const auto* value = call.if_contains("type")) {
    if (!value->is_string()) {
      return bad("Failed to convert JSON into Call protobuf: Not expecting a JSON " +
                 std::string(value->is_number() ? "number" : "value") + " for field 'type'");
    }
    type = std::string(value->as_string());
    if (std::find(call_types().begin(), call_types().end(), type) == call_types().end()) type = "UNKNOWN";
  }
  if (const auto* value = call.if_contains("framework_id"); value && !value->is_object()) {
    return bad("Failed to convert JSON into Call protobuf: Expecting a JSON object for field 'framework_id'");
  }
  if (auto missing = missing_required_fields(call); !missing.empty()) {
    std::string list;
    for (const auto& field : missing) list += (list.empty() ? "" : ", ") + field;
    return bad("Failed to convert JSON into Call protobuf: Missing required fields: " + list);
  }
  if (type.empty()) return invalid("Expecting 'type' to be present");

  const std::string framework_id = string_at(call, {"framework_id", "value"});
  if (type == "SUBSCRIBE") {
    if (!has_object(call, "subscribe")) return invalid("Expecting 'subscribe' to be present");
    const auto& info = call.at("subscribe").as_object().at("framework_info").as_object();
    const std::string info_id = string_at(info, {"id", "value"});
    if (info_id != framework_id) return invalid("'framework_id' differs from 'subscribe.framework_info.id'");
    const std::string info_principal = string_at(info, {"principal"});
    if (!principal.empty() && !info_principal.empty() && info_principal != principal) {
      return invalid("Authenticated principal '" + principal + "' does not match principal '" + info_principal +
                     "' set in `FrameworkInfo`");
    }
  } else {
    if (!has_id(call, "framework_id")) return invalid("Expecting 'framework_id' to be present");
    static const std::set<std::string> kNoPayload = {"TEARDOWN", "REVIVE", "SUPPRESS", "UNKNOWN"};
    if (!kNoPayload.count(type) && !has_object(call, payload_field(type).c_str())) {
      return invalid("Expecting '" + payload_field(type) + "' to be present");
    }
    if (type == "ACKNOWLEDGE") {
      const auto uuid = base64_decode(string_at(call, {"acknowledge", "uuid"}));
      if (!uuid || uuid->size() != 16) return invalid("Not a valid UUID");
    }
  }

  if (auto code = faults_.draw(type, rng_)) {
    const std::string body = *code == 503 ? "Master has not finished recovery" : "berth-sim: injected fault";
    return writer->respond(text_response(*code, body));
  }

  if (type == "SUBSCRIBE") {
    const auto accept = request.header("accept");
    if (!accepts(accept, kJson)) {
      if (accepts(accept, kProtobuf)) {
        return writer->respond(text_response(406, "Expecting 'Accept' to allow 'application/json' "
                                                  "(berth-sim does not encode application/x-protobuf)"));
      }
      return writer->respond(text_response(
          406, std::string("Expecting 'Accept' to allow '") + kProtobuf + "' or '" + kJson + "'"));
    }
    if (request.header("mesos-stream-id")) return bad("Subscribe calls should not include the 'Mesos-Stream-Id' header");
    return subscribe(call, principal, writer);
  }

  auto it = frameworks_.find(framework_id);
  if (it == frameworks_.end() || it->second.removed) return bad("Framework cannot be found");
  Framework& framework = it->second;
  if (!principal.empty() && framework.principal != principal) {
    return bad("Authenticated principal '" + principal + "' does not match principal '" + framework.principal +
               "' used to subscribe");
  }
  if (!framework.connected) return writer->respond(text_response(403, "Framework is not subscribed"));
  const auto stream_id = request.header("mesos-stream-id");
  if (!stream_id) return bad("All non-subscribe calls should include the 'Mesos-Stream-Id' header");
  if (*stream_id != framework.stream_id) {
    return bad("The stream ID '" + *stream_id +
               "' included in this request didn't match the stream ID currently associated with framework ID " +
               framework.id);
  }

  if (type == "UNKNOWN") return writer->respond(text_response(501, ""));
  if (type == "UPDATE_FRAMEWORK") {
    const auto* update = call.at("update_framework").as_object().if_contains("framework_info");
    if (!update || !update->is_object()) return invalid("Expecting 'framework_info' to be present");
    const auto& info = update->as_object();
    if (string_at(info, {"id", "value"}) != framework.id) {
      return writer->respond(text_response(400, "'framework_id' differs from 'framework_info.id'"));
    }
    if (info.contains("principal") && string_at(info, {"principal"}) != framework.principal) {
      return writer->respond(text_response(400, "Changing framework's principal is not allowed"));
    }
    if (const auto* name = info.if_contains("name"); name && name->is_string()) framework.name = name->as_string();
    if (const auto* timeout = info.if_contains("failover_timeout"); timeout && timeout->is_number()) {
      framework.failover_timeout = timeout->to_number<double>();
    }
    if (const auto* roles = info.if_contains("roles"); roles && roles->is_array() && framework.has("MULTI_ROLE")) {
      framework.roles.clear();
      for (const auto& role : roles->as_array()) {
        if (role.is_string()) framework.roles.insert(std::string(role.as_string()));
      }
    }
    framework.suppressed_roles.clear();
    if (const auto* suppressed = call.at("update_framework").as_object().if_contains("suppressed_roles");
        suppressed && suppressed->is_array()) {
      for (const auto& role : suppressed->as_array()) {
        if (role.is_string()) framework.suppressed_roles.insert(std::string(role.as_string()));
      }
    }
    schedule_allocation();
    return writer->respond(text_response(200, ""));
  }

  writer->respond(text_response(202, ""));
  const std::string field = payload_field(type);
  const json::object empty;
  const json::object& payload = has_object(call, field.c_str()) ? call.at(field).as_object() : empty;
  if (type == "TEARDOWN") return remove_framework(framework, "");
  if (type == "ACCEPT") return accept(framework, payload);
  if (type == "DECLINE") return decline(framework, payload);
  if (type == "REVIVE") return revive(framework, payload);
  if (type == "SUPPRESS") return suppress(framework, payload);
  if (type == "KILL") return kill(framework, payload);
  if (type == "ACKNOWLEDGE") return acknowledge(framework, payload);
  if (type == "RECONCILE") return reconcile(framework, payload);
  // SHUTDOWN, MESSAGE, REQUEST, inverse offers and operation calls: accepted; nothing simulated
  // answers them (no custom executors, no maintenance, no offer operations but LAUNCH*).
}

}  // namespace berth::sim::mesos
