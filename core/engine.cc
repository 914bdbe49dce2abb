#include "core/engine.h"

#include <algorithm>

#include "core/engine_state.h"

namespace berth {

namespace {

// Stands in for the backend of a pool the configuration no longer has, so that the pool's
// executors keep a pool that is never synced: frozen, like a pool whose backend is unreachable.
class RemovedPoolBackend final : public Backend {
 public:
  RemovedPoolBackend(PoolName pool, Scheduler& scheduler) : pool_(std::move(pool)), scheduler_(scheduler) {}
  std::string type() const override { return "removed"; }
  void start(BackendSink*) override {}
  void stop() override {}
  void launch(const LaunchRequest&, Callback<Status> done) override { answer(std::move(done)); }
  void kill(const KillRequest&, Callback<Status> done) override { answer(std::move(done)); }
  void list(Callback<StatusOr<std::vector<BackendObject>>> done) override {
    scheduler_.post([done = std::move(done), error = unavailable()] { done(error); });
  }

 private:
  Status unavailable() const {
    return Status::Unavailable("pool " + pool_ + " is not in the configuration any more");
  }
  void answer(Callback<Status> done) {
    scheduler_.post([done = std::move(done), error = unavailable()] { done(error); });
  }
  PoolName pool_;
  Scheduler& scheduler_;
};

}  // namespace

Engine::Engine(EngineOptions options, std::string daemon_id, Clock& clock, Store& store,
               Scheduler& scheduler)
    : options_(std::move(options)),
      daemon_id_(std::move(daemon_id)),
      clock_(clock),
      store_(store),
      scheduler_(scheduler),
      event_log_(options_.event_window, options_.event_window_bytes) {}

namespace {
KillRetryPolicy kill_retry_policy(const EngineOptions& options) {
  return KillRetryPolicy{options.kill_retry_margin, options.kill_retry_max, options.backoff_initial, std::nullopt};
}
PoolSyncPolicy pool_sync_policy(const EngineOptions& options) {
  return PoolSyncPolicy{options.resync_interval, options.backoff_initial, options.backoff_max};
}
}  // namespace

Engine::~Engine() { *alive_ = false; }

// ---------------------------------------------------------------------------------------------
// Set-up
// ---------------------------------------------------------------------------------------------

void Engine::add_pool(PoolPolicy policy, Backend* backend) {
  auto pool = std::make_unique<PoolState>();
  pool->policy = std::move(policy);
  pool->backend = backend;
  KillRetryPolicy kills = kill_retry_policy(options_);
  if (!backend->capabilities().honours_kill_grace) kills.backend_grace = options_.kill_retry_max;
  pool->kills = KillTracker(kills);
  pool->sync = PoolSync(pool_sync_policy(options_));
  PoolName name = pool->policy.name;
  pools_[name] = std::move(pool);
}

void Engine::set_tenants(std::vector<TenantPolicy> tenants) {
  tenants_ = std::move(tenants);
  reconcile_all_ = true;
  schedule_pass();
}

Status Engine::restore(const StoreSnapshot& snapshot) {
  if (auto it = snapshot.meta.find(kMetaRevision); it != snapshot.meta.end()) {
    revision_ = std::stoull(it->second);
  }
  for (const auto& [key, value] : snapshot.meta) {
    if (key.rfind(kMetaAdapterPrefix, 0) == 0 && !value.empty()) adapter_state_[key] = value;
  }
  const Timestamp now = clock_.now();
  for (const Application& app : snapshot.apps) {
    auto state = std::make_unique<AppState>();
    state->app = app;
    // A lease cannot lapse while the daemon was down: drivers get a full TTL to reconnect.
    if (app.spec.lease_ttl.count() > 0 && app.phase == AppPhase::kActive) {
      state->app.lease_deadline = std::max(app.lease_deadline, now + app.spec.lease_ttl);
    }
    revision_ = std::max(revision_, app.revision);
    apps_[app.spec.id] = std::move(state);
  }
  for (const Executor& executor : snapshot.executors) {
    AppState* app = app_state(executor.app);
    if (app == nullptr) {
      return Status::Internal("store holds executor " + std::to_string(executor.id) +
                              " of unknown application " + executor.app);
    }
    if (pools_.find(executor.pool) == pools_.end() && !is_terminal(executor.state)) {
      add_removed_pool(executor.pool);
    }
    auto [it, inserted] = app->executors.emplace(executor.id, executor);
    (void)inserted;
    revision_ = std::max(revision_, executor.revision);
    app->app.next_executor_id = std::max(app->app.next_executor_id, executor.id + 1);
  }
  // Durable executors never launched wait in their pool's queue, oldest request first.
  std::vector<const Executor*> waiting;
  for (auto& [id, app] : apps_) {
    for (const PoolName& pool : app->app.spec.pools) {
      if (pools_.find(pool) == pools_.end() && app->app.phase != AppPhase::kEnded) add_removed_pool(pool);
    }
    for (auto& [eid, executor] : app->executors) {
      account(*app, executor, +1);
      if (is_terminal(executor.state)) continue;
      if (executor.state == ExecutorState::kRequested) waiting.push_back(&executor);
      if (executor.state == ExecutorState::kDecommissioning) {
        app->decommission_deadline[eid] = now + options_.decommission_grace;
      }
    }
  }
  std::stable_sort(waiting.begin(), waiting.end(), [](const Executor* a, const Executor* b) {
    return a->requested < b->requested;
  });
  for (const Executor* executor : waiting) {
    pool_state(executor->pool)->launch_queue.push({executor->app, executor->id});
  }
  for (const auto& [name, pool] : pools_) {
    if (!pool->removed) continue;
    std::int32_t live = 0;
    std::set<AppId> listing;
    for (const auto& [id, app] : apps_) {
      for (const auto& [eid, executor] : app->executors) live += executor.pool == name && !is_terminal(executor.state);
      const auto& pools = app->app.spec.pools;
      if (app->app.phase != AppPhase::kEnded && std::find(pools.begin(), pools.end(), name) != pools.end()) {
        listing.insert(id);
      }
    }
    std::string apps_text;
    for (const AppId& id : listing) apps_text += (apps_text.empty() ? "" : ", ") + id;
    notices_.push_back("pool " + name + " is not in the configuration any more but the state holds " +
                       std::to_string(live) + " live executors in it" +
                       (listing.empty() ? std::string() : " and applications " + apps_text + " list it") +
                       ": its executors are frozen (not launched, not declared lost) until the pool is "
                       "configured again or their applications end");
  }
  event_log_.reset(revision_);
  return Status::Ok();
}

void Engine::add_removed_pool(const PoolName& name) {
  if (pools_.count(name) > 0) return;
  auto pool = std::make_unique<PoolState>();
  pool->policy.name = name;
  pool->policy.type = "removed";
  pool->removed = true;
  pool->stand_in = std::make_unique<RemovedPoolBackend>(name, scheduler_);
  pool->backend = pool->stand_in.get();
  pool->kills = KillTracker(kill_retry_policy(options_));
  pool->sync = PoolSync(pool_sync_policy(options_));
  pool->sync.set_error("pool " + name + " is not in the configuration any more");
  pools_[name] = std::move(pool);
}

void Engine::start() {
  started_ = true;
  // Each backend first gets back what the store holds for it, then starts observing.
  std::map<PoolName, BackendRecovery> recovery;
  for (const auto& [meta_key, value] : adapter_state_) {
    // adapter/<pool>/<key>
    const std::size_t pool_at = std::string(kMetaAdapterPrefix).size();
    const std::size_t slash = meta_key.find('/', pool_at);
    if (slash == std::string::npos) continue;
    recovery[meta_key.substr(pool_at, slash - pool_at)].state[meta_key.substr(slash + 1)] = value;
  }
  for (const auto& [id, app] : apps_) {
    for (const auto& [eid, executor] : app->executors) {
      if (is_terminal(executor.state)) continue;
      recovery[executor.pool].executors.push_back({executor.backend_name, id, eid, executor.handle});
    }
  }
  for (auto& [name, pool] : pools_) {
    pool->backend->recover(recovery[name]);
    pool->backend->start(this);
    list_pool(*pool);
  }
  schedule_pass();
}

void Engine::stop() {
  stopped_ = true;
  for (auto& [name, pool] : pools_) pool->backend->stop();
}

bool Engine::ready() const {
  return std::all_of(pools_.begin(), pools_.end(), [](const auto& p) { return p.second->sync.answered(); });
}

// ---------------------------------------------------------------------------------------------
// Changes, events, accounting
// ---------------------------------------------------------------------------------------------

void Engine::add_listener(EngineListener* listener) { listeners_.push_back(listener); }

void Engine::remove_listener(EngineListener* listener) {
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), listener), listeners_.end());
}

