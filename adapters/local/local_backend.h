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
// Thread-safety: not thread-safe. Every method must be called on the executor given at
// construction (core's strand); completions and BackendSink calls are posted to it, never run
// inside the call. Destroying the backend drops every completion and observation not yet run.

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

  // Creates work_dir, adopts the running executors of this daemon id found there (watched by
  // polling), reports on_health(OK) (or the error creating work_dir) and starts watching.
  void start(BackendSink* sink) override;
  // Stops timers and watching; executors keep running.
  void stop() override;

  // kInvalidArgument: empty command or a backend name that is not a single path component.
  // kAlreadyExists: the executor's directory holds an executor already (running or ended).
  // kUnavailable: the directory or its files cannot be written (retryable).
  // kFailedPrecondition: the shim cannot be started.
  void launch(const LaunchRequest& request, Callback<Status> done) override;
  // SIGTERM to the executor's process group, SIGKILL after request.grace (at once when grace is
  // 0); OK once the signal is sent or when it has ended already, kNotFound for no such executor,
  // kFailedPrecondition for an executor of another daemon id (never touched).
  void kill(const KillRequest& request, Callback<Status> done) override;
  // SIGPWR to the executor's process group (Spark's decommission signal). Codes as for kill.
  void decommission(const std::string& backend_name, Callback<Status> done) override;
  // Every executor directory under work_dir, of any daemon id.
  void list(Callback<StatusOr<std::vector<BackendObject>>> done) override;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

std::unique_ptr<Backend> make_local_backend(boost::asio::any_io_executor executor, PoolName pool,
                                            LocalPoolConfig config, std::string daemon_id);

}  // namespace berth
