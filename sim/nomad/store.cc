// The state store: the simulated clock and agenda, lookups, and writes. A write takes the next
// value of the one global index, stamps the objects it changes, recomputes the status of the
// jobs they belong to, and becomes one event-stream entry (Raft log entry) whose events all
// carry the write's Type; then blocking queries are woken.

#include <algorithm>
#include <cmath>
#include <ctime>

#include "sim/nomad/internal.h"

namespace berth::sim::nomad {
namespace asio = boost::asio;
namespace {

std::string hex(std::mt19937_64& rng, int digits) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < digits; ++i) out += kHex[rng() % 16];
  return out;
}

}  // namespace

const GroupSpec* Job::group(const std::string& name) const {
  for (const auto& group : groups) {
    if (group.name == name) return &group;
  }
  return nullptr;
}

// ---- time -------------------------------------------------------------------------------

double SimulatorImpl::now() const { return agenda_.now(); }

std::int64_t SimulatorImpl::unix_nanos(double sim_seconds) const { return agenda_.clock().unix_nanos(sim_seconds); }

std::string SimulatorImpl::rfc3339(double sim_seconds) const {
  const std::int64_t nanos = unix_nanos(sim_seconds);
  const auto seconds = static_cast<std::time_t>(nanos / kSecond);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buffer;
  std::string fraction = std::to_string(nanos % kSecond);
  fraction.insert(0, 9 - fraction.size(), '0');
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();  // Go's RFC3339Nano
  if (!fraction.empty()) out += "." + fraction;
  return out + "Z";
}

void SimulatorImpl::after(double sim_delay, std::function<void()> action) { agenda_.after(sim_delay, std::move(action)); }

void SimulatorImpl::advance(double sim_seconds) { agenda_.advance(sim_seconds); }

std::string SimulatorImpl::new_uuid() {
  return hex(rng_, 8) + "-" + hex(rng_, 4) + "-" + hex(rng_, 4) + "-" + hex(rng_, 4) + "-" + hex(rng_, 12);
}

// ---- lookups ----------------------------------------------------------------------------

Job* SimulatorImpl::find_job(const std::string& namespace_name, const std::string& id) {
  auto it = jobs_.find(namespace_name + "/" + id);
  return it == jobs_.end() ? nullptr : &it->second;
}

Alloc* SimulatorImpl::find_alloc(const std::string& id) {
  auto it = allocs_.find(id);
  return it == allocs_.end() ? nullptr : &it->second;
}

Eval* SimulatorImpl::find_eval(const std::string& id) {
  auto it = evals_.find(id);
  return it == evals_.end() ? nullptr : &it->second;
}