void Engine::touch_executor(Executor& executor) {
  executor.revision = ++revision_;
  commits_.executor_changed({executor.app, executor.id});
  mark_for_reconcile(executor.app);
  Event event;
  event.type = Event::Type::kExecutor;
  event.revision = revision_;
  event.executor = executor;
  event.bytes = sizeof(Event) + approximate_bytes(executor);
  if (const AppState* app = app_state(executor.app)) event.tenant = app->app.spec.tenant;
  for (EngineListener* listener : listeners_) listener->on_event(event);
  event_log_.append(std::move(event));
  schedule_pass();
}

void Engine::touch_app(AppState& app) {
  app.app.revision = ++revision_;
  commits_.app_changed(app.app.spec.id);
  mark_for_reconcile(app.app.spec.id);
  Event event;
  event.type = Event::Type::kApplication;
  event.revision = revision_;
  event.tenant = app.app.spec.tenant;
  event.app = std::make_shared<const Application>(app.app);
  event.counts = counts_of(app);
  event.bytes = sizeof(Event) + approximate_bytes(app.app) + event.counts.size() * 96;
  for (EngineListener* listener : listeners_) listener->on_event(event);
  event_log_.append(std::move(event));
  schedule_pass();
}

void Engine::set_condition(AppState& app, const std::string& condition, const std::string& message) {
  const std::string text = message.empty() ? condition : condition + ": " + message;
  auto& conditions = app.app.conditions;
  auto it = std::find_if(conditions.begin(), conditions.end(), [&](const std::string& c) {
    return c == condition || c.rfind(condition + ":", 0) == 0;
  });
  if (it != conditions.end()) {
    if (*it == text) return;
    *it = text;
  } else {
    conditions.push_back(text);
  }
  touch_app(app);
}

