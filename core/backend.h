#pragma once
// Backend: the boundary between core and one pool's cluster manager (Kubernetes, Nomad, Mesos,
// local processes). An adapter translates the executor model into backend objects and reports
// what it observes; nothing backend-specific crosses this boundary.
//
// Threading: core calls a Backend only from its own strand, and every completion and every
// BackendSink call must be delivered back on that strand (adapters are given it at construction).
// Completions may be delivered after the call returns, never inside it.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "core/types.h"

namespace berth {

template <typename T>
using Callback = std::function<void(T)>;

// Labels (Kubernetes), meta (Nomad), task labels (Mesos) or pid-file fields (local) that mark a
// backend object as Berth's. Objects without kLabelDaemon, or with another daemon's id, are never
// touched.
inline constexpr const char* kLabelDaemon = "berth.dev/daemon";
inline constexpr const char* kLabelApp = "berth.dev/app";
inline constexpr const char* kLabelExecutor = "berth.dev/executor";
inline constexpr const char* kLabelProfile = "berth.dev/profile";
inline constexpr const char* kLabelPool = "berth.dev/pool";

// Spark's own executor labels (its Kubernetes backend's), carried by every backend's objects
// (pod labels, Nomad job Meta, Mesos task labels) so that Spark tooling finds executors.
inline constexpr const char* kSparkLabelAppSelector = "spark-app-selector";
inline constexpr const char* kSparkLabelRole = "spark-role";
inline constexpr const char* kSparkLabelExecId = "spark-exec-id";
inline constexpr const char* kSparkLabelProfileId = "spark-exec-resourceprofile-id";

// Everything an adapter needs to start one executor. backend_name is deterministic, so sending
// the same request twice creates one object: the second launch reports kAlreadyExists.
struct LaunchRequest {
  std::string backend_name;
  std::string daemon_id;
  PoolName pool;
  AppId app;  // the application's key (core/app_key.h); Spark is given its name, app_name(app)
  TenantName tenant;
  ExecutorId executor = 0;
  ResourceProfile profile;
  LaunchSpec spec;
  DriverRef driver;
};

// The environment Spark's executor images expect (SPARK_DRIVER_URL, SPARK_EXECUTOR_ID, ...),
// with the spec's own env on top. Shared by every adapter.
std::map<std::string, std::string> spark_executor_environment(const LaunchRequest& request);

// Spark's labels above, with their values for `request`'s executor.
std::map<std::string, std::string> spark_executor_labels(const LaunchRequest& request);

// Spark's executor command line, in Spark's own form, for an application whose launch spec
// names no command: <spark_home>/bin/spark-class running CoarseGrainedExecutorBackend with the
// driver URL, executor id, host, cores, application id and resource profile id, then the spec's
// args. For backends where Berth starts the executor process itself (local, Mesos); container
// backends (Kubernetes, Nomad's docker driver) run the image's entrypoint (`executor`) with
// Spark's environment instead.
std::vector<std::string> spark_executor_command(const LaunchRequest& request, const std::string& spark_home,
                                                const std::string& hostname);

struct KillRequest {
  std::string backend_name;
  Duration grace{0};  // SIGTERM (or the backend's graceful stop), then force after this long
};

// What a backend reports about one of Berth's objects.
enum class ObservedPhase {
  kPending,   // accepted/placed, not running yet
  kRunning,
  kExited,    // ended with exit_code (and maybe signal / oom)
  kLost,      // its node or host is gone
  kGone,      // the object no longer exists on the backend
};
const char* to_string(ObservedPhase phase);

struct BackendObject {
  std::string backend_name;
  std::string daemon_id;  // empty: not created by any Berth daemon
  AppId app;
  ExecutorId executor = 0;
  ProfileId profile = 0;
  ObservedPhase phase = ObservedPhase::kPending;
  std::optional<std::int32_t> exit_code;
  bool oom_killed = false;
  bool deleted_externally = false;  // removed by someone other than Berth (user, eviction)
  // With kExited: the executor never started because of its spec or environment (its image
  // cannot be pulled, ...): a launch failure, counted against the application's failure budget.
  bool start_failed = false;
  std::string host;
  // Set when the adapter has (new) state to keep for this executor across restarts; core
  // stores it durably and gives it back through Backend::recover().
  std::optional<BackendHandle> handle;
  std::string reason;   // backend's short reason, e.g. "OOMKilled", "ImagePullBackOff"; a pending
                        // object no node can take reports kReasonUnschedulable
  std::string message;  // backend's human-readable detail
};

// BackendObject::reason of a pending object that no node can take now (Kubernetes'
// Unschedulable, a Nomad placement failure); `message` says why.
inline constexpr const char* kReasonUnschedulable = "Unschedulable";

// Where a backend reports observations. Implemented by core's Engine.
class BackendSink {
 public:
  virtual ~BackendSink() = default;
  // One object changed (or was seen for the first time since start).
  virtual void on_observed(const PoolName& pool, const BackendObject& object) = 0;
  // The backend became reachable (ok) or unreachable (error). While unreachable, the pool is
  // frozen: nothing is declared lost or killed because the backend is silent.
  virtual void on_health(const PoolName& pool, const Status& status) = 0;
  // Keeps adapter state that must survive a restart (a Mesos framework id) in Berth's store,
  // under `key` for this pool, and runs `done` on the strand once it is durable (or failed).
  // An empty value removes it. The next start gives it back through Backend::recover().
  virtual void save_state(const PoolName& pool, const std::string& key, const std::string& /*value*/,
                          Callback<Status> done) {
    done(Status::FailedPrecondition("this sink keeps no adapter state (pool " + pool + ", key " + key + ")"));
  }
};

// Real differences between backends that core acts on.
struct BackendCapabilities {
  bool decommission = false;  // can signal an executor to leave gracefully
  bool kill_app = false;      // can stop every object of an application in one call
  // Whether KillRequest::grace is the grace the object gets. false: the backend stops objects
  // with a grace of its own (Nomad: the job's KillTimeout), so core waits kill_retry_max, not
  // the grace plus a margin, before a follow-up kill.
  bool honours_kill_grace = true;
  // Whether launch() completes only once the executor is placed (Mesos: when an offer took it
  // and the ACCEPT was accepted), so a launch may wait long for capacity: such launches are not
  // limited by the pool's max_inflight_launches (the adapter queues them), only by max_pending.
  bool launch_completes_on_placement = false;
};

// What core gives a backend back before start(), from its store: the live executors of its
// pool with the handles they reported, and the state it saved with BackendSink::save_state.
struct RecoveredExecutor {
  std::string backend_name;
  AppId app;
  ExecutorId executor = 0;
  BackendHandle handle;
};
struct BackendRecovery {
  std::vector<RecoveredExecutor> executors;
  std::map<std::string, std::string> state;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string type() const = 0;
  virtual BackendCapabilities capabilities() const { return {}; }

