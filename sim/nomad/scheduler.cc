// The scheduler: evaluations reconcile a job's groups with its allocations (place missing ones,
// stop unneeded ones, replace stopped, lost and reschedulable failed ones) and bin-pack new
// allocations onto ready nodes that pass the job's datacenters, node pool, drivers and
// constraints and have the CPU, cores, memory and devices left. What cannot be placed ends in
// FailedTGAllocs and one blocked evaluation per job, re-run whenever capacity changes. Also the
// nodes: defaults, registration, down and up.

#include <boost/asio/post.hpp>
#include <algorithm>
#include <regex>

#include "sim/nomad/internal.h"

namespace berth::sim::nomad {
namespace asio = boost::asio;
namespace {

constexpr const char* kDevicesExhausted = "devices: no devices match request";

// Datacenter patterns: `*` matches any run of characters.
bool glob_match(const std::string& pattern, const std::string& text) {
  const auto star = pattern.find('*');
  if (star == std::string::npos) return pattern == text;
  if (text.compare(0, star, pattern, 0, star) != 0 || text.size() < star) return false;
  const std::string rest = pattern.substr(star + 1);
  for (std::size_t from = star; from <= text.size(); ++from) {
    if (glob_match(rest, text.substr(from))) return true;
  }
  return false;
}

std::string device_key(const DeviceSpec& device) { return device.vendor + "/" + device.type + "/" + device.model; }

bool device_matches(const std::string& request, const DeviceSpec& device) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto slash = request.find('/', start);
    parts.push_back(request.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos || parts.size() == 3) break;
    start = slash + 1;
  }
  if (parts.size() == 1) return parts[0] == device.type;
  if (parts.size() == 2) return parts[0] == device.vendor && parts[1] == device.type;
  return parts[0] == device.vendor && parts[1] == device.type && parts[2] == device.model;
}

// "${attr.kernel.name}" -> the node's value; anything else is a literal.
std::optional<std::string> resolve_target(const std::string& target, const Node& node) {
  if (target.size() < 3 || target.rfind("${", 0) != 0 || target.back() != '}') return target;
  const std::string name = target.substr(2, target.size() - 3);
  auto lookup = [](const std::map<std::string, std::string>& map, const std::string& key) -> std::optional<std::string> {
    auto it = map.find(key);
    if (it == map.end()) return std::nullopt;
    return it->second;
  };
  if (name.rfind("attr.", 0) == 0) return lookup(node.spec.attributes, name.substr(5));
  if (name.rfind("meta.", 0) == 0) return lookup(node.spec.meta, name.substr(5));
  if (name == "node.datacenter") return node.spec.datacenter;
  if (name == "node.unique.name") return node.spec.name;
  if (name == "node.unique.id") return node.id;
  if (name == "node.class") return node.spec.node_class;
  if (name == "node.pool") return node.spec.node_pool;
  return std::nullopt;
}