void Engine::clear_condition(AppState& app, const std::string& condition) {
  auto& conditions = app.app.conditions;
  auto it = std::remove_if(conditions.begin(), conditions.end(), [&](const std::string& c) {
    return c == condition || c.rfind(condition + ":", 0) == 0;
  });
  if (it == conditions.end()) return;
  conditions.erase(it, conditions.end());
  touch_app(app);
}

void Engine::account(AppState& app, const Executor& executor, int sign) {
  PoolState* pool = pool_state(executor.pool);
  if (pool != nullptr) pool->counts[executor.state] += sign;
  app.counts[executor.profile][executor.state] += sign;
  if (is_terminal(executor.state)) return;
  TenantUsage& tenant = tenant_usage_[app.app.spec.tenant];
  if (executor.state != ExecutorState::kDecommissioning) {
    // Decommissioning executors still hold resources but are on their way out: they count for
    // neither the target nor the tenant's limits.
    app.live_by_profile[executor.profile] += sign;
    tenant.live += sign;
    if (const ResourceProfile* profile = app.app.spec.profile(executor.profile)) {
      tenant.cores += sign * static_cast<std::int64_t>(profile->cores);
      tenant.memory_mib += sign * profile->container_memory_mib();
    }
  }
  if (is_pending(executor.state)) {
    app.pending += sign;
    tenant.pending += sign;
    if (pool != nullptr) pool->pending += sign;
  }
  if (executor.state == ExecutorState::kRequested || executor.state == ExecutorState::kLaunching) {
    if (sign > 0) {
      app.unobserved.insert(executor.id);
    } else {
      app.unobserved.erase(executor.id);
    }
  }
}

