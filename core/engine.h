#pragma once
// Engine: the single writer of Berth's state. It holds the applications and executors, applies
// driver commands and backend observations through the lifecycle state machine, reconciles
// targets with live executors (level-triggered: every pass compares desired with actual, so a
// lost event only delays convergence), persists through the Store before anything reaches a
// backend, and records every change in the EventLog.
//
// Threading: not thread-safe. Every method is called on one strand; backends, the store and the
// scheduler deliver their completions back onto it. Nothing here blocks or does I/O itself.
//
// Durability: mutating commands change memory at once and are made durable by the next commit;
// callers that reply to a client register when_durable() and answer from there, so an
// acknowledged command survives kill -9.
//
// Its parts, each a plain value type tested on its own: plan_profile (planner.h: what one
// reconcile step does for a profile), LaunchQueue (who launches next in a pool), KillTracker
// (every kill an action, sent once), CommitTracker (what is dirty, what waits for durability),
// PoolSync (synced, healthy, backoff, next list). The Engine wires them; its code is split by
// concern: engine.cc (set-up, changes and accounting, time, persistence), engine_commands.cc,
// engine_reconcile.cc, engine_observe.cc, engine_invariants.cc.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/clock.h"
#include "core/commit_tracker.h"
#include "core/event_log.h"
#include "core/kill_tracker.h"
#include "core/launch_queue.h"
#include "core/lifecycle.h"
#include "core/options.h"
#include "core/planner.h"
#include "core/scheduler.h"
#include "base/status.h"
#include "core/store.h"
#include "core/types.h"

namespace berth {

// Application conditions reported to drivers (Application.conditions).
inline constexpr const char* kConditionQuotaExceeded = "QUOTA_EXCEEDED";
inline constexpr const char* kConditionFailureBudget = "FAILURE_BUDGET_EXHAUSTED";
inline constexpr const char* kConditionTenantLimit = "TENANT_LIMIT";
inline constexpr const char* kConditionNoPool = "NO_USABLE_POOL";
// An executor of the application is pending because no node can take it (the backend's reason
// follows); cleared when one of its executors starts.
inline constexpr const char* kConditionUnschedulable = "UNSCHEDULABLE";

// Loss reasons core itself assigns.
inline constexpr const char* kReasonKilledByDriver = "killed_by_driver";
inline constexpr const char* kReasonLeaseExpired = "lease_expired";
inline constexpr const char* kReasonUnregistered = "app_unregistered";
inline constexpr const char* kReasonDecommissionTimeout = "decommission_timeout";

// A change of a pool's backend as a whole (not part of the event log: drivers never see it).
struct PoolEvent {
  enum class Type {
    kSynced,     // the pool's first full list succeeded: `adopted` holds what it found alive
    kUnhealthy,  // the backend cannot be reached (or its first list failed): the pool is frozen
    kHealthy,    // reachable again after kUnhealthy
  };
  Type type = Type::kSynced;
  PoolName pool;
  std::string error;  // kUnhealthy: why
  // kSynced: live executors of this daemon's applications present in the first list, per app
  // (after a restart, the executors adopted).
  std::map<AppId, std::vector<ExecutorId>> adopted;
};

class EngineListener {
 public:
  virtual ~EngineListener() = default;
  // Called on the strand for every change, in revision order.
  virtual void on_event(const Event& event) = 0;
  // Called on the strand when a pool syncs for the first time or its health changes.
  virtual void on_pool_event(const PoolEvent& /*event*/) {}
};

struct PoolStatus {
  PoolPolicy policy;
  bool synced = false;     // a full list has succeeded since start
  bool healthy = false;    // the last contact with the backend succeeded
  bool draining = false;   // no new launches
  bool removed = false;    // not in the configuration any more; its executors stay frozen
  std::string last_error;
  Timestamp backoff_until{};
  std::map<ExecutorState, std::int32_t> counts;
  // Cumulative backend errors since start, by call.
  std::uint64_t launch_errors = 0;
  std::uint64_t kill_errors = 0;
  std::uint64_t list_errors = 0;
  std::uint64_t lists = 0;        // full lists that succeeded
  std::uint64_t kills_sent = 0;   // kill calls sent, bulk calls counted once
  std::uint64_t launches_sent = 0;  // launch calls sent, retries included
  std::size_t kills_tracked = 0;  // kills waiting for their object to go
  std::size_t launch_queue = 0;   // durable executors waiting for a launch slot
};

// How a WatchEvents stream starts (Engine::watch_start): the events after the caller's revision
// when the log still holds them all, or else a snapshot of every visible application (with its
// counts) followed by its executors, which the caller frames with RESYNC (when a revision was
// asked for) and SYNCED.
struct WatchStart {
  enum class Kind { kReplay, kSnapshot };
  Kind kind = Kind::kReplay;
  bool resync = false;  // kSnapshot: the asked-for revision is not in the log (gone, or ahead)
  std::vector<Event> events;
  Revision revision = 0;  // the engine's revision now: SYNCED carries it
};

struct KillOutcome {
  std::vector<ExecutorId> done;     // killed / accepted for decommission
  std::vector<ExecutorId> unknown;  // no such executor, or it has already ended
};

class Engine final : public BackendSink {
 public:
  Engine(EngineOptions options, std::string daemon_id, Clock& clock, Store& store,
         Scheduler& scheduler);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // --- set-up (before start) ---------------------------------------------------------------
  void add_pool(PoolPolicy policy, Backend* backend);
  void set_tenants(std::vector<TenantPolicy> tenants);  // also at run time (SIGHUP)
  // Loads what the store holds. Executors keep their ids; the app's counter continues. A pool
  // the store names but the configuration no longer has is kept as a removed pool: its
  // executors stay frozen (never launched, lost or forgotten) and their applications report
  // NO_USABLE_POOL naming it; notices() says so for the log.
  Status restore(const StoreSnapshot& snapshot);
  // What restore() found worth telling the operator, one sentence each.
  const std::vector<std::string>& notices() const { return notices_; }
  // Starts every backend and lists every pool. ready() turns true when each pool has answered
  // its first list (successfully or not); only then should drivers be served.
  void start();
  void stop();
  bool ready() const;

