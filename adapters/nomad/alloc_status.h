#pragma once
// Nomad jobs, allocations and evaluations read as Berth observations, with Spark's loss reasons:
// the executor task's exit code, signal and OOM from its last Terminated event, driver failures
// (the executor never started: a launch failure), lost allocations with their node, placement
// failures from a blocked evaluation's FailedTGAllocs as pending with the reason.
//
// What the adapter keeps per job is compact (JobState): never the allocation's JSON.
//
// Pure; thread-safe.

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "core/backend.h"

namespace berth::nomad {

// Berth's ids from a job's Meta; nullopt when the job is not Berth's (no daemon key).
struct JobIdentity {
  std::string job_id;
  std::string daemon_id;
  AppId app;
  ExecutorId executor = 0;
  ProfileId profile = 0;
  PoolName pool;
};
std::optional<JobIdentity> identity_of(const boost::json::object& job);

// One allocation as far as Berth cares.
struct AllocState {
  std::string id;
  std::uint64_t create_index = 0;
  std::uint64_t modify_index = 0;
  ObservedPhase phase = ObservedPhase::kPending;
  bool stop_desired = false;  // DesiredStatus stop or evict
  std::optional<std::int32_t> exit_code;
  bool oom_killed = false;
  bool start_failed = false;
  std::string host;
  std::string reason;
  std::string message;
};

// `executor_task` names the task whose state is the executor's (others are sidecars).
AllocState alloc_state(const boost::json::object& alloc, const std::string& executor_task);

struct JobState {
  JobIdentity identity;
  std::uint64_t create_index = 0;       // the job's CreateIndex (0 = not known yet)
  std::uint64_t modify_index = 0;
  bool stopped = false;                 // Stop: true (deregistered without purge, or `nomad job stop`)
  bool dead = false;                    // Status: dead (every allocation ended, none to come)
  // The executor's allocation: the job's first (lowest CreateIndex). Nomad never restarts or
  // reschedules it, but replaces it when its node is lost or someone stops it (`nomad alloc
  // stop`), whatever the job's policies; such a later allocation is not the executor.
  std::optional<AllocState> alloc;
  std::optional<AllocState> replacement;  // the latest allocation Nomad placed after it
  bool alloc_stopped_by_others = false; // the executor's allocation was stopped or evicted while the job was not
  std::string placement_failure;        // why the last evaluation could not place it ("" = none)
  bool end_reported = false;            // the adapter's last report of it was its end
};

// The job's state as a BackendObject. `killed_by_berth`: Berth deregistered it.
BackendObject to_object(const JobState& job, bool killed_by_berth);
// Whether what to_object and replacement_object report of the job is its end: nothing of it
// runs or is about to as far as Berth is concerned.
bool reported_ended(const JobState& job, bool killed_by_berth);
// Whether Nomad is done with the job: dead, or stopped, with no allocation left running or
// pending, so nothing more will happen to it but its garbage collection.
bool settled(const JobState& job);
// The newest index of anything known of the job (the job, its allocations).
std::uint64_t last_index(const JobState& job);
// What Nomad runs in place of the executor after its end (a lost or stopped allocation's
// replacement), as a live object for core to stop; reported after to_object's end, so core has
// recorded that end first. nullopt when nothing of the job runs or is about to.
std::optional<BackendObject> replacement_object(const JobState& job);
// The job no longer exists (purged, or garbage-collected), or was stopped before it had an
// allocation. After Berth's own deregistration (`killed_by_berth`) that is the exit of its kill
// (kExited, with the allocation's exit code if its end was seen), else kGone, deleted externally.
BackendObject gone_object(const JobState& job, bool killed_by_berth);

// A task group's AllocMetric (an evaluation's FailedTGAllocs entry) as one sentence:
// "0 of 4 nodes fit: 3 exhausted (memory: 3), 1 filtered (${attr.kernel.name} = linux: 1)".
std::string placement_failure_text(const boost::json::object& metric);

}  // namespace berth::nomad