// Operands the simulator does not evaluate (distinct_hosts, version, semver, ...) pass.
bool constraint_holds(const Constraint& constraint, const Node& node) {
  const auto left = resolve_target(constraint.ltarget, node);
  const auto right = resolve_target(constraint.rtarget, node);
  const std::string& op = constraint.operand;
  if (op == "=" || op == "==" || op == "is") return left && right && *left == *right;
  if (op == "!=" || op == "not") return !left || !right || *left != *right;
  if (op == "is_set") return left.has_value();
  if (op == "is_not_set") return !left.has_value();
  if (op == "regexp") {
    try {
      return left && right && std::regex_search(*left, std::regex(*right));
    } catch (const std::regex_error&) {
      return false;
    }
  }
  if (op == "set_contains" || op == "set_contains_all" || op == "set_contains_any") {
    if (!left || !right) return false;
    auto items = [](const std::string& text) {
      std::set<std::string> out;
      std::size_t start = 0;
      while (start <= text.size()) {
        auto comma = text.find(',', start);
        std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        if (!item.empty()) out.insert(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      return out;
    };
    const auto have = items(*left);
    const auto want = items(*right);
    if (op == "set_contains_any") {
      return std::any_of(want.begin(), want.end(), [&](const std::string& item) { return have.count(item) > 0; });
    }
    return std::all_of(want.begin(), want.end(), [&](const std::string& item) { return have.count(item) > 0; });
  }
  return true;
}

struct Usage {
  std::int64_t cpu = 0;
  std::int64_t memory_mb = 0;
  int cores = 0;
  std::map<std::string, int> devices;
};

}  // namespace

// ---- evaluations ------------------------------------------------------------------------

Eval& SimulatorImpl::create_eval(const Job& job, const std::string& triggered_by, Changes& changes) {
  Eval eval;
  eval.id = new_uuid();
  eval.namespace_name = job.namespace_name;
  eval.job_id = job.id;
  eval.type = job.type;
  eval.triggered_by = triggered_by;
  eval.priority = job.priority;
  eval.job_modify_index = job.job_modify_index;
  eval.create_index = eval.modify_index = index_;
  eval.create_time = eval.modify_time = unix_nanos(now());
  const std::string id = eval.id;
  changes.evals.push_back(id);
  return evals_[id] = std::move(eval);
}

void SimulatorImpl::schedule_eval(const std::string& eval_id) {
  asio::post(strand_, [self = shared_from_this(), eval_id] { self->process_eval(eval_id); });
}

void SimulatorImpl::process_eval(const std::string& eval_id) {
  Eval* eval = find_eval(eval_id);
  if (stopped_ || !eval || eval->status != "pending") return;
  const std::string namespace_name = eval->namespace_name;
  const std::string job_id = eval->job_id;
  Job* job = find_job(namespace_name, job_id);
  const std::uint64_t plan_index = begin_write();
  const std::int64_t now_ns = unix_nanos(now());
  Changes plan;
  std::vector<std::string> stopped;
  bool freed = false;
  auto stop = [&](Alloc& alloc, const std::string& why) {
    alloc.desired_status = "stop";
    alloc.desired_description = why;
    alloc.modify_index = plan_index;
    alloc.modify_time = now_ns;
    plan.allocs.push_back(alloc.id);
    stopped.push_back(alloc.id);
    freed = true;
  };
  for (auto& [id, alloc] : allocs_) {
    if (alloc.namespace_name != namespace_name || alloc.job_id != job_id || alloc.terminal()) continue;
    const Node* node = find_node(alloc.node_id);
    if (!node || node->status == "down") {
      alloc.desired_status = "stop";
      alloc.desired_description = "alloc is lost since its node is down";
      alloc.client_status = "lost";
      alloc.client_description = "alloc is lost since its node is down";
      alloc.modify_index = plan_index;
      alloc.modify_time = now_ns;
      ++alloc.epoch;
      plan.allocs.push_back(alloc.id);
      freed = true;
    } else if (!job || job->stop || alloc.job_generation != job->generation) {
      stop(alloc, "alloc not needed due to job update");
    }
  }

  std::map<std::string, int> queued;
  json::object failures;
  if (job && !job->stop) {
    for (const auto& group : job->groups) {
      std::map<int, Alloc*> latest;
      for (auto& [id, alloc] : allocs_) {
        if (alloc.namespace_name != namespace_name || alloc.job_id != job_id ||
            alloc.job_generation != job->generation || alloc.group != group.name) {
          continue;
        }
        Alloc*& slot = latest[alloc.name_index];
        if (!slot || std::tie(slot->create_index, slot->id) < std::tie(alloc.create_index, alloc.id)) slot = &alloc;
      }
      std::vector<int> place;
      std::map<int, const Alloc*> previous;  // replaced allocation per name index
      for (auto& [n, alloc] : latest) {
        if (n >= group.count && !alloc->terminal()) stop(*alloc, "alloc not needed due to job update");
      }
      for (int n = 0; n < group.count; ++n) {
        auto it = latest.find(n);
        Alloc* alloc = it == latest.end() ? nullptr : it->second;
        if (!alloc) {
          place.push_back(n);
          continue;
        }
        if (!alloc->terminal()) {
          if (alloc->migrate) {
            stop(*alloc, "alloc is being migrated");
            if (alloc->replace_when_stopped) {
              place.push_back(n);
              previous[n] = alloc;
            }
          } else if (alloc->group_fingerprint != group.fingerprint) {
            stop(*alloc, "alloc is being updated due to job update");
            place.push_back(n);
          } else if (alloc->job_version != job->version) {
            alloc->job_version = job->version;  // in-place update
            alloc->modify_index = plan_index;
            alloc->modify_time = now_ns;
            plan.allocs.push_back(alloc->id);
          }
          continue;
        }
        if (alloc->client_status == "lost") {
          place.push_back(n);
          previous[n] = alloc;
        } else if (alloc->desired_status != "run") {
          if (alloc->migrate && !alloc->replace_when_stopped) continue;
          place.push_back(n);
          if (alloc->migrate) previous[n] = alloc;
        } else if (alloc->client_status == "complete") {
          if (job->type != "batch" && job->type != "sysbatch") place.push_back(n);
        } else if (alloc->client_status == "failed") {
          const bool reschedulable = group.reschedule_unlimited ||
                                     static_cast<int>(alloc->reschedule_events.size()) < group.reschedule_attempts;
          if (reschedulable && alloc->next_allocation.empty()) {
            place.push_back(n);
            previous[n] = alloc;
          }
        }
      }
      int unplaced = 0;
      json::object failure;
      if (!place.empty()) place_group(*job, group, place, *eval, previous, plan, unplaced, failure);
      queued[group.name] = unplaced;
      if (unplaced > 0) failures[group.name] = std::move(failure);
    }
  }
  std::vector<std::string> placed;
  for (const auto& id : plan.allocs) {
    const Alloc* alloc = find_alloc(id);
    if (alloc && alloc->create_index == plan_index) placed.push_back(id);
  }
  if (plan.allocs.empty()) {
    --index_;  // nothing to apply: the plan took no index
  } else {
    end_write("PlanResult", std::move(plan));
  }

  const std::uint64_t index = begin_write();
  eval = find_eval(eval_id);
  Changes update;
  eval->status = "complete";
  eval->snapshot_index = index - 1;
  eval->modify_index = index;
  eval->modify_time = unix_nanos(now());
  eval->failed_tg_allocs = failures;
  eval->queued_allocations.clear();
  for (const auto& [group, count] : queued) eval->queued_allocations[group] = count;
  update.evals.push_back(eval_id);
  if (job) {
    if (!job->stop) job->queued = queued;
    update.summaries.push_back(job->key());
    if (!failures.empty()) {
      // One blocked evaluation per job: a newer one replaces an older one.
      for (auto& [id, other] : evals_) {
        if (other.namespace_name == namespace_name && other.job_id == job_id && other.status == "blocked") {
          other.status = "canceled";
          other.status_description = "evaluation canceled since a newer blocked evaluation exists";
          other.modify_index = index;
          other.modify_time = unix_nanos(now());
          update.evals.push_back(id);
        }
      }
      Eval& blocked = create_eval(*job, "queued-allocs", update);
      blocked.status = "blocked";
      blocked.status_description = "created due to placement conflicts";
      blocked.previous_eval = eval_id;
      blocked.queued_allocations = eval->queued_allocations;
      eval = find_eval(eval_id);
      eval->blocked_eval = blocked.id;
    }
  }
  end_write("EvaluationUpdated", std::move(update));

  for (const auto& id : placed) client_receive(id);
  for (const auto& id : stopped) client_stop(id);
  if (freed) unblock_evals();
}

void SimulatorImpl::place_group(Job& job, const GroupSpec& group, const std::vector<int>& name_indexes, Eval& eval,
                                const std::map<int, const Alloc*>& previous, Changes& changes, int& unplaced,
                                json::object& failure) {
  const std::int64_t started = unix_nanos(now());
  for (int n : name_indexes) {
    // Feasibility and fit, node by node, counting why nodes were passed over.
    int evaluated = 0;
    int filtered = 0;
    int exhausted = 0;
    int in_pool = 0;
    std::map<std::string, int> available;
    std::map<std::string, int> constraint_filtered;
    std::map<std::string, int> dimension_exhausted;
    Node* best = nullptr;
    double best_score = -1;
    std::map<std::string, int> best_devices;
    for (auto& entry : nodes_) {
      Node& node = entry.second;
      if (job.node_pool != "all" && node.spec.node_pool != job.node_pool) continue;
      if (node.status != "ready") continue;
      ++in_pool;
      const bool in_dc = std::any_of(job.datacenters.begin(), job.datacenters.end(),
                                     [&](const std::string& dc) { return glob_match(dc, node.spec.datacenter); });
      if (!in_dc) continue;
      ++available[node.spec.datacenter];
      ++evaluated;
      std::optional<std::string> filter_reason;
      for (const auto& task : group.tasks) {
        auto driver = node.spec.attributes.find("driver." + task.driver);
        if (driver == node.spec.attributes.end() || driver->second == "0" || driver->second == "false") {
          filter_reason = "missing drivers";
          break;
        }
      }
      auto check = [&](const std::vector<Constraint>& constraints) {
        for (const auto& constraint : constraints) {
          if (!filter_reason && !constraint_holds(constraint, node)) filter_reason = constraint.key();
        }
      };
      check(job.constraints);
      check(group.constraints);
      for (const auto& task : group.tasks) check(task.constraints);
      if (filter_reason) {
        ++filtered;
        ++constraint_filtered[*filter_reason];
        continue;
      }
      Usage used;
      for (const auto& [id, alloc] : allocs_) {
        if (alloc.node_id != node.id || alloc.terminal()) continue;
        used.cpu += alloc.cpu;
        used.memory_mb += alloc.memory_mb;
        used.cores += alloc.cores;
        for (const auto& [key, count] : alloc.devices) used.devices[key] += count;
      }
      const std::int64_t mhz_per_core = node.spec.cores > 0 ? node.spec.cpu_mhz / node.spec.cores : 0;
      std::int64_t cpu = 0;
      std::int64_t memory = 0;
      int cores = 0;
      for (const auto& task : group.tasks) {
        cpu += task.cpu + task.cores * mhz_per_core;
        memory += task.memory_mb;
        cores += task.cores;
      }
      std::optional<std::string> dimension;
      if (used.cpu + cpu > node.spec.cpu_mhz) dimension = "cpu";
      if (!dimension && used.cores + cores > node.spec.cores) dimension = "cores";
      if (!dimension && used.memory_mb + memory > node.spec.memory_mb) dimension = "memory";
      std::map<std::string, int> devices;
      if (!dimension) {
        for (const auto& task : group.tasks) {
          for (const auto& request : task.devices) {
            bool found = false;
            for (const auto& device : node.spec.devices) {
              const std::string key = device_key(device);
              if (device_matches(request.name, device) &&
                  device.count - used.devices[key] - devices[key] >= request.count) {
                devices[key] += request.count;
                found = true;
                break;
              }
            }
            if (!found) dimension = kDevicesExhausted;
          }
        }
      }
      if (dimension) {
        ++exhausted;
        ++dimension_exhausted[*dimension];
        continue;
      }
      // Bin packing: prefer the node this allocation fills most.
      const double score = static_cast<double>(used.cpu + cpu) / static_cast<double>(std::max<std::int64_t>(1, node.spec.cpu_mhz)) +
                           static_cast<double>(used.memory_mb + memory) /
                               static_cast<double>(std::max<std::int64_t>(1, node.spec.memory_mb));
      if (score > best_score) {
        best_score = score;
        best = &node;
        best_devices = devices;
      }
    }
    auto counts = [](const std::map<std::string, int>& map) -> json::value {
      if (map.empty()) return nullptr;
      json::object out;
      for (const auto& [k, v] : map) out[k] = v;
      return out;
    };
    json::object metrics{{"NodesEvaluated", evaluated},
                         {"NodesFiltered", filtered},
                         {"NodesInPool", in_pool},
                         {"NodePool", job.node_pool},
                         {"NodesAvailable", counts(available).is_null() ? json::value(json::object{}) : counts(available)},
                         {"ClassFiltered", nullptr},
                         {"ConstraintFiltered", counts(constraint_filtered)},
                         {"NodesExhausted", exhausted},
                         {"ClassExhausted", nullptr},
                         {"DimensionExhausted", counts(dimension_exhausted)},
                         {"QuotaExhausted", nullptr},
                         {"ResourcesExhausted", nullptr},
                         {"Scores", nullptr},
                         {"ScoreMetaData", nullptr},
                         {"AllocationTime", std::max<std::int64_t>(1, unix_nanos(now()) - started)},
                         {"CoalescedFailures", 0}};
    if (!best) {
      ++unplaced;
      if (failure.empty()) {
        failure = std::move(metrics);
      } else {
        failure["CoalescedFailures"] = failure["CoalescedFailures"].as_int64() + 1;
      }
      continue;
    }
    Alloc alloc;
    alloc.id = new_uuid();
    alloc.eval_id = eval.id;
    alloc.name = job.id + "." + group.name + "[" + std::to_string(n) + "]";
    alloc.name_index = n;
    alloc.namespace_name = job.namespace_name;
    alloc.node_id = best->id;
    alloc.node_name = best->spec.name;
    alloc.job_id = job.id;
    alloc.job_type = job.type;
    alloc.job_version = job.version;
    alloc.job_generation = job.generation;
    alloc.group = group.name;
    alloc.group_fingerprint = group.fingerprint;
    alloc.client_description = "No tasks have started";
    alloc.restart_attempts = group.restart_attempts;
    alloc.restart_delay_ns = group.restart_delay_ns;
    alloc.restart_interval_ns = group.restart_interval_ns;
    alloc.metrics = std::move(metrics);
    alloc.metrics["ScoreMetaData"] = json::array{json::object{
        {"NodeID", best->id}, {"Scores", json::object{{"binpack", best_score / 2}}}, {"NormScore", best_score / 2}}};
    const std::int64_t mhz_per_core = best->spec.cores > 0 ? best->spec.cpu_mhz / best->spec.cores : 0;
    json::object task_resources;
    int next_core = 0;
    std::map<std::string, int> device_cursor;
    for (const auto& task : group.tasks) {
      TaskRun run;
      run.name = task.name;
      run.driver = task.driver;
      run.image = task.image;
      run.kill_timeout_ns = task.kill_timeout_ns;
      run.behaviour = task.behaviour;
      alloc.tasks.push_back(std::move(run));
      alloc.cpu += task.cpu + task.cores * mhz_per_core;
      alloc.memory_mb += task.memory_mb;
      alloc.cores += task.cores;
      json::array reserved;
      for (int c = 0; c < task.cores; ++c) reserved.push_back(next_core++);
      json::array devices;
      for (const auto& request : task.devices) {
        for (const auto& device : best->spec.devices) {
          if (!device_matches(request.name, device)) continue;
          json::array ids;
          for (int i = 0; i < request.count; ++i) {
            ids.push_back(json::string("GPU-" + best->spec.name + "-" + std::to_string(device_cursor[device_key(device)]++)));
          }
          devices.push_back(json::object{{"Vendor", device.vendor}, {"Type", device.type}, {"Name", device.model},
                                         {"DeviceIDs", std::move(ids)}});
          break;
        }
      }
      task_resources[task.name] = json::object{
          {"Cpu", json::object{{"CpuShares", task.cpu + task.cores * mhz_per_core}, {"ReservedCores", std::move(reserved)}}},
          {"Memory", json::object{{"MemoryMB", task.memory_mb}, {"MemoryMaxMB", 0}}},
          {"Networks", nullptr},
          {"Devices", devices.empty() ? json::value(nullptr) : json::value(std::move(devices))}};
    }
    alloc.devices = best_devices;
    alloc.allocated_resources = json::object{{"Tasks", std::move(task_resources)},
                                             {"Shared", json::object{{"DiskMB", 300}, {"Networks", nullptr}, {"Ports", nullptr}}}};
    auto prev = previous.find(n);
    if (prev != previous.end()) {
      Alloc* old = find_alloc(prev->second->id);
      alloc.previous_allocation = old->id;
      if (old->client_status == "failed") {
        alloc.reschedule_events = old->reschedule_events;
        alloc.reschedule_events.push_back(json::object{{"RescheduleTime", unix_nanos(now())},
                                                       {"PrevAllocID", old->id},
                                                       {"PrevNodeID", old->node_id},
                                                       {"Delay", group.reschedule_delay_ns}});
      }
      old->next_allocation = alloc.id;
      old->modify_index = index_;
      old->modify_time = unix_nanos(now());
      changes.allocs.push_back(old->id);
    }
    alloc.create_index = alloc.modify_index = index_;
    alloc.create_time = alloc.modify_time = unix_nanos(now());
    changes.allocs.push_back(alloc.id);
    allocs_[alloc.id] = std::move(alloc);
  }
}

void SimulatorImpl::unblock_evals() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->stopped_) return;
    std::vector<std::string> ids;
    for (const auto& [id, eval] : self->evals_) {
      if (eval.status == "blocked") ids.push_back(id);
    }
    if (ids.empty()) return;
    const std::uint64_t index = self->begin_write();
    Changes changes;
    for (const auto& id : ids) {
      Eval& eval = self->evals_[id];
      eval.status = "pending";
      eval.modify_index = index;
      eval.modify_time = self->unix_nanos(self->now());
      changes.evals.push_back(id);
    }
    self->end_write("EvaluationUpdated", std::move(changes));
    for (const auto& id : ids) self->process_eval(id);
  });
}