bool Engine::apply(AppState& app, Executor& executor, const LifecycleEvent& event, Duration grace) {
  Transition t = transition(executor.state, event);
  if (!t.changed) return false;
  const Timestamp now = clock_.now();
  account(app, executor, -1);
  executor.state = t.next;
  if (!event.host.empty()) executor.host = event.host;
  if (t.next == ExecutorState::kLaunching && executor.launched == Timestamp{}) executor.launched = now;
  if (t.next == ExecutorState::kRunning && executor.running == Timestamp{}) executor.running = now;
  if (t.loss) {
    executor.loss = *t.loss;
    executor.ended = now;
    if (event.exit_code) executor.exit_code = event.exit_code;
  }
  account(app, executor, +1);
  if (t.next == ExecutorState::kFailed && t.loss->caused_by_app) count_quick_failure(app, executor, now);

  if (executor.state != ExecutorState::kRequested) {
    if (PoolState* pool = pool_state(executor.pool)) pool->launch_queue.erase({executor.app, executor.id});
  }
  if (executor.state != ExecutorState::kDecommissioning) app.decommission_deadline.erase(executor.id);
  if (is_terminal(executor.state)) app.missing_since.erase(executor.id);
  touch_executor(executor);
  perform(app, executor, t.effect, grace);
  return true;
}

void Engine::perform(AppState& app, Executor& executor, SideEffect effect, Duration grace) {
  PoolState* pool = pool_state(executor.pool);
  if (pool == nullptr || effect == SideEffect::kNone) return;
  switch (effect) {
    case SideEffect::kNone:
      return;
    case SideEffect::kKillObject:
      // Nothing to stop when no launch was ever sent (a later list still sweeps strays), or
      // when end_app() stops the whole ended application in one call.
      if (!may_have_object(app, executor)) return;
      if (app.app.phase == AppPhase::kEnded && pool->backend->capabilities().kill_app) return;
      request_kill(*pool, executor.backend_name, grace);
      return;
    case SideEffect::kDecommissionObject:
      if (pool->backend->capabilities().decommission) {
        std::weak_ptr<bool> alive = alive_;
        pool->backend->decommission(executor.backend_name, [alive](Status) {});
      } else {
        request_kill(*pool, executor.backend_name, grace);
      }
      return;
  }
}

