// JSON documents as Nomad renders them (PascalCase Go field names, durations and times in
// nanoseconds, TaskState times as RFC 3339), plus Go-style duration parsing and go-multierror
// formatting.

#include <cmath>
#include <regex>

#include "sim/nomad/internal.h"

namespace berth::sim::nomad {

std::string format_go_duration(std::int64_t ns) {
  if (ns == 0) return "0s";
  std::string out;
  if (ns < 0) {
    out = "-";
    ns = -ns;
  }
  if (ns < kSecond) {
    if (ns % 1'000'000 == 0) return out + std::to_string(ns / 1'000'000) + "ms";
    return out + std::to_string(ns) + "ns";
  }
  const std::int64_t hours = ns / (3600 * kSecond);
  const std::int64_t minutes = ns / (60 * kSecond) % 60;
  const std::int64_t seconds = ns / kSecond % 60;
  const std::int64_t fraction = ns % kSecond;
  if (hours > 0) out += std::to_string(hours) + "h";
  if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m";
  out += std::to_string(seconds);
  if (fraction > 0) {
    std::string digits = std::to_string(fraction);
    digits.insert(0, 9 - digits.size(), '0');
    while (digits.back() == '0') digits.pop_back();
    out += "." + digits;
  }
  return out + "s";
}

std::optional<std::int64_t> parse_go_duration(const std::string& text) {
  if (text == "0") return 0;
  static const std::regex kPart("([0-9]*\\.?[0-9]+)(ns|us|\xC2\xB5s|ms|s|m|h)");
  std::string rest = text;
  double sign = 1;
  if (!rest.empty() && (rest[0] == '-' || rest[0] == '+')) {
    if (rest[0] == '-') sign = -1;
    rest.erase(0, 1);
  }
  if (rest.empty()) return std::nullopt;
  double total = 0;
  std::smatch match;
  while (!rest.empty()) {
    if (!std::regex_search(rest, match, kPart, std::regex_constants::match_continuous)) return std::nullopt;
    const double value = std::stod(match[1].str());
    const std::string unit = match[2].str();
    const double scale = unit == "ns" ? 1 : unit == "ms" ? 1e6 : unit == "s" ? 1e9 : unit == "m" ? 60e9
                         : unit == "h" ? 3600e9 : 1e3;
    total += value * scale;
    rest = match.suffix().str();
  }
  return static_cast<std::int64_t>(std::llround(sign * total));
}

std::optional<double> parse_seconds(const std::string& text) {
  static const std::regex kNumber("\\s*[0-9]+(\\.[0-9]+)?\\s*");
  if (std::regex_match(text, kNumber)) return std::stod(text);
  auto ns = parse_go_duration(text);
  if (!ns || *ns < 0) return std::nullopt;
  return static_cast<double>(*ns) / 1e9;
}

std::string multierror(const std::vector<std::string>& errors) {
  if (errors.size() == 1) return "1 error occurred:\n\t* " + errors[0] + "\n\n";
  std::string out = std::to_string(errors.size()) + " errors occurred:\n\t";
  for (std::size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) out += "\n\t";
    out += "* " + errors[i];
  }
  return out + "\n\n";
}

json::object strip_job(json::object alloc) {
  alloc.erase("Job");
  return alloc;
}

// ---- jobs -------------------------------------------------------------------------------

json::object SimulatorImpl::job_document(const Job& job) const {
  json::object out = job.spec;
  out["Stop"] = job.stop;
  out["Status"] = job.status;
  out["StatusDescription"] = "";
  out["Stable"] = false;
  out["Version"] = job.version;
  out["SubmitTime"] = job.submit_time;
  out["CreateIndex"] = job.create_index;
  out["ModifyIndex"] = job.modify_index;
  out["JobModifyIndex"] = job.job_modify_index;
  return out;
}

json::object SimulatorImpl::job_stub(const Job& job, bool with_meta) const {
  const auto& spec = job.spec;
  auto field = [&](const char* key) -> json::value {
    auto it = spec.find(key);
    return it == spec.end() ? json::value(nullptr) : it->value();
  };
  return json::object{{"ID", job.id},
                      {"ParentID", field("ParentID").is_string() ? field("ParentID") : json::value("")},
                      {"Name", field("Name")},
                      {"Namespace", job.namespace_name},
                      {"Datacenters", field("Datacenters")},
                      {"Multiregion", nullptr},
                      {"Type", job.type},
                      {"Priority", job.priority},
                      {"Periodic", false},
                      {"ParameterizedJob", false},
                      {"Stop", job.stop},
                      {"Status", job.status},
                      {"StatusDescription", ""},
                      {"JobSummary", job_summary(job)},
                      {"CreateIndex", job.create_index},
                      {"ModifyIndex", job.modify_index},
                      {"JobModifyIndex", job.job_modify_index},
                      {"SubmitTime", job.submit_time},
                      {"NodePool", job.node_pool},
                      {"Version", job.version},
                      {"Meta", with_meta ? field("Meta") : json::value(nullptr)}};
}

// ---- allocations --------------------------------------------------------------------------