// ---- nodes ------------------------------------------------------------------------------

void SimulatorImpl::init_nodes() {
  std::vector<NodeSpec> specs = options_.nodes;
  if (specs.empty()) {
    for (int i = 1; i <= 3; ++i) {
      NodeSpec spec;
      spec.name = "sim-node-" + std::to_string(i);
      specs.push_back(spec);
    }
    NodeSpec gpu;
    gpu.name = "sim-gpu-node-1";
    gpu.cpu_mhz = 32'000;
    gpu.memory_mb = 131'072;
    gpu.cores = 32;
    gpu.devices.push_back(DeviceSpec{"nvidia", "gpu", "Tesla T4", 4});
    specs.push_back(gpu);
  }
  for (const auto& spec : specs) {
    if (Status s = add_node(spec); !s.ok()) throw std::invalid_argument(s.message());
  }
}

Status SimulatorImpl::add_node(const NodeSpec& input) {
  if (input.name.empty()) return Status::InvalidArgument("node needs a name");
  if (input.cpu_mhz <= 0 || input.memory_mb <= 0 || input.cores < 0) {
    return Status::InvalidArgument("node " + input.name + ": cpu_mhz and memory_mb must be > 0");
  }
  NodeSpec spec = input;
  const std::map<std::string, std::string> defaults{
      {"kernel.name", "linux"},        {"os.name", "ubuntu"},          {"cpu.arch", "amd64"},
      {"unique.hostname", spec.name},  {"driver.docker", "1"},         {"driver.exec", "1"},
      {"driver.raw_exec", "1"},        {"driver.java", "1"},           {"driver.mock_driver", "1"},
      {"nomad.version", "1.10.0"},     {"cpu.numcores", std::to_string(spec.cores)},
      {"memory.totalbytes", std::to_string(spec.memory_mb * 1024 * 1024)}};
  for (const auto& [k, v] : defaults) spec.attributes.emplace(k, v);
  const std::uint64_t index = begin_write();
  Node* existing = find_node_by_name(spec.name);
  Node node;
  node.spec = std::move(spec);
  node.id = existing ? existing->id : new_uuid();
  node.create_index = existing ? existing->create_index : index;
  node.modify_index = index;
  node.status = existing ? existing->status : "ready";
  const std::string id = node.id;
  nodes_[id] = std::move(node);
  Changes changes;
  changes.nodes.push_back(id);
  end_write("NodeRegistration", std::move(changes));
  unblock_evals();
  return Status::Ok();
}

