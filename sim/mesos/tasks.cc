// The agent half of the simulator: task validation and launch, the script each task plays
// (start delay, run-for, exit code, OOM, shutdown delay), agent status updates that carry a uuid
// and are resent until acknowledged (later ones wait behind them), master-generated updates,
// KILL with grace, RECONCILE, agents joining and leaving.

#include <algorithm>
#include <cmath>

#include "sim/mesos/internal.h"

namespace berth::sim::mesos {
namespace {

bool truthy(const std::string& text) { return text == "true" || text == "True" || text == "1" || text == "yes"; }

std::optional<double> grace_of(const json::object& object) {
  const auto* policy = object.if_contains("kill_policy");
  if (!policy || !policy->is_object()) return std::nullopt;
  const auto* grace = policy->as_object().if_contains("grace_period");
  if (!grace || !grace->is_object()) return std::nullopt;
  const auto* nanoseconds = grace->as_object().if_contains("nanoseconds");
  if (!nanoseconds || !nanoseconds->is_number()) return std::nullopt;
  return std::max(0.0, nanoseconds->to_number<double>() / 1e9);
}

}  // namespace

// ---- launch -------------------------------------------------------------------------------

std::optional<std::string> SimulatorImpl::check_task(const Framework& framework, const json::object& task_info,
                                                     const std::string& role, const std::string& agent_id,
                                                     const Resources& remaining, bool in_group, Resources& needed) {
  const std::string task_id = string_at(task_info, {"task_id", "value"});
  if (task_id.empty()) return "Task ID must not be empty";
  if (framework.tasks.count(task_id)) return "Task has duplicate ID: " + task_id;
  if (string_at(task_info, {"agent_id", "value"}) != agent_id) {
    return "Task uses invalid agent: " + string_at(task_info, {"agent_id", "value"});
  }
  const bool command = task_info.contains("command");
  const bool executor = task_info.contains("executor");
  if (in_group) {
    if (executor) return "'TaskInfo.executor' must not be set";
  } else if (command == executor) {
    return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present";
  }
  const auto* list = task_info.if_contains("resources");
  if (!list) return "Task uses no resources";
  std::vector<ParsedResource> parsed;
  if (auto why = parse_resources(*list, needed, parsed)) return "Task uses invalid resources: " + *why;
  if (needed.empty()) return "Task uses no resources";
  for (const auto& resource : parsed) {
    if (framework.has("MULTI_ROLE") && !resource.allocation_role) return "The resources are not allocated to a role";
    if (resource.allocation_role && *resource.allocation_role != role) {
      return "Invalid resources: the resources are allocated to role '" + *resource.allocation_role +
             "' but the offer is allocated to role '" + role + "'";
    }
    if (resource.role != "*" && resource.role != role) {
      return "Invalid resources: resources reserved for role '" + resource.role + "' used by a task of role '" + role + "'";
    }
  }
  if (!remaining.contains(needed)) {
    return "Total resources " + needed.describe() + " required by task and its executor is more than available " +
           remaining.describe();
  }
  return std::nullopt;
}

Behaviour SimulatorImpl::behaviour_for(const json::object& task_info) const {
  std::map<std::string, std::string> labels;
  if (const auto* outer = task_info.if_contains("labels"); outer && outer->is_object()) {
    if (const auto* list = outer->as_object().if_contains("labels"); list && list->is_array()) {
      for (const auto& label : list->as_array()) labels[string_at(label, {"key"})] = string_at(label, {"value"});
    }
  }
  std::map<std::string, std::string> values;
  for (const auto& [match, defaults] : behaviours_) {
    const bool matches = std::all_of(match.begin(), match.end(), [&](const auto& pair) {
      auto it = labels.find(pair.first);
      return it != labels.end() && it->second == pair.second;
    });
    if (matches) {
      for (const auto& [k, v] : defaults) values[k] = v;
    }
  }
  for (const auto& [k, v] : labels) values[k] = v;
  auto get = [&](const char* name) -> std::optional<std::string> {
    auto it = values.find(std::string(kLabelPrefix) + name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
  Behaviour b;
  if (auto v = get("start-delay")) b.start_delay = parse_duration(*v).value_or(b.start_delay);
  if (auto v = get("run-for")) b.run_for = parse_duration(*v);
  if (auto v = get("exit-code")) {
    try {
      b.exit_code = std::stoi(*v);
    } catch (const std::exception&) {
    }
  }
  if (auto v = get("oom")) b.oom = truthy(*v);
  if (auto v = get("shutdown-delay")) b.shutdown_delay = parse_duration(*v).value_or(b.shutdown_delay);
  return b;
}

void SimulatorImpl::launch(Framework& framework, const json::object& task_info, Resources resources,
                           const std::string& role, const std::string& group) {
  Task task;
  task.id = string_at(task_info, {"task_id", "value"});
  task.name = string_at(task_info, {"name"});
  task.framework_id = framework.id;
  task.agent_id = string_at(task_info, {"agent_id", "value"});
  task.executor_id = group.empty() ? task.id : group;
  task.container_id = new_uuid();
  task.role = role;
  task.resources = std::move(resources);
  task.behaviour = behaviour_for(task_info);
  task.group = group;
  if (auto grace = grace_of(task_info)) task.kill_grace = *grace;
  agents_.at(task.agent_id).used.add(task.resources);
  Task& stored = framework.tasks[task.id] = std::move(task);
  if (options_.staging_update) agent_update(stored, "TASK_STAGING", "SOURCE_AGENT", "", "");
  agent_update(stored, "TASK_STARTING", "SOURCE_EXECUTOR", "", "");
  play(framework.id, stored.id);
}

Task* SimulatorImpl::find_task(const std::string& task_id, Framework** framework_out) {
  for (auto& [id, framework] : frameworks_) {
    auto it = framework.tasks.find(task_id);
    if (it == framework.tasks.end()) continue;
    if (framework_out) *framework_out = &framework;
    return &it->second;
  }
  return nullptr;
}

// Schedules the task's script from TASK_STARTING: running after the start delay, then the exit
// the labels ask for. Steps check the task's epoch, which kills and exits bump.
void SimulatorImpl::play(const std::string& framework_id, const std::string& task_id) {
  auto lookup = [this, framework_id, task_id](std::uint64_t epoch) -> Task* {
    auto framework = frameworks_.find(framework_id);
    if (framework == frameworks_.end()) return nullptr;
    auto task = framework->second.tasks.find(task_id);
    if (task == framework->second.tasks.end() || task->second.epoch != epoch || task->second.terminal()) return nullptr;
    return &task->second;
  };
  Task& task = frameworks_.at(framework_id).tasks.at(task_id);
  const std::uint64_t epoch = task.epoch;
  after(task.behaviour.start_delay, [this, lookup, epoch] {
    Task* running = lookup(epoch);
    if (!running) return;
    agent_update(*running, "TASK_RUNNING", "SOURCE_EXECUTOR", "", "");
    const Behaviour& b = running->behaviour;
    if (b.oom) {
      after(b.run_for.value_or(1.0), [this, lookup, epoch] {
        if (Task* t = lookup(epoch)) {
          const auto mem = static_cast<long long>(t->resources.scalar("mem"));
          finish(*t, "TASK_FAILED", "SOURCE_AGENT", "REASON_CONTAINER_LIMITATION_MEMORY",
                 "Memory limit exceeded: Requested: " + std::to_string(mem) + "MB Maximum Used: " + std::to_string(mem) +
                     "MB");
        }
      });
    } else if (b.run_for) {
      after(*b.run_for, [this, lookup, epoch] {
        if (Task* t = lookup(epoch)) {
          const int code = t->behaviour.exit_code;
          finish(*t, code == 0 ? "TASK_FINISHED" : "TASK_FAILED", "SOURCE_EXECUTOR",
                 code == 0 ? "" : "REASON_COMMAND_EXECUTOR_FAILED", "Command exited with status " + std::to_string(code));
        }
      });
    }
  });
}

void SimulatorImpl::finish(Task& task, const std::string& state, const std::string& source, const std::string& reason,
                           const std::string& message) {
  ++task.epoch;
  agent_update(task, state, source, reason, message);
  release(task);
}

void SimulatorImpl::release(Task& task) {
  if (task.released) return;
  task.released = true;
  auto agent = agents_.find(task.agent_id);
  if (agent != agents_.end()) agent->second.used.subtract(task.resources);
  schedule_allocation();
}

void SimulatorImpl::forget_task(Framework& framework, const std::string& task_id) {
  auto it = framework.tasks.find(task_id);
  if (it == framework.tasks.end()) return;
  release(it->second);
  ++framework.completed[it->second.state];
  framework.tasks.erase(it);
}

// ---- status updates -----------------------------------------------------------------------

void SimulatorImpl::agent_update(Task& task, const std::string& state, const std::string& source,
                                 const std::string& reason, const std::string& message) {
  task.state = state;
  const Agent& agent = agents_.at(task.agent_id);
  PendingUpdate update;
  update.uuid = new_uuid_base64();
  update.state = state;
  update.backoff = options_.update_retry_seconds;
  update.status = json::object{{"task_id", id_object(task.id)},
                               {"state", state},
                               {"source", source},
                               {"agent_id", id_object(task.agent_id)},
                               {"executor_id", id_object(task.executor_id)},
                               {"timestamp", unix_time()},
                               {"uuid", update.uuid}};
  if (!reason.empty()) update.status["reason"] = reason;
  if (!message.empty()) update.status["message"] = message;
  if (state == "TASK_RUNNING") {
    update.status["container_status"] = json::object{
        {"container_id", id_object(task.container_id)},
        {"network_infos", json::array{json::object{
                              {"ip_addresses", json::array{json::object{{"ip_address", agent.ip}}}}}}}};
  }
  task.pending.push_back(std::move(update));
  if (task.pending.size() == 1) send_head(frameworks_.at(task.framework_id), task);
}

// Sends the update in flight and arms its resend (10 s, doubling to 10 min, simulated).
void SimulatorImpl::send_head(Framework& framework, Task& task) {
  PendingUpdate& head = task.pending.front();
  send_event(framework, json::object{{"type", "UPDATE"}, {"update", json::object{{"status", head.status}}}});
  const double backoff = head.backoff;
  head.backoff = std::min(head.backoff * 2, 600.0);
  after(backoff, [this, framework_id = framework.id, task_id = task.id, uuid = head.uuid] {
    auto f = frameworks_.find(framework_id);
    if (f == frameworks_.end()) return;
    auto t = f->second.tasks.find(task_id);
    if (t == f->second.tasks.end() || t->second.pending.empty() || t->second.pending.front().uuid != uuid) return;
    send_head(f->second, t->second);
  });
}

void SimulatorImpl::resend_pending(Framework& framework) {
  for (auto& [id, task] : framework.tasks) {
    if (task.pending.empty()) continue;
    send_event(framework, json::object{{"type", "UPDATE"}, {"update", json::object{{"status", task.pending.front().status}}}});
  }
}

void SimulatorImpl::master_update(Framework& framework, const std::string& task_id, const std::string& agent_id,
                                  const std::string& state, const std::string& reason, const std::string& message,
                                  json::object extra) {
  json::object status{{"task_id", id_object(task_id)}, {"state", state}, {"source", "SOURCE_MASTER"}};
  if (!reason.empty()) status["reason"] = reason;
  if (!message.empty()) status["message"] = message;
  if (!agent_id.empty()) status["agent_id"] = id_object(agent_id);
  status["timestamp"] = unix_time();
  for (auto& [key, value] : extra) status[key] = std::move(value);
  send_event(framework, json::object{{"type", "UPDATE"}, {"update", json::object{{"status", std::move(status)}}}});
}

void SimulatorImpl::acknowledge(Framework& framework, const json::object& payload) {
  const std::string task_id = string_at(payload, {"task_id", "value"});
  auto it = framework.tasks.find(task_id);
  if (it == framework.tasks.end()) return;
  Task& task = it->second;
  if (string_at(payload, {"agent_id", "value"}) != task.agent_id || task.pending.empty()) return;
  if (base64_decode(string_at(payload, {"uuid"})) != base64_decode(task.pending.front().uuid)) return;
  task.pending.pop_front();
  if (!task.pending.empty()) {
    send_head(framework, task);
  } else if (task.terminal()) {
    forget_task(framework, task_id);
  }
}

// ---- kill ---------------------------------------------------------------------------------

void SimulatorImpl::kill(Framework& framework, const json::object& payload) {
  const std::string task_id = string_at(payload, {"task_id", "value"});
  auto it = framework.tasks.find(task_id);
  const auto& agent_of_task = it == framework.tasks.end() ? std::string() : it->second.agent_id;
  if (it == framework.tasks.end() || agents_.at(agent_of_task).state != "registered") {
    // Unknown tasks, and tasks on agents that cannot be reached, are answered by reconciliation.
    std::optional<std::string> agent_id;
    if (payload.contains("agent_id")) agent_id = string_at(payload, {"agent_id", "value"});
    json::object status = reconcile_status(framework, task_id, agent_id);
    send_event(framework, json::object{{"type", "UPDATE"}, {"update", json::object{{"status", std::move(status)}}}});
    return;
  }
  const std::optional<double> override_grace = grace_of(payload);
  std::vector<std::string> targets{task_id};
  if (!it->second.group.empty()) {
    // The default executor kills the whole task group.
    for (const auto& [id, task] : framework.tasks) {
      if (id != task_id && task.group == it->second.group) targets.push_back(id);
    }
  }
  for (const auto& id : targets) {
    Task& task = framework.tasks.at(id);
    if (task.terminal() || task.killing) continue;
    task.killing = true;
    const std::uint64_t epoch = ++task.epoch;
    if (task.state == "TASK_STAGING" || task.state == "TASK_STARTING") {
      finish(task, "TASK_KILLED", "SOURCE_AGENT", "REASON_TASK_KILLED_DURING_LAUNCH", "Killed before it started");
      continue;
    }
    if (framework.has("TASK_KILLING_STATE")) agent_update(task, "TASK_KILLING", "SOURCE_EXECUTOR", "", "");
    const double grace = override_grace.value_or(task.kill_grace);
    const bool graceful = task.behaviour.shutdown_delay <= grace;
    after(graceful ? task.behaviour.shutdown_delay : grace, [this, framework_id = framework.id, id, epoch, graceful] {
      auto f = frameworks_.find(framework_id);
      if (f == frameworks_.end()) return;
      auto t = f->second.tasks.find(id);
      if (t == f->second.tasks.end() || t->second.epoch != epoch || t->second.terminal()) return;
      finish(t->second, "TASK_KILLED", "SOURCE_EXECUTOR", "",
             graceful ? "Command terminated with signal Terminated" : "Command terminated with signal Killed");
    });
  }
}

void SimulatorImpl::kill_all_tasks(Framework& framework) {
  for (auto& [id, task] : framework.tasks) {
    ++task.epoch;
    release(task);
    ++framework.completed[task.terminal() ? task.state : "TASK_KILLED"];
  }
  framework.tasks.clear();
}

// ---- reconciliation -----------------------------------------------------------------------

json::object SimulatorImpl::reconcile_status(Framework& framework, const std::string& task_id,
                                             const std::optional<std::string>& agent_id) {
  const bool aware = framework.partition_aware();
  std::string state;
  std::string message;
  std::string agent = agent_id.value_or("");
  json::object extra;
  auto unreachable_time = [&](double since) {
    extra["unreachable_time"] = json::object{
        {"nanoseconds", static_cast<std::int64_t>((unix_time() - (now() - since)) * 1e9)}};
  };
  if (auto it = framework.tasks.find(task_id); it != framework.tasks.end()) {
    const Task& task = it->second;
    // The state of the update in flight to the scheduler, which can lag the agent's newest.
    state = task.pending.empty() ? task.state : task.pending.front().state;
    message = "Reconciliation: Latest task state";
    agent = task.agent_id;
    if (task.unreachable_since) unreachable_time(*task.unreachable_since);
  } else {
    const Agent* known = nullptr;
    if (agent_id) {
      auto found = agents_.find(*agent_id);
      if (found != agents_.end()) known = &found->second;
    }
    if (known && known->state == "registered") {
      state = aware ? "TASK_GONE" : "TASK_LOST";
      message = "Reconciliation: Task is unknown to the agent";
    } else if (known && known->state == "unreachable") {
      state = aware ? "TASK_UNREACHABLE" : "TASK_LOST";
      message = "Reconciliation: Task is unreachable";
    } else if (known && known->state == "gone") {
      state = aware ? "TASK_GONE_BY_OPERATOR" : "TASK_LOST";
      message = "Reconciliation: Task is gone";
    } else {
      state = aware ? "TASK_UNKNOWN" : "TASK_LOST";
      message = "Reconciliation: Task is unknown";
    }
  }
  json::object status{{"task_id", id_object(task_id)},
                      {"state", state},
                      {"source", "SOURCE_MASTER"},
                      {"reason", "REASON_RECONCILIATION"},
                      {"message", message}};
  if (!agent.empty()) status["agent_id"] = id_object(agent);
  status["timestamp"] = unix_time();
  for (auto& [key, value] : extra) status[key] = std::move(value);
  return status;
}

void SimulatorImpl::reconcile(Framework& framework, const json::object& payload) {
  const auto* tasks = payload.if_contains("tasks");
  std::vector<std::pair<std::string, std::optional<std::string>>> asked;
  if (tasks && tasks->is_array() && !tasks->as_array().empty()) {
    for (const auto& entry : tasks->as_array()) {
      std::optional<std::string> agent_id;
      if (entry.is_object() && entry.as_object().contains("agent_id")) agent_id = string_at(entry, {"agent_id", "value"});
      asked.emplace_back(string_at(entry, {"task_id", "value"}), agent_id);
    }
  } else {
    for (const auto& [id, task] : framework.tasks) asked.emplace_back(id, task.agent_id);  // implicit: every known task
  }
  for (const auto& [task_id, agent_id] : asked) {
    send_event(framework, json::object{{"type", "UPDATE"},
                                       {"update", json::object{{"status", reconcile_status(framework, task_id, agent_id)}}}});
  }
}

// ---- agents -------------------------------------------------------------------------------

Agent* SimulatorImpl::find_agent(const std::string& id_or_hostname) {
  if (auto it = agents_.find(id_or_hostname); it != agents_.end()) return &it->second;
  for (auto& [id, agent] : agents_) {
    if (agent.spec.hostname == id_or_hostname) return &agent;
  }
  return nullptr;
}

Status SimulatorImpl::add_agent(const AgentSpec& spec) {
  if (spec.hostname.empty()) return Status::InvalidArgument("agent needs a hostname");
  for (const auto& [id, agent] : agents_) {
    if (agent.spec.hostname == spec.hostname && agent.state == "registered") {
      return Status::AlreadyExists("agent " + spec.hostname + " already exists");
    }
  }
  if (spec.gpus < 0 || std::floor(spec.gpus) != spec.gpus) {
    return Status::InvalidArgument("agent " + spec.hostname + ": gpus must be a whole number");
  }
  auto ports = parse_ranges(spec.ports);
  if (!ports) return Status::InvalidArgument("agent " + spec.hostname + ": bad ports " + spec.ports);
  Agent agent;
  agent.spec = spec;
  agent.index = next_agent_++;
  agent.id = master_id_ + "-S" + std::to_string(agent.index);
  agent.ip = "10.0." + std::to_string(agent.index / 250) + "." + std::to_string(agent.index % 250 + 2);
  std::map<std::string, double> unreserved{{"cpus", spec.cpus}, {"mem", spec.mem}, {"disk", spec.disk}, {"gpus", spec.gpus}};
  for (const auto& [role, amounts] : spec.reserved) {
    for (const auto& [name, amount] : amounts) {
      if (!unreserved.count(name)) return Status::InvalidArgument("agent " + spec.hostname + ": cannot reserve " + name);
      if (amount > unreserved[name]) {
        return Status::InvalidArgument("agent " + spec.hostname + ": reserves more " + name + " than it has");
      }
      unreserved[name] -= amount;
      agent.total.add_scalar(role, name, to_milli(amount));
    }
  }
  for (const auto& [name, amount] : unreserved) agent.total.add_scalar("*", name, to_milli(amount));
  agent.total.add_ranges("*", "ports", *ports);
  for (const auto& [name, value] : spec.attributes) {
    char* end = nullptr;
    const double number = std::strtod(value.c_str(), &end);
    if (!value.empty() && end && *end == '\0') {
      agent.attributes.push_back(
          json::object{{"name", name}, {"type", "SCALAR"}, {"scalar", json::object{{"value", number}}}});
    } else {
      agent.attributes.push_back(json::object{{"name", name}, {"type", "TEXT"}, {"text", json::object{{"value", value}}}});
    }
  }
  agents_.emplace(agent.id, std::move(agent));
  schedule_allocation();
  return Status::Ok();
}

Status SimulatorImpl::remove_agent(const std::string& id_or_hostname, const std::string& mode) {
  Agent* agent = find_agent(id_or_hostname);
  if (!agent) return Status::NotFound("no agent " + id_or_hostname);
  if (mode != "lost" && mode != "unreachable" && mode != "gone") {
    return Status::InvalidArgument("mode must be lost, unreachable or gone, not " + mode);
  }
  if (agent->state != "registered") {
    return Status::FailedPrecondition("agent " + agent->spec.hostname + " is already " + agent->state);
  }
  rescind_offers_of_agent(agent->id);
  agent->state = mode == "lost" ? "removed" : mode;
  const std::string& host = agent->spec.hostname;
  for (auto& [framework_id, framework] : frameworks_) {
    const bool aware = framework.partition_aware();
    std::string state = "TASK_LOST";
    std::string reason = "REASON_AGENT_REMOVED";
    std::string message = "Agent " + host + " removed: agent lost";
    if (mode == "lost" && aware) state = "TASK_GONE";
    if (mode == "unreachable") {
      if (aware) state = "TASK_UNREACHABLE";
      message = "Agent " + host + " is unreachable: health check timed out";
    }
    if (mode == "gone") {
      if (aware) state = "TASK_GONE_BY_OPERATOR";
      reason = "REASON_AGENT_REMOVED_BY_OPERATOR";
      message = "Agent " + host + " has been marked gone by the operator";
    }
    std::vector<std::string> ids;
    for (const auto& [id, task] : framework.tasks) {
      if (task.agent_id == agent->id) ids.push_back(id);
    }
    for (const auto& id : ids) {
      Task& task = framework.tasks.at(id);
      ++task.epoch;
      task.pending.clear();  // the agent's un-acknowledged updates die with it
      if (task.terminal()) {
        forget_task(framework, id);
        continue;
      }
      json::object extra;
      if (state == "TASK_UNREACHABLE") {
        extra["unreachable_time"] = json::object{{"nanoseconds", static_cast<std::int64_t>(unix_time() * 1e9)}};
      }
      master_update(framework, id, agent->id, state, reason, message, std::move(extra));
      task.state = state;
      if (state == "TASK_UNREACHABLE") {
        task.unreachable_since = now();
      } else {
        forget_task(framework, id);
      }
    }
    send_event(framework, json::object{{"type", "FAILURE"}, {"failure", json::object{{"agent_id", id_object(agent->id)}}}});
  }
  return Status::Ok();
}

Status SimulatorImpl::exit_task(const std::string& task_id, int code, bool oom) {
  Framework* framework = nullptr;
  Task* task = find_task(task_id, &framework);
  if (!task) return Status::NotFound("no task " + task_id);
  if (task->terminal() || task->state == "TASK_UNREACHABLE") {
    return Status::FailedPrecondition("task " + task_id + " is " + task->state);
  }
  if (oom) {
    const auto mem = static_cast<long long>(task->resources.scalar("mem"));
    finish(*task, "TASK_FAILED", "SOURCE_AGENT", "REASON_CONTAINER_LIMITATION_MEMORY",
           "Memory limit exceeded: Requested: " + std::to_string(mem) + "MB Maximum Used: " + std::to_string(mem) + "MB");
  } else {
    finish(*task, code == 0 ? "TASK_FINISHED" : "TASK_FAILED", "SOURCE_EXECUTOR",
           code == 0 ? "" : "REASON_COMMAND_EXECUTOR_FAILED", "Command exited with status " + std::to_string(code));
  }
  return Status::Ok();
}

}  // namespace berth::sim::mesos
