// Garbage collection, as Nomad's servers run it: a stopped or finished job stays readable (dead)
// until it has been dead for job_gc_threshold, then it goes with its evaluations and allocations;
// what a purged job left behind goes once terminal for eval_gc_threshold. A pass runs every
// gc_interval of simulated time, or at once, thresholds aside, on PUT /v1/system/gc. The jobs it
// removes are one write whose events have the type JobBatchDeregistered, as in Nomad.

#include <set>

#include "sim/nomad/internal.h"

namespace berth::sim::nomad {
namespace {

double seconds(std::chrono::milliseconds duration) { return static_cast<double>(duration.count()) / 1000.0; }

}  // namespace

void SimulatorImpl::schedule_gc() {
  const double interval = seconds(options_.gc_interval);
  if (interval <= 0) return;
  after(interval, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self || self->stopped_) return;
    self->collect_garbage(false);
    self->schedule_gc();
  });
}

SimulatorImpl::Collected SimulatorImpl::collect_garbage(bool forced) {
  const double now_seconds = now();
  const std::int64_t eval_cutoff = unix_nanos(now_seconds - seconds(options_.eval_gc_threshold));
  auto job_old_enough = [&](const Job& job) {
    return forced || now_seconds - job.dead_since >= seconds(options_.job_gc_threshold);
  };

  // Jobs: dead long enough, every allocation of every generation stopped on its client, every
  // evaluation done.
  std::set<std::string> collected_keys;  // Job::key()
  for (const auto& [key, job] : jobs_) {
    if (job.status != "dead" || !job_old_enough(job)) continue;
    bool settled = true;
    for (const auto& [id, alloc] : allocs_) {
      if (alloc.namespace_name == job.namespace_name && alloc.job_id == job.id && !alloc.client_terminal()) {
        settled = false;
        break;
      }
    }
    for (const auto& [id, eval] : evals_) {
      if (!settled) break;
      if (eval.namespace_name == job.namespace_name && eval.job_id == job.id && !eval.terminal()) settled = false;
    }
    if (settled) collected_keys.insert(key);
  }
  // Allocations and evaluations of a collected job go with it; those no job holds any more (a
  // purged job's, an earlier generation's) once terminal for eval_gc_threshold.
  auto held_by = [this](const std::string& namespace_name, const std::string& job_id, std::uint64_t generation) {
    auto it = jobs_.find(namespace_name + "/" + job_id);
    return it != jobs_.end() && it->second.generation == generation;
  };
  std::vector<std::string> alloc_ids;
  for (const auto& [id, alloc] : allocs_) {
    const std::string key = alloc.namespace_name + "/" + alloc.job_id;
    if (collected_keys.count(key) > 0 ||
        (!held_by(alloc.namespace_name, alloc.job_id, alloc.job_generation) && alloc.client_terminal() &&
         (forced || alloc.modify_time <= eval_cutoff))) {
      alloc_ids.push_back(id);
    }
  }
  std::vector<std::string> eval_ids;
  for (const auto& [id, eval] : evals_) {
    const std::string key = eval.namespace_name + "/" + eval.job_id;
    if (collected_keys.count(key) > 0 ||
        (jobs_.count(key) == 0 && eval.terminal() && (forced || eval.modify_time <= eval_cutoff))) {
      eval_ids.push_back(id);
    }
  }
  Collected collected{collected_keys.size(), eval_ids.size(), alloc_ids.size()};
  if (collected_keys.empty() && alloc_ids.empty() && eval_ids.empty()) return collected;

  const std::uint64_t index = begin_write();
  Changes changes;
  for (const auto& key : collected_keys) {
    auto it = jobs_.find(key);
    it->second.modify_index = index;
    changes.removed_jobs.push_back(job_document(it->second));
    jobs_.erase(it);
  }
  for (const auto& id : alloc_ids) allocs_.erase(id);
  for (const auto& id : eval_ids) evals_.erase(id);
  changes.allocs_removed = !alloc_ids.empty();
  changes.evals_removed = !eval_ids.empty();
  end_write("JobBatchDeregistered", std::move(changes));
  return collected;
}

}  // namespace berth::sim::nomad