bool Engine::may_have_object(const AppState& app, const Executor& executor) {
  return executor.attempt > 0 || app.launch_inflight.count(executor.id) > 0;
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

void Engine::tick() {
  if (!started_ || stopped_) return;
  const Timestamp now = clock_.now();
  check_timeouts();
  check_leases();
  forget_ended_apps();
  for (auto& [name, pool] : pools_) {
    if (pool->sync.list_due(now)) list_pool(*pool);
    for (const std::string& object : pool->kills.due_retries(now)) {
      send_kill(*pool, object, pool->kills.grace(object));
    }
  }
  reconcile_all_ = true;
  commits_.retry();  // a failed commit is retried from the timer, not in a hot loop
  schedule_pass();
}

void Engine::check_timeouts() {
  const Timestamp now = clock_.now();
  for (auto& [app_id, app] : apps_) {
    if (!app->unobserved.empty()) {
      // Only the executors not yet seen on their backend (kept by account()): a tick costs
      // O(launches in flight), not O(executors).
      const std::vector<ExecutorId> waiting(app->unobserved.begin(), app->unobserved.end());
      for (const ExecutorId id : waiting) {
        auto found = app->executors.find(id);
        if (found == app->executors.end()) continue;
        Executor& executor = found->second;
        PoolState* pool = pool_state(executor.pool);
        // A frozen pool does not time executors out: its backend is silent, not refusing.
        if (pool == nullptr || pool->sync.frozen()) continue;
        if (now - executor.requested >= options_.launch_timeout) {
          apply(*app, executor,
                event_of(LifecycleEventType::kLaunchTimedOut,
                         "not observed on pool " + executor.pool + " within the launch timeout"),
                Duration(0));
        }
      }
    }
    for (auto it = app->decommission_deadline.begin(); it != app->decommission_deadline.end();) {
      const ExecutorId id = it->first;
      const Timestamp deadline = it->second;
      ++it;
      if (now < deadline) continue;
      LifecycleEvent kill = event_of(LifecycleEventType::kKill, "decommission did not finish in time");
      kill.reason = kReasonDecommissionTimeout;
      apply(*app, app->executors.at(id), kill, Duration(0));
    }
  }
}

void Engine::check_leases() {
  const Timestamp now = clock_.now();
  for (auto& [id, app] : apps_) {
    Application& a = app->app;
    if (a.spec.lease_ttl.count() == 0) continue;
    if (a.phase == AppPhase::kActive && now >= a.lease_deadline) {
      a.phase = AppPhase::kOrphaned;
      a.orphaned_at = now;
      touch_app(*app);
    } else if (a.phase == AppPhase::kOrphaned && now - a.orphaned_at >= options_.orphan_grace) {
      end_app(*app, "lease expired", kReasonLeaseExpired);
    }
  }
}

void Engine::forget_ended_apps() {
  const Timestamp now = clock_.now();
  for (auto it = apps_.begin(); it != apps_.end();) {
    const Application& a = it->second->app;
    if (a.phase == AppPhase::kEnded && now - a.ended_at >= options_.ended_retention) {
      std::vector<ExecutorId> ids;
      for (const auto& [eid, executor] : it->second->executors) {
        if (PoolState* pool = pool_state(executor.pool)) pool->counts[executor.state]--;
        ids.push_back(eid);
      }
      commits_.app_forgotten(a.spec.id, ids);
      it = apps_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Persistence
// ---------------------------------------------------------------------------------------------

void Engine::when_durable(std::function<void(Status)> done) {
  if (!started_) {
    // Before start() there is no pass to run; commit directly.
    commits_.add_waiter_for_next(std::move(done));
    commit();
    return;
  }
  if (commits_.add_waiter(std::move(done))) schedule_pass();
}

void Engine::persist() {
  if (commits_.has_work()) commit();
}

void Engine::commit() {
  CommitTracker::Batch changes = commits_.begin();
  StoreBatch batch;
  for (const AppId& id : changes.apps) {
    if (const AppState* app = app_state(id)) batch.put_apps.push_back(app->app);
  }
  for (const ExecutorKey& key : changes.executors) {
    const AppState* app = app_state(key.app);
    if (app == nullptr) continue;
    auto it = app->executors.find(key.id);
    if (it != app->executors.end()) batch.put_executors.push_back(it->second);
  }
  batch.delete_apps = std::move(changes.deleted_apps);
  for (const std::string& key : changes.meta) {
    // An entry removed is written empty (restore() skips it).
    auto it = adapter_state_.find(key);
    batch.put_meta[key] = it == adapter_state_.end() ? "" : it->second;
  }
  batch.put_meta[kMetaRevision] = std::to_string(revision_);
  batch.put_meta[kMetaDaemonId] = daemon_id_;

  std::weak_ptr<bool> alive = alive_;
  Scheduler& scheduler = scheduler_;
  const std::uint64_t sequence = changes.sequence;
  store_.commit(std::move(batch), [this, alive, sequence, &scheduler](Status status) {
    scheduler.post([this, alive, sequence, status] {
      if (alive.expired()) return;
      on_commit_done(sequence, status);
    });
  });
}

void Engine::on_commit_done(std::uint64_t sequence, const Status& status) {
  CommitTracker::Finished finished = commits_.finish(sequence, status.ok());
  if (status.ok()) {
    for (const ExecutorKey& key : finished.created) {
      AppState* app = app_state(key.app);
      if (app == nullptr) continue;
      auto it = app->executors.find(key.id);
      if (it != app->executors.end() && it->second.state == ExecutorState::kRequested) {
        pool_state(it->second.pool)->launch_queue.push(key);
      }
    }
    for (auto& waiter : finished.waiters) waiter(Status::Ok());
  } else {
    // Waiters learn that their change may not survive a crash; every application is written
    // again with the next commit.
    for (auto& [id, app] : apps_) commits_.app_changed(id);
    Status failure = Status::Unavailable("state store write failed: " + status.message());
    for (auto& waiter : finished.waiters) waiter(failure);
  }
  schedule_pass();
}

}  // namespace berth