  // Whether this pool can launch executors of `spec` at all, checked when an application is
  // registered so that a spec every launch would refuse is refused once, up front (kInvalidArgument
  // with the reason). Default: anything goes; launches report their own errors.
  virtual Status check_launch(const LaunchSpec& /*spec*/) const { return Status::Ok(); }

  // What the store holds for this pool (Nomad's RecoverTask). Called once, before start().
  virtual void recover(const BackendRecovery& /*recovery*/) {}

  // Starts observing the backend; reports through `sink` until stop(). Called once.
  virtual void start(BackendSink* sink) = 0;
  virtual void stop() = 0;

  // Creates the executor's object. kAlreadyExists means the object is there already (adopted).
  // Retryable failures (Status::retryable) are retried by core with backoff; others reach the
  // driver as LAUNCH_FAILED with the status message.
  virtual void launch(const LaunchRequest& request, Callback<Status> done) = 0;

  // Stops the executor: graceful stop, then force after request.grace. kNotFound when the
  // object does not exist (core treats that as done).
  virtual void kill(const KillRequest& request, Callback<Status> done) = 0;

  // Asks the executor to decommission itself (Spark's SIGPWR). Only when capabilities().decommission.
  virtual void decommission(const std::string& backend_name, Callback<Status> done) {
    done(Status::FailedPrecondition("decommission is not supported by backend " + type() +
                                    " for " + backend_name));
  }

  // Stops every object of `app` created by this daemon, in one call (Kubernetes: a
  // deletecollection by label). Only when capabilities().kill_app; core falls back to kill()
  // per executor when it fails.
  virtual void kill_app(const AppId& app, Duration /*grace*/, Callback<Status> done) {
    done(Status::FailedPrecondition("bulk kill is not supported by backend " + type() + " for " + app));
  }

  // A full list of Berth's objects on this backend (every daemon id; core filters). Used at
  // start-up and for periodic resync; the pool is "synced" after the first success.
  virtual void list(Callback<StatusOr<std::vector<BackendObject>>> done) = 0;
};

}  // namespace berth
