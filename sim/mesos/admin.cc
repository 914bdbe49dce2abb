// Administration under /sim/ (same basic auth as the API; never delayed or failed by faults):
// state, the simulated clock, agents, task exits, leader swap and fault injection.

#include <boost/asio/post.hpp>

#include "sim/mesos/internal.h"

namespace berth::sim::mesos {
namespace {

json::object scalars_json(const Resources& resources) {
  json::object out;
  for (const char* name : {"cpus", "mem", "disk", "gpus"}) out[name] = resources.scalar(name);
  Ranges ports;
  for (const auto& [key, ranges] : resources.ranges()) {
    if (key.second == "ports") ports.insert(ports.end(), ranges.begin(), ranges.end());
  }
  out["ports"] = format_ranges(normalise(std::move(ports)));
  return out;
}

json::array strings(const std::set<std::string>& values) {
  json::array out;
  for (const auto& value : values) out.push_back(json::value(value));
  return out;
}

}  // namespace

json::object SimulatorImpl::state_document() const {
  json::array frameworks;
  json::array tasks;
  for (const auto& [id, framework] : frameworks_) {
    json::object states;
    int unacked = 0;
    for (const auto& [task_id, task] : framework.tasks) {
      states[task.state] = states.contains(task.state) ? states[task.state].as_int64() + 1 : 1;
      unacked += static_cast<int>(task.pending.size());
      json::array pending;
      for (const auto& update : task.pending) pending.push_back(json::value(update.state));
      tasks.push_back(json::object{{"id", task_id},
                                   {"framework_id", id},
                                   {"agent_id", task.agent_id},
                                   {"state", task.state},
                                   {"unacked", std::move(pending)},
                                   {"resources", scalars_json(task.resources)}});
    }
    json::object completed;
    for (const auto& [state, count] : framework.completed) completed[state] = count;
    int offers = 0;
    for (const auto& [offer_id, offer] : offers_) offers += offer.framework_id == id ? 1 : 0;
    frameworks.push_back(json::object{{"id", id},
                                      {"name", framework.name},
                                      {"principal", framework.principal},
                                      {"roles", strings(framework.roles)},
                                      {"capabilities", strings(framework.capabilities)},
                                      {"subscribed", framework.connected},
                                      {"removed", framework.removed},
                                      {"stream_id", framework.stream_id},
                                      {"suppressed_roles", strings(framework.suppressed_roles)},
                                      {"failover_timeout", framework.failover_timeout},
                                      {"tasks", std::move(states)},
                                      {"completed_tasks", std::move(completed)},
                                      {"outstanding_offers", offers},
                                      {"unacked_updates", unacked}});
  }
  json::array agents;
  for (const auto& [id, agent] : agents_) {
    int count = 0;
    for (const auto& [framework_id, framework] : frameworks_) {
      for (const auto& [task_id, task] : framework.tasks) count += task.agent_id == id && !task.released ? 1 : 0;
    }
    json::object reserved;
    for (const auto& [key, milli] : agent.total.scalars()) {
      if (key.first == "*") continue;
      if (!reserved.contains(key.first)) reserved[key.first] = json::object{};
      reserved[key.first].as_object()[key.second] = static_cast<double>(milli) / 1000.0;
    }
    agents.push_back(json::object{{"id", id},
                                  {"hostname", agent.spec.hostname},
                                  {"state", agent.state},
                                  {"capacity", scalars_json(agent.total)},
                                  {"used", scalars_json(agent.used)},
                                  {"offered", scalars_json(agent.offered)},
                                  {"reserved", std::move(reserved)},
                                  {"attributes", agent.attributes},
                                  {"tasks", count}});
  }
  std::string leader;
  std::string standby;
  {
    std::lock_guard lock(server_mutex_);
    leader = addresses_[leader_];
    if (has_standby_) standby = addresses_[1 - leader_];
  }
  return json::object{{"sim_time", now()},
                      {"master_id", master_id_},
                      {"leader", leader},
                      {"standby", standby},
                      {"frameworks", std::move(frameworks)},
                      {"agents", std::move(agents)},
                      {"tasks", std::move(tasks)},
                      {"outstanding_offers", static_cast<std::int64_t>(offers_.size())}};
}

void SimulatorImpl::serve_admin(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer) {
  const sim_common::AdminRequest admin(request);
  const sim_common::SharedAdmin shared{
      requests_, agenda_, faults_, "sim_time",
      [this](const sim_common::AdminRequest& faults_request, const sim_common::FaultUpdate& update) {
        if (update.reset) no_leader_ = false;
        const json::object& body = faults_request.body();
        if (auto it = body.find("no_leader"); it != body.end() && it->value().is_bool()) no_leader_ = it->value().as_bool();
        if (faults_request.flag("drop_streams")) drop_streams();
        if (update.down_for) go_down(*update.down_for);
      },
      [this](json::object& described) { described["no_leader"] = no_leader_; }};
  if (auto response = sim_common::serve_shared_admin(admin, shared)) return writer->respond(std::move(*response));
  const auto& parts = admin.parts();  // "sim", ...
  const json::object& body = admin.body();
  auto reply = [&](const Status& status, json::object extra = {}) {
    writer->respond(sim_common::admin_reply(status, std::move(extra)));
  };
  auto number = [&](const char* key, double fallback) { return admin.number(key).value_or(fallback); };
  auto text = [&](const char* key, const std::string& fallback = {}) {
    auto it = body.find(key);
    if (it == body.end()) return fallback;
    if (it->value().is_string()) return std::string(it->value().as_string());
    return json::serialize(it->value());
  };
  const std::string& method = request.method;
  if (parts.size() == 2 && parts[1] == "state" && method == "GET") {
    return writer->respond(sim_common::admin_json(200, state_document()));
  }
  if (parts.size() == 2 && parts[1] == "agents" && method == "POST") {
    AgentSpec spec;
    spec.hostname = text("hostname");
    spec.cpus = number("cpus", spec.cpus);
    spec.mem = number("mem", spec.mem);
    spec.disk = number("disk", spec.disk);
    spec.gpus = number("gpus", spec.gpus);
    spec.ports = text("ports", spec.ports);
    if (auto it = body.find("attributes"); it != body.end() && it->value().is_object()) {
      for (const auto& [k, v] : it->value().as_object()) {
        spec.attributes[std::string(k)] = v.is_string() ? std::string(v.as_string()) : json::serialize(v);
      }
    }
    if (auto it = body.find("reserved"); it != body.end() && it->value().is_object()) {
      for (const auto& [role, amounts] : it->value().as_object()) {
        if (!amounts.is_object()) continue;
        for (const auto& [name, amount] : amounts.as_object()) {
          if (amount.is_number()) spec.reserved[std::string(role)][std::string(name)] = amount.to_number<double>();
        }
      }
    }
    Status status = add_agent(spec);
    json::object extra;
    if (status.ok()) {
      for (const auto& [id, agent] : agents_) {
        if (agent.spec.hostname == spec.hostname && agent.state == "registered") extra["id"] = id;
      }
    }
    return reply(status, std::move(extra));
  }
  if (parts.size() == 4 && parts[1] == "agents" && parts[3] == "remove" && method == "POST") {
    return reply(remove_agent(parts[2], text("mode", "lost")));
  }
  if (parts.size() == 4 && parts[1] == "tasks" && parts[3] == "exit" && method == "POST") {
    return reply(exit_task(parts[2], static_cast<int>(number("code", 0)), admin.flag("oom")));
  }
  if (parts.size() == 2 && parts[1] == "leader" && method == "POST") {
    if (!has_standby_) return reply(Status::FailedPrecondition("no standby master (start with --standby-listen)"));
    swap_leader();
    std::lock_guard lock(server_mutex_);
    return reply(Status::Ok(), json::object{{"leader", addresses_[leader_]}, {"standby", addresses_[1 - leader_]}});
  }
  writer->respond(sim_common::unknown_admin_endpoint(request));
}

// ---- Simulator ----------------------------------------------------------------------------

Simulator::Simulator(boost::asio::any_io_executor executor, SimulatorOptions options)
    : impl_(std::make_shared<SimulatorImpl>(std::move(executor), std::move(options))) {}

Simulator::~Simulator() { impl_->stop(); }

Status Simulator::start() { return impl_->start(); }
void Simulator::stop() { impl_->stop(); }
std::string Simulator::address() const {
  std::lock_guard lock(impl_->server_mutex_);
  return impl_->addresses_[0];
}
std::uint16_t Simulator::port() const {
  std::lock_guard lock(impl_->server_mutex_);
  return impl_->ports_[0];
}
std::string Simulator::standby_address() const {
  std::lock_guard lock(impl_->server_mutex_);
  return impl_->has_standby_ ? impl_->addresses_[1] : std::string();
}
std::uint16_t Simulator::standby_port() const {
  std::lock_guard lock(impl_->server_mutex_);
  return impl_->has_standby_ ? impl_->ports_[1] : 0;
}

}  // namespace berth::sim::mesos
