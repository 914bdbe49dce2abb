#pragma once
// LocalBackend: executors as processes on the daemon's own host. Each executor runs under the
// supervisor shim berth-local-exec in a process group of its own, in <work_dir>/<backend_name>/
// (layout: local_files.h). The directory is the backend object: its name is the executor's
// deterministic backend name, so a repeated launch finds it and reports kAlreadyExists.
//
// Watching: the daemon's own children are reaped with waitpid when SIGCHLD arrives; a poll timer
// (poll_interval) covers missed signals and processes adopted after a restart, which are not the
// daemon's children: a pid counts as the executor only while /proc/<pid>/stat shows the start
// time recorded at launch. stop() and the destructor never kill executors.
//
// Capacity: with LocalPoolConfig::cores or memory_mib set, an executor starts only if it fits
// beside the running executors of every daemon id sharing work_dir (counted from their
// directories). One that does not fit is recorded without a process, reported kPending with
// reason "Insufficient capacity" and a message naming what is short, and started when running
// executors end. The queue is strictly first in, first out: a launch never overtakes an earlier
// one, even when it would fit. Only this daemon id's queued executors are ever started; the queue
// lives in the executors' directories, so a new backend on the same work_dir picks it up.
//
// Thread-safety: not thread-safe. Every method must be called on the executor given at
// construction (core's strand); completions and BackendSink calls are posted to it, never run
// inside the call. launch, kill, decommission and list run later on that executor, in call order,
// each completing before the observations it causes are delivered. Destroying the backend drops
// every call, completion and observation not yet run.

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>

#include "adapters/local/local_config.h"
#include "core/backend.h"

namespace berth {

class LocalBackend final : public Backend {
 public:
  LocalBackend(boost::asio::any_io_executor executor, PoolName pool, LocalPoolConfig config,
               std::string daemon_id);
  ~LocalBackend() override;
  LocalBackend(const LocalBackend&) = delete;
  LocalBackend& operator=(const LocalBackend&) = delete;

  std::string type() const override { return "local"; }
  BackendCapabilities capabilities() const override { return {.decommission = true}; }
  // kInvalidArgument when the spec has no command and <spark_home>/bin/spark-class, which would
  // run instead, is not an executable file on this host.
  Status check_launch(const LaunchSpec& spec) const override;

  // Creates work_dir, adopts the running executors of this daemon id found there (watched by
  // polling), reports on_health(OK) (or the error creating work_dir) and starts watching. Its
  // queued executors are reported pending, and those that fit now start.
  void start(BackendSink* sink) override;
  // Stops timers and watching; executors keep running.
  void stop() override;

  // kInvalidArgument: empty command or a backend name that is not a single path component.
  // kAlreadyExists: the executor's directory holds an executor already (running or ended).
  // kUnavailable: the directory or its files cannot be written (retryable).
  // kFailedPrecondition: the shim cannot be started, or the executor needs more cores or memory
  // than the pool's whole capacity (it would wait for ever).
  // OK also when the executor was queued for capacity (reported kPending, started later; if it
  // then cannot be started, it ends with exit code 125 and the reason in its executor.log).
  void launch(const LaunchRequest& request, Callback<Status> done) override;
  // SIGTERM to the executor's process group, SIGKILL after request.grace (at once when grace is
  // 0); OK once the signal is sent or when it has ended already, kNotFound for no such executor,
  // kFailedPrecondition for an executor of another daemon id (never touched). A queued executor
  // leaves the queue without ever starting and is reported kExited without an exit code, reason
  // "cancelled", not deleted externally.
  void kill(const KillRequest& request, Callback<Status> done) override;
  // SIGPWR to the executor's process group (Spark's decommission signal). Codes as for kill; a
  // queued executor has nothing to decommission (OK, it stays queued).
  void decommission(const std::string& backend_name, Callback<Status> done) override;
  // Every executor directory under work_dir, of any daemon id; queued executors are kPending.
  void list(Callback<StatusOr<std::vector<BackendObject>>> done) override;

 private:
  class Impl;
  std::string spark_home_;
  std::shared_ptr<Impl> impl_;
};

std::unique_ptr<Backend> make_local_backend(boost::asio::any_io_executor executor, PoolName pool,
                                            LocalPoolConfig config, std::string daemon_id);

}  // namespace berth
