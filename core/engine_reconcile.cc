// How the Engine converges: the reconcile pass (plan_profile per application and profile), the
// launch queues and their backend calls, and the kill calls (see engine.h).

#include <algorithm>

#include "core/engine.h"
#include "core/engine_state.h"

namespace berth {

// ---------------------------------------------------------------------------------------------
// Reconciliation
// ---------------------------------------------------------------------------------------------

void Engine::schedule_pass() {
  if (pass_scheduled_ || !started_ || stopped_) return;
  pass_scheduled_ = true;
  std::weak_ptr<bool> alive = alive_;
  scheduler_.post([this, alive] {
    if (alive.expired()) return;
    pass();
  });
}

void Engine::pass() {
  pass_scheduled_ = false;
  if (stopped_) return;
  reconcile();
  send_launches();
  // After a failed commit, the retry waits for the next tick rather than spinning.
  if (commits_.failed()) return;
  persist();
}

void Engine::mark_for_reconcile(const AppId& app) {
  if (to_reconcile_.insert(app).second) to_reconcile_order_.push_back(app);
}

void Engine::reconcile() {
  // Applications that changed since the last pass, in the order they changed, so that the
  // first to ask is the first whose executors are created (and queued); then, on a tick or when
  // a pool or the tenants changed, every other one. A pass after one observation thus costs
  // O(1 app), not O(apps).
  std::vector<AppId> changed;
  changed.swap(to_reconcile_order_);
  std::set<AppId> done;
  done.swap(to_reconcile_);
  for (const AppId& id : changed) {
    if (AppState* app = app_state(id)) reconcile_app(*app, tenant_usage_[app->app.spec.tenant]);
  }
  if (!reconcile_all_) return;
  reconcile_all_ = false;
  for (auto& [id, app] : apps_) {
    if (done.count(id) == 0) reconcile_app(*app, tenant_usage_[app->app.spec.tenant]);
  }
}

Engine::PoolState* Engine::choose_pool(const AppState& app) {
  for (const PoolName& name : app.app.spec.pools) {
    PoolState* pool = pool_state(name);
    if (pool != nullptr && pool->sync.synced() && !pool->draining) return pool;
  }
  return nullptr;
}

bool Engine::lists_removed_pool(const AppState& app) const {
  return std::any_of(app.app.spec.pools.begin(), app.app.spec.pools.end(),
                     [&](const PoolName& name) { return pools_.at(name)->removed; });
}

std::string Engine::no_pool_reason(const AppState& app) const {
  std::string removed;
  bool any_synced = false;
  for (const PoolName& name : app.app.spec.pools) {
    const PoolState& pool = *pools_.at(name);
    if (pool.removed) removed += (removed.empty() ? "" : ", ") + name;
    any_synced |= pool.sync.synced();
  }
  if (!removed.empty()) {
    return "pool " + removed + " of the application is not in berthd's configuration any more" +
           (any_synced ? " and every other is draining" : "");
  }
  // Unsynced pools are simply not ready yet; only draining ones are worth telling the driver.
  return any_synced ? "every pool of the application is draining" : "";
}

void Engine::reconcile_app(AppState& app, TenantUsage& usage) {
  if (app.app.phase != AppPhase::kActive) return;
  const Timestamp now = clock_.now();
  if (lists_removed_pool(app) && choose_pool(app) == nullptr) {
    // Said whatever the targets: the application's executors in a removed pool are frozen.
    set_condition(app, kConditionNoPool, no_pool_reason(app));
  }
  for (const auto& [profile_id, target] : app.app.targets) {
    const std::int32_t live = app.live_by_profile[profile_id];
    if (live > target) {
      // Scale down (plan_profile's rule): cancel executors not running yet, newest first.
      std::int32_t excess = live - target;
      for (auto it = app.executors.rbegin(); it != app.executors.rend() && excess > 0; ++it) {
        Executor& executor = it->second;
        if (executor.profile != profile_id || !is_pending(executor.state)) continue;
        if (apply(app, executor, event_of(LifecycleEventType::kCancel), Duration(0))) --excess;
      }
      continue;
    }
    if (live == target) continue;
    if (has_condition(app.app, kConditionFailureBudget)) {
      if (recent_failures(app) >= options_.failure_budget) continue;
      clear_condition(app, kConditionFailureBudget);  // the failures aged out: try again
    }

    PoolState* pool = choose_pool(app);
    if (pool == nullptr) {
      if (std::string why = no_pool_reason(app); !why.empty()) set_condition(app, kConditionNoPool, why);
      continue;
    }
    clear_condition(app, kConditionNoPool);

    const TenantPolicy* policy = tenant(app.app.spec.tenant);
    ProfilePlanInput input;
    input.target = target;
    input.live = live;
    input.app_pending = app.pending;
    input.max_pending_per_app = options_.max_pending_per_app;
    input.pool_pending = pool->pending;
    input.pool_max_pending = pool->policy.max_pending;
    input.tenant_limits = policy != nullptr ? &policy->limits : nullptr;
    input.tenant_usage = usage;
    input.profile = *app.app.spec.profile(profile_id);
    const ProfilePlan plan = plan_profile(input);
    if (plan.report_tenant_limit) {
      set_condition(app, kConditionTenantLimit,
                    "tenant " + app.app.spec.tenant + " reached its " + plan.tenant_limit_hit + " limit");
    } else if (plan.launch > 0) {
      clear_condition(app, kConditionTenantLimit);
    }
    const std::int32_t allowed = plan.launch;

    for (std::int32_t i = 0; i < allowed; ++i) {
      Executor executor;
      executor.app = app.app.spec.id;
      executor.id = app.app.next_executor_id++;
      executor.profile = profile_id;
      executor.pool = pool->policy.name;
      executor.backend_name = backend_name(executor.app, executor.id);
      executor.state = ExecutorState::kRequested;
      executor.requested = now;
      auto [it, inserted] = app.executors.emplace(executor.id, std::move(executor));
      (void)inserted;
      Executor& created = it->second;
      account(app, created, +1);  // counts it in `usage` (the tenant's) too
      commits_.executor_created({created.app, created.id});
      touch_executor(created);
    }
    if (allowed > 0) commits_.app_changed(app.app.spec.id);  // the id counter moved
  }
}

void Engine::send_launches() {
  const Timestamp now = clock_.now();
  // Each pool serves its queue round-robin across applications, oldest request first, while it
  // has launch slots: a pass costs O(launches sent), not O(executors waiting).
  for (auto& [pool_name, pool] : pools_) {
    if (!pool->sync.launchable(now)) continue;
    const auto active = [&](const AppId& id) {
      const AppState* app = app_state(id);
      return app != nullptr && app->app.phase == AppPhase::kActive;
    };
    // A backend whose launches complete only on placement queues them itself (for offers).
    const bool unbounded = pool->backend->capabilities().launch_completes_on_placement;
    while (unbounded || pool->launches_inflight < pool->policy.max_inflight_launches) {
      std::optional<ExecutorKey> next = pool->launch_queue.pop(active);
      if (!next) break;
      AppState& app = *app_state(next->app);
      send_launch(app, app.executors.at(next->id), *pool);
    }
  }
}

void Engine::send_launch(AppState& app, Executor& executor, PoolState& pool) {
  LaunchRequest request;
  request.backend_name = executor.backend_name;
  request.daemon_id = daemon_id_;
  request.pool = pool.policy.name;
  request.app = app.app.spec.id;
  request.tenant = app.app.spec.tenant;
  request.executor = executor.id;
  if (const ResourceProfile* profile = app.app.spec.profile(executor.profile)) request.profile = *profile;
  request.spec = *app.app.spec.launch;
  request.driver = app.app.spec.driver;

  executor.attempt++;
  commits_.executor_changed({executor.app, executor.id});
  app.launch_inflight.insert(executor.id);
  pool.launches_inflight++;
  pool.launches_sent++;
  std::weak_ptr<bool> alive = alive_;
  ExecutorKey key{executor.app, executor.id};
  PoolName pool_name = pool.policy.name;
  pool.backend->launch(request, [this, alive, key, pool_name](Status status) {
    if (alive.expired()) return;
    on_launch_done(key, pool_name, status);
  });
}

void Engine::on_launch_done(const ExecutorKey& key, const PoolName& pool_name, const Status& status) {
  PoolState* pool = pool_state(pool_name);
  if (pool == nullptr) return;
  pool->launches_inflight--;
  schedule_pass();  // a launch slot is free
  AppState* app = app_state(key.app);
  if (app == nullptr) return;
  app->launch_inflight.erase(key.id);
  auto it = app->executors.find(key.id);
  if (it == app->executors.end()) return;
  Executor& executor = it->second;
  const bool created = status.ok() || status.code() == StatusCode::kAlreadyExists;
  if (!created) pool->sync.launch_failed(status, clock_.now());

  if (is_terminal(executor.state)) {
    // Cancelled or killed while the launch was on its way: the kill may have reached the
    // backend before the object did, so stop what the launch created.
    if (created) request_kill(*pool, executor.backend_name, Duration(0));
    return;
  }
  if (created) {
    pool->sync.launch_accepted();
    apply(*app, executor, event_of(LifecycleEventType::kLaunchAccepted), Duration(0));
    clear_condition(*app, kConditionQuotaExceeded);  // the quota has room again
    return;
  }
  if (status.retryable()) {
    pool->launch_queue.push(key);
    schedule_pass();
    return;
  }
  LifecycleEvent refused = event_of(LifecycleEventType::kLaunchRefused, status.message());
  apply(*app, executor, refused, Duration(0));
  count_launch_failure(*app, status);
}

void Engine::count_launch_failure(AppState& app, const Status& status) {
  const Timestamp now = clock_.now();
  app.app.launch_failures++;
  app.recent_failures.push_back(now);
  if (status.code() == StatusCode::kResourceExhausted) {
    set_condition(app, kConditionQuotaExceeded, status.message());
  }
  if (options_.failure_budget > 0 && recent_failures(app) >= options_.failure_budget) {
    set_condition(app, kConditionFailureBudget,
                  std::to_string(recent_failures(app)) + " launches refused or executors failed at once within " +
                      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(options_.failure_window).count()) +
                      "s; scale-up resumes when they age out or when the driver raises a target");
  }
  touch_app(app);
}