Status SimulatorImpl::set_node_status(const std::string& name, bool up) {
  Node* node = find_node_by_name(name);
  if (!node) return Status::NotFound("node " + name + " not found");
  const std::string status = up ? "ready" : "down";
  if (node->status == status) return Status::Ok();
  const std::uint64_t index = begin_write();
  node->status = status;
  node->modify_index = index;
  Changes changes;
  changes.nodes.push_back(node->id);
  std::vector<std::string> evals;
  if (!up) {
    // A down node reports nothing more; the servers mark its allocations lost.
    std::set<std::string> jobs;
    for (auto& [id, alloc] : allocs_) {
      if (alloc.node_id != node->id || alloc.terminal()) continue;
      ++alloc.epoch;
      jobs.insert(alloc.namespace_name + "/" + alloc.job_id);
    }
    for (const auto& key : jobs) {
      auto it = jobs_.find(key);
      if (it == jobs_.end()) continue;
      Eval& eval = create_eval(it->second, "node-update", changes);
      eval.node_id = node->id;
      evals.push_back(eval.id);
    }
  }
  end_write("NodeEvent", std::move(changes));
  for (const auto& id : evals) schedule_eval(id);
  if (up) unblock_evals();
  return Status::Ok();
}

}  // namespace berth::sim::nomad
