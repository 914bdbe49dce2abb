#pragma once
// NomadBackend: executors as Nomad batch jobs (job_spec.h), one per executor, in one namespace
// and region, reached over HTTP(S) with keep-alive pooling and an ACL token.
//
// Observation: a snapshot (jobs whose ID starts with "<name_prefix>-", with their Meta, and the
// namespace's allocations) followed by the event stream (topics Job, Allocation and Evaluation)
// from the snapshot's index + 1. The stream is lossy by design, so every reconnect starts with a
// new snapshot, and core's periodic list() is a snapshot that also corrects the cache (a list()
// made while a resync's snapshot is under way, as core's first one at start-up, is answered by
// that snapshot: jobs and allocations are listed once). Changes are deduplicated by
// ModifyIndex, so a snapshot older than the events already applied changes nothing. When the
// event stream is refused (an ACL token without the right, an agent without /v1/event/stream),
// blocking queries on the allocations list replace it. on_health reports the pool unavailable
// while Nomad cannot be listed or streamed, and OK once it can.
//
// Launch registers the job create-only (EnforceIndex with index 0): 200 OK; "job already exists"
// kAlreadyExists (adoption; a stopped job is never started again); validation errors (HTTP 500
// "1 error occurred: ...") and 400 kInvalidArgument; 403 kPermissionDenied (after re-reading a
// token file and trying once more); 429, "No cluster leader" and other 5xx kUnavailable.
// Placement failures are not errors: the executor stays pending with the blocked evaluation's
// reason until Nomad places it (as an unschedulable pod stays pending on Kubernetes).
//
// An executor is its job's first allocation. When its node is lost or someone stops it, Nomad
// places a replacement in the same job whatever the reschedule policy; that one is not the
// executor: its end is reported, then the job as live again, so that core stops the job.
//
// The cache holds live executors: a job whose end has been reported (by an observation or a
// list() answer) is forgotten once Nomad is done with it (dead, or stopped with nothing left
// running) and Berth's kill of it, if any, has been answered. A bounded window of the jobs
// forgotten last, and the index of the last snapshot applied, keep a later event, launch answer
// or snapshot of such a job from bringing it back: it is not reported again (nor listed), unless
// someone runs it again. At start-up, jobs Nomad is done with are reported once if core has their
// executor live (recover()), not at all otherwise.
//
// Kill deregisters the job (purge when configured): one DELETE, nothing else. Nomad stops the task
// with the job's KillTimeout (SIGTERM, then SIGKILL), so core's per-kill grace is not used. A job
// Berth purged is reported at once as the exit of Berth's kill (kExited, not deleted externally),
// as is one it stopped once its allocation has ended. Jobs without Berth's Meta are never listed
// or touched.
//
// Jitter comes from the TimeSource given (adapters/common/time_source.h).
//
// Thread-safety: not thread-safe. Every method must be called on the executor given at
// construction (core's strand); completions and BackendSink calls run on it, never inside the
// call. stop() and the destructor end the stream; jobs keep running.

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>

#include "adapters/common/time_source.h"
#include "adapters/nomad/nomad_config.h"
#include "core/backend.h"

namespace berth {

class NomadBackend final : public Backend {
 public:
  // `name_prefix`: core's prefix of backend names; Berth's jobs are listed by it.
  NomadBackend(boost::asio::any_io_executor strand, PoolName pool, NomadPoolConfig config, std::string daemon_id,
               std::string name_prefix, adapters::TimeSource time = adapters::real_time_source());
  ~NomadBackend() override;
  NomadBackend(const NomadBackend&) = delete;
  NomadBackend& operator=(const NomadBackend&) = delete;

  std::string type() const override { return "nomad"; }
  // A job is stopped with its own KillTimeout, not the kill's grace.
  BackendCapabilities capabilities() const override { return {.honours_kill_grace = false}; }

  // Remembers which executors core has live, so that start-up reports only their dead jobs.
  void recover(const BackendRecovery& recovery) override;
  void start(BackendSink* sink) override;
  void stop() override;
  void launch(const LaunchRequest& request, Callback<Status> done) override;
  void kill(const KillRequest& request, Callback<Status> done) override;
  void list(Callback<StatusOr<std::vector<BackendObject>>> done) override;

  // How many jobs the adapter keeps in its cache (for tests; call it on the strand).
  std::size_t cached_jobs() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

std::unique_ptr<Backend> make_nomad_backend(boost::asio::any_io_executor strand, PoolName pool, NomadPoolConfig config,
                                            std::string daemon_id, std::string name_prefix,
                                            adapters::TimeSource time = adapters::real_time_source());

}  // namespace berth