void Engine::count_quick_failure(AppState& app, const Executor& executor, Timestamp now) {
  const Timestamp started = executor.running != Timestamp{} ? executor.running : executor.launched;
  if (started == Timestamp{} || now - started >= options_.quick_failure) return;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - started).count();
  count_launch_failure(app, Status::FailedPrecondition("executor " + std::to_string(executor.id) + " failed " +
                                            std::to_string(seconds) + "s after it started: " + executor.loss.message));
}

std::int32_t Engine::recent_failures(AppState& app) {
  const Timestamp horizon = clock_.now() - options_.failure_window;
  while (!app.recent_failures.empty() && app.recent_failures.front() <= horizon) app.recent_failures.pop_front();
  return static_cast<std::int32_t>(app.recent_failures.size());
}

void Engine::request_kill(PoolState& pool, const std::string& name, Duration grace) {
  if (pool.kills.request(name, grace, clock_.now())) send_kill(pool, name, grace);
}

void Engine::kill_still_alive(PoolState& pool, const std::string& name, Duration grace) {
  if (!pool.kills.tracked(name)) {
    // Not (or no longer) tracked, e.g. after a restart: a first kill.
    request_kill(pool, name, grace);
    return;
  }
  if (pool.kills.observed_alive(name, clock_.now())) send_kill(pool, name, pool.kills.grace(name));
}

// Sends one kill call; the caller has recorded it in the pool's kill tracker.
void Engine::send_kill(PoolState& pool, const std::string& name, Duration grace) {
  pool.kills_sent++;
  std::weak_ptr<bool> alive = alive_;
  PoolName pool_name = pool.policy.name;
  pool.backend->kill(KillRequest{name, grace}, [this, alive, pool_name, name](Status status) {
    if (alive.expired()) return;
    PoolState* pool = pool_state(pool_name);
    pool->kills.completed(name, status, clock_.now());
    if (!status.ok() && status.code() != StatusCode::kNotFound) pool->sync.kill_failed(status);
  });
}

}  // namespace berth