json::object SimulatorImpl::alloc_document(const Alloc& alloc, bool full) const {
  json::object states;
  for (const auto& task : alloc.tasks) {
    states[task.name] = json::object{{"State", task.state},
                                     {"Failed", task.failed},
                                     {"Restarts", task.restarts},
                                     {"LastRestart", task.last_restart},
                                     {"StartedAt", task.started_at},
                                     {"FinishedAt", task.finished_at},
                                     {"Events", task.events}};
  }
  json::value tracker = nullptr;
  if (!alloc.reschedule_events.empty()) tracker = json::object{{"Events", alloc.reschedule_events}};
  json::object out{{"ID", alloc.id},
                   {"EvalID", alloc.eval_id},
                   {"Name", alloc.name},
                   {"Namespace", alloc.namespace_name},
                   {"NodeID", alloc.node_id},
                   {"NodeName", alloc.node_name},
                   {"JobID", alloc.job_id},
                   {"JobType", alloc.job_type},
                   {"JobVersion", alloc.job_version},
                   {"TaskGroup", alloc.group},
                   {"DesiredStatus", alloc.desired_status},
                   {"DesiredDescription", alloc.desired_description},
                   {"DesiredTransition", alloc.migrate ? json::object{{"Migrate", true}} : json::object{}},
                   {"ClientStatus", alloc.client_status},
                   {"ClientDescription", alloc.client_description},
                   {"TaskStates", std::move(states)},
                   {"DeploymentStatus", nullptr},
                   {"FollowupEvalID", ""},
                   {"NextAllocation", alloc.next_allocation},
                   {"PreviousAllocation", alloc.previous_allocation},
                   {"RescheduleTracker", std::move(tracker)},
                   {"PreemptedAllocations", nullptr},
                   {"PreemptedByAllocation", ""},
                   {"CreateIndex", alloc.create_index},
                   {"ModifyIndex", alloc.modify_index},
                   {"CreateTime", alloc.create_time},
                   {"ModifyTime", alloc.modify_time}};
  if (full) {
    out["AllocModifyIndex"] = alloc.modify_index;
    out["Metrics"] = alloc.metrics;
    out["AllocatedResources"] = alloc.allocated_resources;
    auto job = jobs_.find(alloc.namespace_name + "/" + alloc.job_id);
    if (job != jobs_.end() && job->second.generation == alloc.job_generation) {
      out["Job"] = job_document(job->second);
    } else {
      out["Job"] = nullptr;
    }
  }
  return out;
}

// ---- evaluations --------------------------------------------------------------------------

json::object SimulatorImpl::eval_document(const Eval& eval) const {
  return json::object{{"ID", eval.id},
                      {"Namespace", eval.namespace_name},
                      {"Priority", eval.priority},
                      {"Type", eval.type},
                      {"TriggeredBy", eval.triggered_by},
                      {"JobID", eval.job_id},
                      {"JobModifyIndex", eval.job_modify_index},
                      {"NodeID", eval.node_id},
                      {"NodeModifyIndex", 0},
                      {"DeploymentID", ""},
                      {"Status", eval.status},
                      {"StatusDescription", eval.status_description},
                      {"Wait", 0},
                      {"WaitUntil", kZeroTime},
                      {"NextEval", ""},
                      {"PreviousEval", eval.previous_eval},
                      {"BlockedEval", eval.blocked_eval},
                      {"RelatedEvals", nullptr},
                      {"FailedTGAllocs", eval.failed_tg_allocs.empty() ? json::value(nullptr)
                                                                      : json::value(eval.failed_tg_allocs)},
                      {"ClassEligibility", nullptr},
                      {"EscapedComputedClass", false},
                      {"QuotaLimitReached", ""},
                      {"QueuedAllocations", eval.queued_allocations.empty() ? json::value(nullptr)
                                                                            : json::value(eval.queued_allocations)},
                      {"SnapshotIndex", eval.snapshot_index},
                      {"CreateIndex", eval.create_index},
                      {"ModifyIndex", eval.modify_index},
                      {"CreateTime", eval.create_time},
                      {"ModifyTime", eval.modify_time}};
}

// ---- nodes ------------------------------------------------------------------------------

json::object SimulatorImpl::node_document(const Node& node) const {
  json::object attributes;
  for (const auto& [k, v] : node.spec.attributes) attributes[k] = v;
  json::object meta;
  for (const auto& [k, v] : node.spec.meta) meta[k] = v;
  json::array cores;
  for (int i = 0; i < node.spec.cores; ++i) cores.push_back(i);
  json::array devices;
  int device_number = 0;
  for (const auto& device : node.spec.devices) {
    json::array instances;
    for (int i = 0; i < device.count; ++i) {
      instances.push_back(json::object{{"ID", "GPU-" + node.spec.name + "-" + std::to_string(device_number++)},
                                       {"Healthy", true}});
    }
    devices.push_back(json::object{{"Vendor", device.vendor}, {"Type", device.type}, {"Name", device.model},
                                   {"Instances", std::move(instances)}});
  }
  return json::object{
      {"ID", node.id},
      {"Name", node.spec.name},
      {"Datacenter", node.spec.datacenter},
      {"NodePool", node.spec.node_pool},
      {"NodeClass", node.spec.node_class},
      {"Attributes", std::move(attributes)},
      {"Meta", std::move(meta)},
      {"Status", node.status},
      {"StatusDescription", ""},
      {"SchedulingEligibility", "eligible"},
      {"Drain", false},
      {"NodeResources",
       json::object{{"Cpu", json::object{{"CpuShares", node.spec.cpu_mhz},
                                          {"TotalCpuCores", node.spec.cores},
                                          {"ReservableCpuCores", std::move(cores)}}},
                    {"Memory", json::object{{"MemoryMB", node.spec.memory_mb}}},
                    {"Devices", std::move(devices)}}},
      {"CreateIndex", node.create_index},
      {"ModifyIndex", node.modify_index}};
}

}  // namespace berth::sim::nomad
