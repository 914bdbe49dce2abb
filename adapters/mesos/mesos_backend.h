#pragma once
// MesosBackend: one Mesos framework per pool, for every application of the daemon. It subscribes
// once over the v1 scheduler HTTP API (JSON, RecordIO stream), places the pending executors of
// all applications on the offers it receives, and reports task status updates.
//
// Subscription: SUBSCRIBE with capabilities MULTI_ROLE, GPU_RESOURCES, PARTITION_AWARE and
// TASK_KILLING_STATE, a long failover timeout and checkpointing, so that executors survive a
// berthd restart; the framework id Mesos assigns is saved durably (as adapter state through
// BackendSink::save_state, given back by recover() at the next start) before any task is
// launched, and every later subscription re-registers as the same framework. A non-leading master's 307 is followed (its Location is protocol-relative);
// connection errors rotate through the configured masters with a capped backoff; a subscription
// that is silent for five heartbeat intervals is dropped and re-made. Every (re)subscription
// starts with reconciliation (implicit, and explicit for the tasks known), and reconciliation
// repeats every reconcile_interval. While unsubscribed the pool is reported unavailable (frozen).
//
// Launch queues the executor until an offer fits it: its completion comes when the ACCEPT that
// launches it is accepted (so a crash before that leaves core to launch it again under the same
// task id), or with the master's refusal of it (5xx retryable). Offers are matched fairly between applications (offers.h), several executors per
// offer, honouring Spark's attribute constraints and skipping agents excluded after
// agent_failure_limit failures; resources reserved for the framework's role are used before
// unreserved ones, and agents with GPUs are kept for executors that need GPUs (an agent is known
// to have GPUs once it has offered some); the rest are declined for `refuse`.
//
// Suppression: the framework wants offers exactly while launches wait. Every SUBSCRIBE states it
// (its suppressed_roles: all the framework's roles when nothing waits, none otherwise), and later
// changes are SUPPRESS and REVIVE calls sent one at a time, so that none overtakes another. The
// state the backend believes follows only the master's confirmations (SUBSCRIBED, 202); a refused
// or lost call is sent again after a backoff (250 ms doubling to retry_max_backoff). Launches that
// see no offer for revive_interval REVIVE again, in case the master lost a REVIVE.
//
// Each task's agent id and hostname are reported as its handle (core keeps it), so a restarted
// berthd knows the host of a task whose agent offers nothing.
//
// Status updates are acknowledged when they carry a uuid (never otherwise), after being reported.
// Kill sends KILL with the request's grace as the call's kill policy (0: SIGKILL at once); the
// pool's kill_grace is the task's own kill policy, used when the task is killed by other means. A
// queued launch is simply dropped. list() answers once the reconciliation after subscribing has settled.
//
// Time and jitter come from the TimeSource given (adapters/common/time_source.h).
//
// Thread-safety: not thread-safe. Every method must be called on the executor given at
// construction (core's strand); completions and BackendSink calls run on it, never inside the
// call. stop() closes the subscription; the framework and its tasks stay until failover_timeout.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <string>

#include "adapters/common/time_source.h"
#include "adapters/mesos/mesos_config.h"
#include "core/backend.h"

namespace berth {

// Saves the framework id durably; `done` runs on the backend's executor.
using SaveFrameworkId = std::function<void(const std::string& framework_id, std::function<void(Status)> done)>;

class MesosBackend final : public Backend {
 public:
  // `framework_id` and `save_framework_id` stand in for core's store in tests: a framework id
  // saved by an earlier run ("" = none, or what recover() gives), and how to save one (empty:
  // through BackendSink::save_state).
  MesosBackend(boost::asio::any_io_executor strand, PoolName pool, MesosPoolConfig config, std::string daemon_id,
               std::string name_prefix, std::string framework_id = "", SaveFrameworkId save_framework_id = nullptr,
               adapters::TimeSource time = adapters::real_time_source());
  ~MesosBackend() override;
  MesosBackend(const MesosBackend&) = delete;
  MesosBackend& operator=(const MesosBackend&) = delete;

  std::string type() const override { return "mesos"; }
  // A launch completes when an offer took it and its ACCEPT was accepted.
  BackendCapabilities capabilities() const override { return {.launch_completes_on_placement = true}; }

  void recover(const BackendRecovery& recovery) override;
  void start(BackendSink* sink) override;
  void stop() override;
  void launch(const LaunchRequest& request, Callback<Status> done) override;
  void kill(const KillRequest& request, Callback<Status> done) override;
  void list(Callback<StatusOr<std::vector<BackendObject>>> done) override;

  // The framework id of the current (or last) subscription; "" before the first.
  std::string framework_id() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace berth