  // --- driver commands ---------------------------------------------------------------------
  // Idempotent: the same spec returns the existing app; another spec is kAlreadyExists.
  StatusOr<Application> register_app(AppSpec spec);
  StatusOr<Revision> set_targets(const AppId& app, const std::map<ProfileId, std::int32_t>& totals);
  StatusOr<KillOutcome> kill_executors(const AppId& app, const std::vector<ExecutorId>& ids,
                                       bool adjust_target, bool force);
  StatusOr<KillOutcome> decommission_executors(const AppId& app, const std::vector<ExecutorId>& ids,
                                               Duration grace, bool adjust_target);
  StatusOr<Timestamp> keep_alive(const AppId& app);
  Status unregister_app(const AppId& app, const std::string& reason);

  // --- operator commands -------------------------------------------------------------------
  Status drain_pool(const PoolName& pool, bool drain);

  // --- queries ----------------------------------------------------------------------------
  const Application* find_app(const AppId& app) const;
  std::vector<const Application*> apps() const;
  std::vector<const Executor*> executors(const AppId& app) const;
  ProfileCounts counts(const AppId& app) const;
  // How a watch starts from revision `from` (0: now, with a snapshot) for a reader who may see
  // what `visible(app id, tenant)` accepts. Replayed events are judged by the tenant they were
  // recorded with, so a reader never sees another tenant's history under an id it owns now. A
  // revision ahead of the engine's (a reader resuming across a crash that lost the last events)
  // gets a snapshot with RESYNC.
  using WatchFilter = std::function<bool(const AppId& app, const TenantName& tenant)>;
  WatchStart watch_start(Revision from, const WatchFilter& visible) const;
  std::vector<PoolStatus> pools() const;
  // The configured policy of tenant `name`, or null when it has none.
  const TenantPolicy* tenant(const TenantName& name) const;
  std::int32_t live_executors() const;
  Revision revision() const { return revision_; }
  const EventLog& event_log() const { return event_log_; }
  const std::string& daemon_id() const { return daemon_id_; }

  // --- change notification and durability -------------------------------------------------
  void add_listener(EngineListener* listener);
  void remove_listener(EngineListener* listener);
  // `done` runs once every change made so far is durable (OK) or failed to persist.
  void when_durable(std::function<void(Status)> done);
  // Sends everything changed so far to the store now (shutdown: before Store::flush()).
  void persist();

  // --- time -------------------------------------------------------------------------------
  // Periodic work: launch timeouts, missing executors, leases, decommission deadlines, backoff
  // expiry, periodic resync, retention. The daemon calls it about every 100 ms; tests call it
  // after moving the fake clock.
  void tick();

  // --- BackendSink ------------------------------------------------------------------------
  void on_observed(const PoolName& pool, const BackendObject& object) override;
  void on_health(const PoolName& pool, const Status& status) override;
  void save_state(const PoolName& pool, const std::string& key, const std::string& value,
                  Callback<Status> done) override;

  // Name of an executor's backend object: <prefix>-<app>-exec-<id>.
  std::string backend_name(const AppId& app, ExecutorId id) const;

  // Recomputes every counter and index from the executors themselves and compares: an empty
  // result means they agree; otherwise one line per disagreement. For tests and fuzzers.
  std::vector<std::string> check_invariants() const;