Node* SimulatorImpl::find_node(const std::string& id) {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

Node* SimulatorImpl::find_node_by_name(const std::string& name) {
  for (auto& [id, node] : nodes_) {
    if (node.spec.name == name) return &node;
  }
  return nullptr;
}

std::vector<const Alloc*> SimulatorImpl::allocs_of(const Job& job) const {
  std::vector<const Alloc*> out;
  for (const auto& [id, alloc] : allocs_) {
    if (alloc.namespace_name == job.namespace_name && alloc.job_id == job.id && alloc.job_generation == job.generation) {
      out.push_back(&alloc);
    }
  }
  std::sort(out.begin(), out.end(), [](const Alloc* a, const Alloc* b) {
    return std::tie(a->create_index, a->id) < std::tie(b->create_index, b->id);
  });
  return out;
}

std::vector<const Eval*> SimulatorImpl::evals_of(const Job& job) const {
  std::vector<const Eval*> out;
  for (const auto& [id, eval] : evals_) {
    if (eval.namespace_name == job.namespace_name && eval.job_id == job.id && eval.create_index >= job.create_index) {
      out.push_back(&eval);
    }
  }
  std::sort(out.begin(), out.end(), [](const Eval* a, const Eval* b) {
    return std::tie(a->create_index, a->id) < std::tie(b->create_index, b->id);
  });
  return out;
}

// Nomad's getJobStatus: running while any allocation is non-terminal, pending while any
// evaluation is (blocked counts), dead once there were allocations or evaluations and all ended.
std::string SimulatorImpl::job_status(const Job& job) const {
  if (job.type == "system") return job.stop ? "dead" : "running";
  bool has_alloc = false;
  for (const Alloc* alloc : allocs_of(job)) {
    has_alloc = true;
    if (!alloc->terminal()) return "running";
  }
  bool has_eval = false;
  for (const Eval* eval : evals_of(job)) {
    if (!eval->terminal()) return "pending";
    has_eval = true;
  }
  return has_alloc || has_eval ? "dead" : "pending";
}

json::object SimulatorImpl::job_summary(const Job& job) const {
  json::object groups;
  for (const auto& group : job.groups) {
    auto queued = job.queued.find(group.name);
    groups[group.name] = json::object{{"Queued", queued == job.queued.end() ? 0 : queued->second},
                                      {"Complete", 0}, {"Failed", 0}, {"Running", 0},
                                      {"Starting", 0}, {"Lost", 0}, {"Unknown", 0}};
  }
  for (const Alloc* alloc : allocs_of(job)) {
    auto it = groups.find(alloc->group);
    if (it == groups.end()) continue;
    auto& counts = it->value().as_object();
    const std::string& status = alloc->client_status;
    const char* field = status == "pending"    ? "Starting"
                        : status == "running"  ? "Running"
                        : status == "complete" ? "Complete"
                        : status == "failed"   ? "Failed"
                        : status == "lost"     ? "Lost"
                                               : "Unknown";
    counts[field] = counts[field].as_int64() + 1;
  }
  return json::object{{"JobID", job.id},
                      {"Namespace", job.namespace_name},
                      {"Summary", std::move(groups)},
                      {"Children", json::object{{"Pending", 0}, {"Running", 0}, {"Dead", 0}}},
                      {"CreateIndex", job.create_index},
                      {"ModifyIndex", std::max(job.summary_index, job.create_index)}};
}

// ---- writes -----------------------------------------------------------------------------

std::uint64_t SimulatorImpl::begin_write() { return ++index_; }

void SimulatorImpl::end_write(const std::string& type, Changes changes) {
  const std::uint64_t index = index_;
  // Jobs whose status may follow from the changed allocations and evaluations.
  std::set<std::string> affected;
  for (const auto& id : changes.allocs) {
    if (const Alloc* alloc = find_alloc(id)) {
      affected.insert(alloc->namespace_name + "/" + alloc->job_id);
      changes.summaries.push_back(alloc->namespace_name + "/" + alloc->job_id);
    }
  }
  for (const auto& id : changes.evals) {
    if (const Eval* eval = find_eval(id)) affected.insert(eval->namespace_name + "/" + eval->job_id);
  }
  for (const auto& key : changes.jobs) affected.insert(key);
  std::set<std::string> job_keys(changes.jobs.begin(), changes.jobs.end());
  for (const auto& key : affected) {
    auto it = jobs_.find(key);
    if (it == jobs_.end()) continue;
    Job& job = it->second;
    const std::string status = job_status(job);
    if (status != job.status) {
      job.status = status;
      if (status == "dead") job.dead_since = now();
      job.modify_index = index;
      job_keys.insert(key);
    }
  }
  for (const auto& key : changes.summaries) {
    auto it = jobs_.find(key);
    if (it != jobs_.end()) it->second.summary_index = index;
  }
  if (!job_keys.empty() || !changes.removed_jobs.empty()) table_index_["jobs"] = index;
  if (!changes.evals.empty() || changes.evals_removed) table_index_["evals"] = index;
  if (!changes.allocs.empty() || changes.allocs_removed) table_index_["allocs"] = index;
  if (!changes.nodes.empty()) table_index_["nodes"] = index;
  if (!changes.summaries.empty() || !changes.removed_jobs.empty()) table_index_["job_summary"] = index;

  BufferEntry entry;
  entry.index = index;
  auto add = [&](const std::string& topic, const std::string& key, const std::string& namespace_name,
                 std::vector<std::string> filter_keys, const char* payload_key, json::object payload) {
    json::value keys = nullptr;
    if (!filter_keys.empty()) {
      json::array array;
      for (const auto& k : filter_keys) array.push_back(json::string(k));
      keys = std::move(array);
    }
    StreamEvent event;
    event.topic = topic;
    event.key = key;
    event.namespace_name = namespace_name;
    event.filter_keys = std::move(filter_keys);
    event.rendered = json::object{{"Topic", topic},
                                  {"Type", type},
                                  {"Key", key},
                                  {"Namespace", namespace_name},
                                  {"FilterKeys", std::move(keys)},
                                  {"Index", index},
                                  {"Payload", json::object{{payload_key, std::move(payload)}}}};
    entry.events.push_back(std::move(event));
  };
  for (const auto& key : job_keys) {
    auto it = jobs_.find(key);
    if (it == jobs_.end()) continue;
    add("Job", it->second.id, it->second.namespace_name, {}, "Job", job_document(it->second));
  }
  for (auto& removed : changes.removed_jobs) {
    const std::string id(removed.at("ID").as_string());
    const std::string ns(removed.at("Namespace").as_string());
    add("Job", id, ns, {}, "Job", std::move(removed));
  }
  for (const auto& id : changes.evals) {
    if (const Eval* eval = find_eval(id)) {
      add("Evaluation", eval->id, eval->namespace_name, {eval->job_id, ""}, "Evaluation", eval_document(*eval));
    }
  }
  for (const auto& id : changes.allocs) {
    if (const Alloc* alloc = find_alloc(id)) {
      add("Allocation", alloc->id, alloc->namespace_name, {alloc->job_id, ""}, "Allocation",
          strip_job(alloc_document(*alloc, true)));
    }
  }
  for (const auto& id : changes.nodes) {
    if (const Node* node = find_node(id)) add("Node", node->id, "", {}, "Node", node_document(*node));
  }
  if (!entry.events.empty()) {
    buffer_.push_back(entry);
    while (buffer_.size() > std::max<std::size_t>(1, options_.event_buffer_size)) buffer_.pop_front();
    publish(buffer_.back());
  }
  if (!wake_posted_) {
    wake_posted_ = true;
    asio::post(strand_, [self = shared_from_this()] {
      self->wake_posted_ = false;
      self->wake_waiters();
    });
  }
}

}  // namespace berth::sim::nomad
