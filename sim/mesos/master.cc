// The master half of the simulator: the simulated clock, frameworks and their subscriptions
// (SUBSCRIBED, heartbeats, failover, disconnection, teardown), and the allocator: offers per
// agent and role to subscribed frameworks, fewest allocated cpus first, with filters, SUPPRESS and
// REVIVE; ACCEPT and DECLINE.

#include <boost/asio/post.hpp>
#include <algorithm>
#include <cmath>
#include <regex>

#include "sim/mesos/internal.h"

namespace berth::sim::mesos {
namespace asio = boost::asio;

// ---- helpers shared by the parts ----------------------------------------------------------

std::string string_at(const json::value& value, std::initializer_list<const char*> path) {
  const json::value* current = &value;
  for (const char* key : path) {
    if (!current->is_object()) return {};
    current = current->as_object().if_contains(key);
    if (!current) return {};
  }
  if (current->is_string()) return std::string(current->as_string());
  return {};
}

json::object id_object(const std::string& value) { return json::object{{"value", value}}; }

bool is_terminal_state(const std::string& state) {
  return state == "TASK_FINISHED" || state == "TASK_FAILED" || state == "TASK_KILLED" || state == "TASK_ERROR" ||
         state == "TASK_LOST" || state == "TASK_DROPPED" || state == "TASK_GONE" || state == "TASK_GONE_BY_OPERATOR";
}

bool Task::terminal() const { return is_terminal_state(state); }

namespace {
const char* kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string base64_encode(const std::string& bytes) {
  std::string out;
  int value = 0;
  int bits = -6;
  for (unsigned char c : bytes) {
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

std::optional<std::string> base64_decode(const std::string& text) {
  std::string out;
  int value = 0;
  int bits = -8;
  for (char c : text) {
    if (c == '=') break;
    const char* p = c == '\0' ? nullptr : std::strchr(kBase64, c);
    if (!p) return std::nullopt;
    value = ((value << 6) + static_cast<int>(p - kBase64)) & 0xFFFFFF;
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

std::optional<double> parse_duration(const std::string& text) {
  static const std::regex kPattern("\\s*([0-9]+(\\.[0-9]+)?)\\s*(ms|s|m|h)?\\s*");
  std::smatch match;
  if (!std::regex_match(text, match, kPattern)) return std::nullopt;
  double value = std::stod(match[1].str());
  const std::string unit = match[3].str();
  if (unit == "ms") value /= 1000;
  if (unit == "m") value *= 60;
  if (unit == "h") value *= 3600;
  return value;
}

std::string record(const json::object& event) {
  std::string body = json::serialize(event);
  return std::to_string(body.size()) + "\n" + body;
}

// ---- time and ids -------------------------------------------------------------------------

double SimulatorImpl::now() const { return agenda_.now(); }

double SimulatorImpl::unix_time() const { return agenda_.clock().unix_seconds(now()); }

void SimulatorImpl::after(double sim_delay, std::function<void()> action) { agenda_.after(sim_delay, std::move(action)); }

void SimulatorImpl::advance(double sim_seconds) { agenda_.advance(sim_seconds); }

std::string SimulatorImpl::new_uuid() {
  static const char* kHex = "0123456789abcdef";
  std::string uuid;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) uuid += '-';
    uuid += kHex[i == 12 ? 4 : i == 16 ? 8 + rng_() % 4 : rng_() % 16];
  }
  return uuid;
}

std::string SimulatorImpl::new_uuid_base64() {
  std::string bytes(16, '\0');
  for (auto& byte : bytes) byte = static_cast<char>(rng_() & 0xFF);
  return base64_encode(bytes);
}

// ---- subscriptions ------------------------------------------------------------------------

namespace {

// Role names as Mesos validates them (roles.cpp): non-empty, not "." or "..", no leading '-',
// no whitespace, slashes only between path components.
std::optional<std::string> invalid_role(const std::string& role) {
  if (role == "*") return std::nullopt;
  if (role.empty()) return "Role name cannot be empty";
  if (role == "." || role == "..") return "Role name '" + role + "' is disallowed";
  if (role[0] == '-') return "Role '" + role + "' cannot start with '-'";
  if (role.find_first_of(" \t\n\\") != std::string::npos) return "Role '" + role + "' cannot contain whitespace or '\\'";
  if (role.front() == '/' || role.back() == '/' || role.find("//") != std::string::npos) {
    return "Role '" + role + "' has an empty path component";
  }
  return std::nullopt;
}

std::set<std::string> string_set(const json::value* array) {
  std::set<std::string> out;
  if (!array || !array->is_array()) return out;
  for (const auto& item : array->as_array()) {
    if (item.is_string()) out.insert(std::string(item.as_string()));
  }
  return out;
}

}  // namespace

void SimulatorImpl::subscribe(const json::object& call, const std::string& principal,
                              std::shared_ptr<net::ResponseWriter> writer) {
  const auto& subscribe = call.at("subscribe").as_object();
  json::object info = subscribe.at("framework_info").as_object();
  std::string id = string_at(info, {"id", "value"});
  if (!principal.empty() && !info.contains("principal")) info["principal"] = principal;

  std::set<std::string> capabilities;
  if (const auto* list = info.if_contains("capabilities"); list && list->is_array()) {
    for (const auto& capability : list->as_array()) {
      const std::string type = string_at(capability, {"type"});
      if (!type.empty()) capabilities.insert(type);
    }
  }
  const bool multi_role = capabilities.count("MULTI_ROLE") > 0;
  std::set<std::string> roles;
  std::string error;
  if (multi_role) {
    if (info.contains("role")) error = "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable";
    roles = string_set(info.if_contains("roles"));
  } else {
    if (info.contains("roles")) {
      error = "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable";
    }
    const std::string role = string_at(info, {"role"});
    roles.insert(role.empty() ? "*" : role);
  }
  for (const auto& role : roles) {
    if (error.empty()) {
      if (auto why = invalid_role(role)) error = *why;
    }
  }
  const std::string info_principal = string_at(info, {"principal"});
  auto existing = id.empty() ? frameworks_.end() : frameworks_.find(id);
  if (existing != frameworks_.end()) {
    if (existing->second.removed) {
      error = "Framework has been removed";
    } else if (error.empty() && existing->second.principal != info_principal) {
      error = "Changing framework's principal is not allowed.";
    }
  }

  const std::string stream_id = new_uuid();
  writer->start_stream(200, {{"content-type", kJson}, {"mesos-stream-id", stream_id}, {"cache-control", "no-cache"}});
  if (!error.empty()) {
    // Semantic problems are not 4xx: the stream opens, carries one ERROR and closes.
    writer->write(record(json::object{{"type", "ERROR"}, {"error", json::object{{"message", error}}}}));
    writer->end();
    return;
  }

  if (id.empty()) {
    char suffix[8];
    std::snprintf(suffix, sizeof(suffix), "-%04d", next_framework_++);
    id = master_id_ + suffix;
    info["id"] = id_object(id);
  }
  Framework& framework = frameworks_[id];
  if (framework.connected) {
    // Only one subscription per framework id: the old stream learns why it ends.
    send_event(framework, json::object{{"type", "ERROR"}, {"error", json::object{{"message", "Framework failed over"}}}});
    if (framework.stream) framework.stream->end();
    framework.stream.reset();
    framework.connected = false;
  }
  drop_offers_of(framework);
  framework.id = id;
  framework.info = info;
  framework.name = string_at(info, {"name"});
  framework.principal = info_principal;
  framework.capabilities = std::move(capabilities);
  framework.roles = std::move(roles);
  framework.failover_timeout = 0;
  if (const auto* timeout = info.if_contains("failover_timeout"); timeout && timeout->is_number()) {
    framework.failover_timeout = std::max(0.0, timeout->to_number<double>());
  }
  framework.suppressed_roles = string_set(subscribe.if_contains("suppressed_roles"));
  framework.connected = true;
  framework.stream_id = stream_id;
  framework.stream = writer;
  const std::uint64_t epoch = ++framework.epoch;

  std::string host = "127.0.0.1";
  int port = 0;
  {
    std::lock_guard lock(server_mutex_);
    const std::string& address = addresses_[leader_];
    host = address.substr(0, address.rfind(':'));
    port = ports_[leader_];
  }
  const double heartbeat = std::chrono::duration<double>(options_.heartbeat_interval).count();
  send_event(framework,
             json::object{{"type", "SUBSCRIBED"},
                          {"subscribed",
                           json::object{{"framework_id", id_object(id)},
                                        {"heartbeat_interval_seconds", heartbeat},
                                        {"master_info",
                                         json::object{{"id", master_id_},
                                                      {"ip", 16777343},  // 127.0.0.1 in network byte order
                                                      {"port", port},
                                                      {"hostname", host},
                                                      {"version", "1.11.0"},
                                                      {"address", json::object{{"hostname", host},
                                                                               {"ip", host},
                                                                               {"port", port}}}}}}}});
  writer->on_close([weak = std::weak_ptr<SimulatorImpl>(shared_from_this()), id, epoch] {
    auto self = weak.lock();
    if (!self) return;
    asio::post(self->strand_, [self, id, epoch] {
      auto it = self->frameworks_.find(id);
      if (it == self->frameworks_.end() || it->second.epoch != epoch || !it->second.connected) return;
      self->disconnect(it->second, false);
    });
  });
  framework.heartbeat = std::make_unique<asio::steady_timer>(strand_);
  arm_heartbeat(id, epoch);
  resend_pending(framework);
  schedule_allocation();
}

void SimulatorImpl::arm_heartbeat(const std::string& framework_id, std::uint64_t epoch) {
  auto it = frameworks_.find(framework_id);
  if (it == frameworks_.end() || !it->second.heartbeat) return;
  it->second.heartbeat->expires_after(options_.heartbeat_interval);
  it->second.heartbeat->async_wait([self = shared_from_this(), framework_id, epoch](boost::system::error_code ec) {
    if (ec || self->stopped_) return;
    auto found = self->frameworks_.find(framework_id);
    if (found == self->frameworks_.end() || found->second.epoch != epoch || !found->second.connected) return;
    self->send_event(found->second, json::object{{"type", "HEARTBEAT"}});
    self->arm_heartbeat(framework_id, epoch);
  });
}

void SimulatorImpl::send_event(Framework& framework, const json::object& event) {
  if (framework.connected && framework.stream) framework.stream->write(record(event));
}

void SimulatorImpl::disconnect(Framework& framework, bool close_stream) {
  framework.connected = false;
  ++framework.epoch;
  if (framework.heartbeat) framework.heartbeat->cancel();
  if (close_stream && framework.stream) framework.stream->abort();
  framework.stream.reset();
  framework.stream_id.clear();
  drop_offers_of(framework);
  start_failover_timer(framework);
  schedule_allocation();
}

void SimulatorImpl::start_failover_timer(Framework& framework) {
  const std::string id = framework.id;
  const std::uint64_t epoch = framework.epoch;
  after(framework.failover_timeout, [this, id, epoch] {
    auto it = frameworks_.find(id);
    if (it == frameworks_.end() || it->second.epoch != epoch || it->second.connected || it->second.removed) return;
    remove_framework(it->second, "");
  });
}

void SimulatorImpl::remove_framework(Framework& framework, const std::string& error) {
  if (framework.connected) {
    if (!error.empty()) {
      send_event(framework, json::object{{"type", "ERROR"}, {"error", json::object{{"message", error}}}});
    }
    if (framework.stream) framework.stream->end();
  }
  framework.connected = false;
  ++framework.epoch;
  if (framework.heartbeat) framework.heartbeat->cancel();
  framework.stream.reset();
  framework.stream_id.clear();
  drop_offers_of(framework);
  kill_all_tasks(framework);
  std::erase_if(filters_, [&](const Filter& filter) { return filter.framework_id == framework.id; });
  framework.removed = true;
  schedule_allocation();
}

// ---- allocator ----------------------------------------------------------------------------

void SimulatorImpl::schedule_allocation() {
  if (allocation_pending_ || stopped_) return;
  allocation_pending_ = true;
  asio::post(strand_, [self = shared_from_this()] {
    self->allocation_pending_ = false;
    if (!self->stopped_) self->allocate();
  });
}

namespace {

// The allocator's minimum: an offer needs at least 0.01 cpus or 32 MB of memory.
bool allocatable(const Resources& resources) {
  return resources.scalar("cpus") >= 0.01 || resources.scalar("mem") >= 32;
}

}  // namespace

json::object SimulatorImpl::offer_json(const Offer& offer, const Framework& framework) const {
  const Agent& agent = agents_.at(offer.agent_id);
  return json::object{
      {"id", id_object(offer.id)},
      {"framework_id", id_object(offer.framework_id)},
      {"agent_id", id_object(offer.agent_id)},
      {"hostname", agent.spec.hostname},
      {"url", json::object{{"scheme", "http"},
                           {"address", json::object{{"hostname", agent.spec.hostname}, {"ip", agent.ip}, {"port", 5051}}},
                           {"path", "/slave(1)"}}},
      {"allocation_info", json::object{{"role", offer.role}}},
      {"resources", offer.resources.to_json(offer.role, framework.has("RESERVATION_REFINEMENT"))},
      {"attributes", agent.attributes},
      {"executor_ids", json::array{}}};
}

void SimulatorImpl::allocate() {
  const double time = now();
  std::erase_if(filters_, [&](const Filter& filter) { return filter.until <= time; });
  double cluster_cpus = 0;
  for (const auto& [id, agent] : agents_) {
    if (agent.state == "registered") cluster_cpus += agent.total.scalar("cpus");
  }
  cluster_cpus = std::max(cluster_cpus, 1.0);
  // Each framework's allocation (running tasks and outstanding offers), for fairness.
  std::map<std::string, double> allocated;
  for (const auto& [id, framework] : frameworks_) {
    double cpus = 0;
    for (const auto& [task_id, task] : framework.tasks) {
      if (!task.released) cpus += task.resources.scalar("cpus");
    }
    allocated[id] = cpus;
  }
  for (const auto& [id, offer] : offers_) allocated[offer.framework_id] += offer.resources.scalar("cpus");

  std::vector<Framework*> order;
  for (auto& [id, framework] : frameworks_) {
    if (framework.connected && !framework.removed) order.push_back(&framework);
  }
  if (order.empty()) return;
  std::map<std::string, json::array> batches;
  for (auto& entry : agents_) {
    const std::string& agent_id = entry.first;
    Agent& agent = entry.second;
    if (agent.state != "registered") continue;
    const bool gpu_agent = agent.total.scalar("gpus") > 0;
    while (true) {
      Resources available = agent.total;
      available.subtract(agent.used);
      available.subtract(agent.offered);
      if (!allocatable(available)) break;
      Framework* best = nullptr;
      std::string best_role;
      Resources best_resources;
      double best_share = 0;
      for (std::size_t i = 0; i < order.size(); ++i) {
        Framework* framework = order[(i + allocation_turn_) % order.size()];
        if (gpu_agent && !framework->has("GPU_RESOURCES")) continue;
        for (const auto& role : framework->roles) {
          if (framework->suppressed_roles.count(role)) continue;
          Resources offerable = available.offerable_to(role);
          if (!allocatable(offerable)) continue;
          const bool filtered = std::any_of(filters_.begin(), filters_.end(), [&](const Filter& filter) {
            return filter.framework_id == framework->id && filter.agent_id == agent_id && filter.role == role &&
                   filter.resources.contains(offerable);
          });
          if (filtered) continue;
          const double share = allocated[framework->id] / cluster_cpus;
          if (!best || share < best_share) {
            best = framework;
            best_role = role;
            best_resources = std::move(offerable);
            best_share = share;
          }
        }
      }
      if (!best) break;
      Offer offer{master_id_ + "-O" + std::to_string(next_offer_++), best->id, agent_id, best_role, best_resources};
      agent.offered.add(best_resources);
      allocated[best->id] += best_resources.scalar("cpus");
      batches[best->id].push_back(offer_json(offer, *best));
      offers_.emplace(offer.id, std::move(offer));
      ++allocation_turn_;
    }
  }
  for (auto& [framework_id, offers] : batches) {
    send_event(frameworks_.at(framework_id),
               json::object{{"type", "OFFERS"}, {"offers", json::object{{"offers", std::move(offers)}}}});
  }
}

void SimulatorImpl::rescind_offers_of_agent(const std::string& agent_id) {
  for (auto it = offers_.begin(); it != offers_.end();) {
    if (it->second.agent_id != agent_id) {
      ++it;
      continue;
    }
    agents_.at(agent_id).offered.subtract(it->second.resources);
    if (auto framework = frameworks_.find(it->second.framework_id); framework != frameworks_.end()) {
      send_event(framework->second,
                 json::object{{"type", "RESCIND"}, {"rescind", json::object{{"offer_id", id_object(it->first)}}}});
    }
    it = offers_.erase(it);
  }
}

void SimulatorImpl::drop_offers_of(Framework& framework) {
  for (auto it = offers_.begin(); it != offers_.end();) {
    if (it->second.framework_id != framework.id) {
      ++it;
      continue;
    }
    agents_.at(it->second.agent_id).offered.subtract(it->second.resources);
    it = offers_.erase(it);
  }
}

void SimulatorImpl::add_filter(Framework& framework, const std::string& agent_id, const std::string& role,
                               const Resources& resources, std::optional<double> refuse_seconds) {
  double seconds = refuse_seconds.value_or(5.0);
  if (seconds < 0) seconds = 5.0;
  seconds = std::min(seconds, 31'536'000.0);
  if (seconds <= 0 || resources.empty()) return;
  filters_.push_back(Filter{framework.id, agent_id, role, resources, now() + seconds});
  after(seconds, [this] { schedule_allocation(); });
}

namespace {

std::optional<double> refuse_seconds_of(const json::object& payload) {
  const auto* filters = payload.if_contains("filters");
  if (!filters || !filters->is_object()) return std::nullopt;
  const auto* refuse = filters->as_object().if_contains("refuse_seconds");
  if (!refuse || !refuse->is_number()) return std::nullopt;
  return refuse->to_number<double>();
}

std::vector<std::string> offer_ids_of(const json::object& payload) {
  std::vector<std::string> ids;
  if (const auto* list = payload.if_contains("offer_ids"); list && list->is_array()) {
    for (const auto& id : list->as_array()) ids.push_back(string_at(id, {"value"}));
  }
  return ids;
}

}  // namespace

void SimulatorImpl::decline(Framework& framework, const json::object& payload) {
  const auto refuse = refuse_seconds_of(payload);
  for (const auto& id : offer_ids_of(payload)) {
    auto it = offers_.find(id);
    if (it == offers_.end() || it->second.framework_id != framework.id) continue;
    agents_.at(it->second.agent_id).offered.subtract(it->second.resources);
    add_filter(framework, it->second.agent_id, it->second.role, it->second.resources, refuse);
    offers_.erase(it);
  }
  schedule_allocation();
}

void SimulatorImpl::accept(Framework& framework, const json::object& payload) {
  const auto ids = offer_ids_of(payload);
  std::string error;
  std::vector<Offer> used;
  std::set<std::string> seen;
  if (ids.empty()) error = "No offers specified";
  for (const auto& id : ids) {
    if (!seen.insert(id).second) {
      if (error.empty()) error = "Duplicate offer " + id + " in offer list";
      continue;
    }
    auto it = offers_.find(id);
    if (it == offers_.end()) {
      if (error.empty()) error = "Offer " + id + " is no longer valid";
      continue;
    }
    if (it->second.framework_id != framework.id) {
      if (error.empty()) error = "Offer " + id + " has invalid framework";
      continue;
    }
    // An offer named in an ACCEPT is used up whether or not the call is valid.
    agents_.at(it->second.agent_id).offered.subtract(it->second.resources);
    used.push_back(std::move(it->second));
    offers_.erase(it);
  }
  for (const auto& offer : used) {
    if (error.empty() && offer.agent_id != used.front().agent_id) {
      error = "Aggregated offers must belong to one single agent";
    }
    if (error.empty() && offer.role != used.front().role) error = "Aggregated offers must be allocated to the same role";
  }

  const json::array no_operations;
  const auto* operations_value = payload.if_contains("operations");
  const json::array& operations =
      operations_value && operations_value->is_array() ? operations_value->as_array() : no_operations;
  auto tasks_of = [](const json::object& operation) {
    std::vector<const json::object*> tasks;
    const json::value* list = nullptr;
    if (const auto* launch = operation.if_contains("launch"); launch && launch->is_object()) {
      list = launch->as_object().if_contains("task_infos");
    } else if (const auto* group = operation.if_contains("launch_group"); group && group->is_object()) {
      if (const auto* task_group = group->as_object().if_contains("task_group"); task_group && task_group->is_object()) {
        list = task_group->as_object().if_contains("tasks");
      }
    }
    if (list && list->is_array()) {
      for (const auto& task : list->as_array()) {
        if (task.is_object()) tasks.push_back(&task.as_object());
      }
    }
    return tasks;
  };

  if (!error.empty()) {
    const std::string state = framework.partition_aware() ? "TASK_DROPPED" : "TASK_LOST";
    for (const auto& operation : operations) {
      if (!operation.is_object()) continue;
      for (const auto* task : tasks_of(operation.as_object())) {
        master_update(framework, string_at(*task, {"task_id", "value"}), string_at(*task, {"agent_id", "value"}), state,
                      "REASON_INVALID_OFFERS", "Task launched with invalid offers: " + error);
      }
    }
    schedule_allocation();
    return;
  }

  const std::string agent_id = used.front().agent_id;
  const std::string role = used.front().role;
  Resources remaining;
  for (const auto& offer : used) remaining.add(offer.resources);
  for (const auto& operation_value : operations) {
    if (!operation_value.is_object()) continue;
    const auto& operation = operation_value.as_object();
    const std::string type = string_at(operation, {"type"});
    if (type == "LAUNCH") {
      for (const auto* task : tasks_of(operation)) {
        Resources needed;
        if (auto failure = check_task(framework, *task, role, agent_id, remaining, false, needed)) {
          master_update(framework, string_at(*task, {"task_id", "value"}), agent_id, "TASK_ERROR", "REASON_TASK_INVALID",
                        *failure);
          continue;
        }
        remaining.subtract(needed);
        launch(framework, *task, needed, role, "");
      }
    } else if (type == "LAUNCH_GROUP") {
      const auto* group_value = operation.if_contains("launch_group");
      const json::value* executor_value =
          group_value && group_value->is_object() ? group_value->as_object().if_contains("executor") : nullptr;
      if (!executor_value || !executor_value->is_object()) continue;
      const auto& executor = executor_value->as_object();
      const std::string executor_id = string_at(executor, {"executor_id", "value"});
      std::optional<std::string> failure;
      Resources executor_resources;
      std::vector<ParsedResource> parsed;
      if (const auto* list = executor.if_contains("resources")) {
        if (auto why = parse_resources(*list, executor_resources, parsed)) failure = "Executor uses invalid resources: " + *why;
      }
      if (!failure && executor_id.empty()) failure = "Executor has no 'executor_id'";
      Resources left = remaining;
      if (!failure && !left.contains(executor_resources)) {
        failure = "Total resources " + executor_resources.describe() + " required by task group's executor " +
                  executor_id + " is more than available " + left.describe();
      }
      if (!failure) left.subtract(executor_resources);
      std::vector<Resources> needs;
      const auto tasks = tasks_of(operation);
      for (const auto* task : tasks) {
        if (failure) break;
        Resources needed;
        failure = check_task(framework, *task, role, agent_id, left, true, needed);
        if (!failure) {
          left.subtract(needed);
          needs.push_back(std::move(needed));
        }
      }
      if (tasks.empty() && !failure) failure = "Task group must contain at least one task";
      if (failure) {
        for (const auto* task : tasks) {
          master_update(framework, string_at(*task, {"task_id", "value"}), agent_id, "TASK_ERROR",
                        "REASON_TASK_GROUP_INVALID", *failure);
        }
        continue;
      }
      remaining = left;
      for (std::size_t i = 0; i < tasks.size(); ++i) {
        Resources resources = needs[i];
        if (i == 0) resources.add(executor_resources);  // the executor's share is accounted on the first task
        launch(framework, *tasks[i], resources, role, executor_id);
      }
    }
    // Other operation types (RESERVE, CREATE, ...) are not simulated: they are ignored.
  }
  // What the ACCEPT did not use is declined, with the call's filter.
  add_filter(framework, agent_id, role, remaining, refuse_seconds_of(payload));
  schedule_allocation();
}

void SimulatorImpl::revive(Framework& framework, const json::object& payload) {
  std::set<std::string> roles = string_set(payload.if_contains("roles"));
  if (roles.empty()) roles = framework.roles;
  std::erase_if(filters_, [&](const Filter& filter) {
    return filter.framework_id == framework.id && roles.count(filter.role) > 0;
  });
  for (const auto& role : roles) framework.suppressed_roles.erase(role);
  schedule_allocation();
}

void SimulatorImpl::suppress(Framework& framework, const json::object& payload) {
  std::set<std::string> roles = string_set(payload.if_contains("roles"));
  if (roles.empty()) roles = framework.roles;
  framework.suppressed_roles.insert(roles.begin(), roles.end());
}

}  // namespace berth::sim::mesos