 private:
  struct AppState;
  struct PoolState;

  AppState* app_state(const AppId& app);
  PoolState* pool_state(const PoolName& pool);
  // Keeps a pool the store names but the configuration lacks (restore()).
  void add_removed_pool(const PoolName& pool);

  // Tells the listeners of a pool's health change: `was_healthy` is its health before the change
  // (nullopt before it ever answered).
  void notify_pool_health(PoolState& pool, std::optional<bool> was_healthy);

  // Applies a lifecycle event; returns whether the executor changed.
  bool apply(AppState& app, Executor& executor, const LifecycleEvent& event, Duration kill_grace);
  void perform(AppState& app, Executor& executor, SideEffect effect, Duration grace);
  // Whether a launch of `executor` was ever sent (so a backend object may exist).
  static bool may_have_object(const AppState& app, const Executor& executor);
  // Adds (sign +1) or removes (-1) an executor's contribution to the app and pool counters;
  // called around every state change.
  void account(AppState& app, const Executor& executor, int sign);
  void touch_executor(Executor& executor);
  void touch_app(AppState& app);
  void set_condition(AppState& app, const std::string& condition, const std::string& message);
  void clear_condition(AppState& app, const std::string& condition);

  void schedule_pass();
  void pass();  // reconcile + commit, once per strand turn after changes
  void mark_for_reconcile(const AppId& app);
  void reconcile();
  void reconcile_app(AppState& app, TenantUsage& usage);
  PoolState* choose_pool(const AppState& app);
  // Why no pool of `app` can launch now, for NO_USABLE_POOL; empty while pools are still syncing.
  std::string no_pool_reason(const AppState& app) const;
  bool lists_removed_pool(const AppState& app) const;
  static ProfileCounts counts_of(const AppState& app);
  void send_launches();
  void send_launch(AppState& app, Executor& executor, PoolState& pool);
  void on_launch_done(const ExecutorKey& key, const PoolName& pool, const Status& status);
  // A launch refused (or an executor that can never start): counts against the failure budget.
  void count_launch_failure(AppState& app, const Status& status);
  std::int32_t recent_failures(AppState& app);  // within failure_window, pruning older ones
  // An executor of `app` failed by its own doing: against the failure budget if it failed within
  // quick_failure of starting.
  void count_quick_failure(AppState& app, const Executor& executor, Timestamp now);
  // A kill of `backend_name` is wanted: sent unless the pool's kill tracker already covers it.
  void request_kill(PoolState& pool, const std::string& backend_name, Duration grace);
  // The object is alive although its kill was sent: sent again only when the tracker says so.
  void kill_still_alive(PoolState& pool, const std::string& backend_name, Duration grace);
  void send_kill(PoolState& pool, const std::string& backend_name, Duration grace);
  void send_kill_app(PoolState& pool, const AppId& app, std::vector<std::string> names);
  void list_pool(PoolState& pool);
  void on_list_done(const PoolName& pool, Timestamp started,
                    StatusOr<std::vector<BackendObject>> result);
  void observe(PoolState& pool, const BackendObject& object, bool from_list);
  void check_leases();
  void check_timeouts();
  void forget_ended_apps();
  // Lowers a profile's target by one (Spark's adjustTargetNumExecutors); false if already 0.
  bool lower_target(AppState& app, ProfileId profile);
  void end_app(AppState& app, const std::string& reason, const std::string& loss_reason);

  void commit();
  void on_commit_done(std::uint64_t sequence, const Status& status);

  EngineOptions options_;
  std::string daemon_id_;
  Clock& clock_;
  Store& store_;
  Scheduler& scheduler_;
  EventLog event_log_;

  std::map<AppId, std::unique_ptr<AppState>> apps_;
  std::map<PoolName, std::unique_ptr<PoolState>> pools_;
  std::vector<TenantPolicy> tenants_;
  std::vector<EngineListener*> listeners_;
  std::map<TenantName, TenantUsage> tenant_usage_;  // kept by account()
  std::set<AppId> to_reconcile_;              // apps changed since the last pass
  std::vector<AppId> to_reconcile_order_;     // the same, in the order they changed
  bool reconcile_all_ = true;                 // a tick, a pool or the tenants changed
  std::vector<std::string> notices_;
  // Adapter state (BackendSink::save_state) by its store key, "adapter/<pool>/<key>".
  std::map<std::string, std::string> adapter_state_;
  Revision revision_ = 0;
  bool started_ = false;
  bool stopped_ = false;
  bool pass_scheduled_ = false;
  // Liveness token for callbacks that may outlive the engine (backend and store completions).
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  CommitTracker commits_;  // what changed since the last commit, and what waits for durability
};

}  // namespace berth
