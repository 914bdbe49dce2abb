// The Engine's driver and operator commands and its queries (see engine.h).

#include <algorithm>

#include "core/engine.h"
#include "core/engine_state.h"

namespace berth {

// ---------------------------------------------------------------------------------------------
// Driver commands
// ---------------------------------------------------------------------------------------------

const TenantPolicy* Engine::tenant(const TenantName& name) const {
  auto it = std::find_if(tenants_.begin(), tenants_.end(),
                         [&](const TenantPolicy& t) { return t.name == name; });
  return it == tenants_.end() ? nullptr : &*it;
}

StatusOr<Application> Engine::register_app(AppSpec spec) {
  const TenantPolicy* policy = tenant(spec.tenant);
  if (!tenants_.empty() && policy == nullptr) {
    return Status::InvalidArgument("tenant: unknown tenant \"" + spec.tenant + "\"");
  }
  if (spec.pools.empty() && policy != nullptr) spec.pools = policy->default_pools;
  if (spec.pools.empty()) {
    for (const auto& [name, pool] : pools_) {
      if (!pool->removed) spec.pools.push_back(name);
    }
  }
  if (spec.profiles.empty()) spec.profiles.push_back(ResourceProfile{});
  if (AppState* existing = app_state(spec.id)) {
    // Checked before the pools: a driver re-registering after a restart that removed one of its
    // pools gets its application back, with the NO_USABLE_POOL condition saying why.
    if (existing->app.spec == spec && existing->app.phase != AppPhase::kEnded) return existing->app;
  }
  for (std::size_t i = 0; i < spec.pools.size(); ++i) {
    const PoolName& pool = spec.pools[i];
    const PoolState* state = pool_state(pool);
    if (state == nullptr || state->removed) {
      return Status::InvalidArgument("pools[" + std::to_string(i) + "]: unknown pool \"" + pool + "\"");
    }
    if (policy != nullptr && !policy->allowed_pools.empty() &&
        std::find(policy->allowed_pools.begin(), policy->allowed_pools.end(), pool) ==
            policy->allowed_pools.end()) {
      return Status::PermissionDenied("pools[" + std::to_string(i) + "]: tenant " + spec.tenant +
                                      " may not use pool " + pool);
    }
    if (state->backend != nullptr) {
      if (Status runnable = state->backend->check_launch(*spec.launch); !runnable.ok()) {
        return Status(runnable.code(), "pools[" + std::to_string(i) + "]: pool " + pool + ": " + runnable.message());
      }
    }
  }
  if (policy != nullptr && policy->limits.max_launch_spec_kib > 0) {
    const std::size_t bytes = launch_spec_bytes(*spec.launch);
    if (bytes > static_cast<std::size_t>(policy->limits.max_launch_spec_kib) * 1024) {
      return Status::ResourceExhausted("launch: the launch spec holds " + std::to_string(bytes) + " bytes, more than tenant " +
                                       spec.tenant + "'s max_launch_spec_kib of " +
                                       std::to_string(policy->limits.max_launch_spec_kib) + " KiB");
    }
  }
  if (app_state(spec.id) == nullptr && policy != nullptr && policy->limits.max_apps > 0) {
    const auto live = std::count_if(apps_.begin(), apps_.end(), [&](const auto& entry) {
      const Application& app = entry.second->app;
      return app.spec.tenant == spec.tenant && app.phase != AppPhase::kEnded;
    });
    if (live >= policy->limits.max_apps) {
      return Status::ResourceExhausted("tenant " + spec.tenant + " has " + std::to_string(live) +
                                       " applications registered, its max_apps limit");
    }
  }
  if (AppState* existing = app_state(spec.id)) {
    if (existing->app.phase == AppPhase::kEnded) {
      return Status::AlreadyExists("application " + spec.id +
                                   " has ended; register the next run under a new app_id");
    }
    return Status::AlreadyExists("application " + spec.id +
                                 " is registered with a different spec");
  }

  auto state = std::make_unique<AppState>();
  state->app.spec = std::move(spec);
  state->app.created = clock_.now();
  if (state->app.spec.lease_ttl.count() > 0) {
    state->app.lease_deadline = state->app.created + state->app.spec.lease_ttl;
  }
  for (const ResourceProfile& profile : state->app.spec.profiles) state->app.targets[profile.id] = 0;
  AppState& app = *state;
  apps_[app.app.spec.id] = std::move(state);
  touch_app(app);
  return app.app;
}

StatusOr<Revision> Engine::set_targets(const AppId& app_id,
                                       const std::map<ProfileId, std::int32_t>& totals) {
  AppState* app = app_state(app_id);
  if (app == nullptr) return Status::NotFound("application " + app_id + " is not registered");
  if (app->app.phase == AppPhase::kEnded) {
    return Status::FailedPrecondition("application " + app_id + " has ended");
  }
  for (const auto& [profile, total] : totals) {
    if (app->app.spec.profile(profile) == nullptr) {
      return Status::InvalidArgument("totals[" + std::to_string(profile) +
                                     "]: unknown resource profile " + std::to_string(profile));
    }
    if (total < 0) {
      return Status::InvalidArgument("totals[" + std::to_string(profile) + "]: must be >= 0");
    }
  }
  bool changed = false;
  bool raised = false;
  for (const auto& [profile, total] : totals) {
    std::int32_t& target = app->app.targets[profile];
    if (target != total) {
      raised |= total > target;
      target = total;
      changed = true;
    }
  }
  if (raised) {
    // The driver asks for more again: give refused launches a fresh try.
    app->recent_failures.clear();
    clear_condition(*app, kConditionFailureBudget);
    clear_condition(*app, kConditionQuotaExceeded);
  }
  if (changed) touch_app(*app);
  schedule_pass();
  return revision_;
}

StatusOr<KillOutcome> Engine::kill_executors(const AppId& app_id, const std::vector<ExecutorId>& ids,
                                             bool adjust_target, bool force) {
  AppState* app = app_state(app_id);
  if (app == nullptr) return Status::NotFound("application " + app_id + " is not registered");
  KillOutcome outcome;
  bool targets_changed = false;
  for (ExecutorId id : ids) {
    auto it = app->executors.find(id);
    if (it == app->executors.end() || is_terminal(it->second.state)) {
      outcome.unknown.push_back(id);
      continue;
    }
    Executor& executor = it->second;
    LifecycleEvent kill = event_of(LifecycleEventType::kKill, "killed by the driver");
    kill.reason = kReasonKilledByDriver;
    const ProfileId profile = executor.profile;
    apply(*app, executor, kill, force ? Duration(0) : options_.kill_grace);
    outcome.done.push_back(id);
    if (adjust_target) targets_changed |= lower_target(*app, profile);
  }
  if (targets_changed) touch_app(*app);
  return outcome;
}

StatusOr<KillOutcome> Engine::decommission_executors(const AppId& app_id,
                                                     const std::vector<ExecutorId>& ids,
                                                     Duration grace, bool adjust_target) {
  AppState* app = app_state(app_id);
  if (app == nullptr) return Status::NotFound("application " + app_id + " is not registered");
  if (grace.count() <= 0) grace = options_.decommission_grace;
  KillOutcome outcome;
  bool targets_changed = false;
  for (ExecutorId id : ids) {
    auto it = app->executors.find(id);
    if (it == app->executors.end() || is_terminal(it->second.state) ||
        it->second.state == ExecutorState::kDecommissioning) {
      outcome.unknown.push_back(id);
      continue;
    }
    Executor& executor = it->second;
    const ProfileId profile = executor.profile;
    apply(*app, executor, event_of(LifecycleEventType::kDecommission), grace);
    if (executor.state == ExecutorState::kDecommissioning) {
      app->decommission_deadline[id] = clock_.now() + grace;
    }
    outcome.done.push_back(id);
    if (adjust_target) targets_changed |= lower_target(*app, profile);
  }
  if (targets_changed) touch_app(*app);
  return outcome;
}

bool Engine::lower_target(AppState& app, ProfileId profile) {
  std::int32_t& target = app.app.targets[profile];
  if (target == 0) return false;
  --target;
  return true;
}

StatusOr<Timestamp> Engine::keep_alive(const AppId& app_id) {
  AppState* app = app_state(app_id);
  if (app == nullptr) return Status::NotFound("application " + app_id + " is not registered");
  if (app->app.phase == AppPhase::kEnded) {
    return Status::FailedPrecondition("application " + app_id + " has ended: " + app->app.end_reason);
  }
  if (app->app.spec.lease_ttl.count() == 0) return Timestamp{};
  // Lease deadlines live in memory only (restore() grants a fresh TTL), so a keep-alive costs no
  // commit; only a change of phase is recorded.
  app->app.lease_deadline = clock_.now() + app->app.spec.lease_ttl;
  if (app->app.phase == AppPhase::kOrphaned) {
    app->app.phase = AppPhase::kActive;
    app->app.orphaned_at = Timestamp{};
    touch_app(*app);
  }
  return app->app.lease_deadline;
}

Status Engine::unregister_app(const AppId& app_id, const std::string& reason) {
  AppState* app = app_state(app_id);
  if (app == nullptr) return Status::NotFound("application " + app_id + " is not registered");
  if (app->app.phase == AppPhase::kEnded) return Status::Ok();
  end_app(*app, reason.empty() ? "unregistered by the driver" : reason, kReasonUnregistered);
  return Status::Ok();
}

void Engine::end_app(AppState& app, const std::string& reason, const std::string& loss_reason) {
  // Ended first: perform() leaves the objects of an ended application in pools that can stop a
  // whole application in one call to that call (sent below) instead of one kill per executor.
  app.app.phase = AppPhase::kEnded;
  app.app.ended_at = clock_.now();
  app.app.end_reason = reason;
  for (auto& [profile, target] : app.app.targets) target = 0;
  std::map<PoolName, std::vector<std::string>> bulk;
  for (auto& [id, executor] : app.executors) {
    if (is_terminal(executor.state)) continue;
    PoolState* pool = pool_state(executor.pool);
    if (may_have_object(app, executor) && pool->backend->capabilities().kill_app) {
      bulk[executor.pool].push_back(executor.backend_name);
    }
    LifecycleEvent kill = event_of(LifecycleEventType::kKill, reason);
    kill.reason = loss_reason;
    apply(app, executor, kill, options_.kill_grace);
  }
  for (auto& [pool_name, names] : bulk) send_kill_app(*pool_state(pool_name), app.app.spec.id, std::move(names));
  touch_app(app);
}

void Engine::send_kill_app(PoolState& pool, const AppId& app, std::vector<std::string> names) {
  pool.kills.bulk_sent(names, options_.kill_grace, clock_.now());
  pool.kills_sent++;
  std::weak_ptr<bool> alive = alive_;
  PoolName pool_name = pool.policy.name;
  pool.backend->kill_app(app, options_.kill_grace, [this, alive, pool_name, names = std::move(names)](Status status) {
    if (alive.expired()) return;
    PoolState* pool = pool_state(pool_name);
    if (status.ok()) {
      pool->kills.bulk_completed(names, clock_.now());
      return;
    }
    // The objects are still there: stop them one by one after all.
    pool->sync.kill_failed(status);
    for (const std::string& name : pool->kills.bulk_failed(names, clock_.now())) {
      send_kill(*pool, name, options_.kill_grace);
    }
  });
}

Status Engine::drain_pool(const PoolName& name, bool drain) {
  PoolState* pool = pool_state(name);
  if (pool == nullptr) return Status::NotFound("pool " + name + " is not configured");
  pool->draining = drain;
  reconcile_all_ = true;
  schedule_pass();
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

Engine::AppState* Engine::app_state(const AppId& app) {
  auto it = apps_.find(app);
  return it == apps_.end() ? nullptr : it->second.get();
}

Engine::PoolState* Engine::pool_state(const PoolName& pool) {
  auto it = pools_.find(pool);
  return it == pools_.end() ? nullptr : it->second.get();
}

const Application* Engine::find_app(const AppId& app) const {
  auto it = apps_.find(app);
  return it == apps_.end() ? nullptr : &it->second->app;
}

std::vector<const Application*> Engine::apps() const {
  std::vector<const Application*> out;
  out.reserve(apps_.size());
  for (const auto& [id, app] : apps_) out.push_back(&app->app);
  return out;
}

std::vector<const Executor*> Engine::executors(const AppId& app_id) const {
  std::vector<const Executor*> out;
  auto it = apps_.find(app_id);
  if (it == apps_.end()) return out;
  out.reserve(it->second->executors.size());
  for (const auto& [id, executor] : it->second->executors) out.push_back(&executor);
  return out;
}

ProfileCounts Engine::counts(const AppId& app_id) const {
  auto it = apps_.find(app_id);
  if (it == apps_.end()) return {};
  return counts_of(*it->second);
}

ProfileCounts Engine::counts_of(const AppState& app) {
  ProfileCounts out;
  for (const auto& [profile, target] : app.app.targets) out[profile];
  for (const auto& [profile, states] : app.counts) {
    for (const auto& [state, n] : states) {
      if (n != 0) out[profile][state] = n;
    }
  }
  return out;
}

WatchStart Engine::watch_start(Revision from, const WatchFilter& visible) const {
  WatchStart start;
  start.revision = revision_;
  if (from > 0) {
    std::optional<std::vector<Event>> replay;
    if (from <= revision_) replay = event_log_.since(from);
    if (replay) {
      for (Event& event : *replay) {
        if (visible(event.app_id(), event.tenant)) start.events.push_back(std::move(event));
      }
      return start;
    }
    start.resync = true;
  }
  start.kind = WatchStart::Kind::kSnapshot;
  for (const auto& [id, app] : apps_) {
    if (!visible(id, app->app.spec.tenant)) continue;
    Event event;
    event.type = Event::Type::kApplication;
    event.revision = app->app.revision;
    event.tenant = app->app.spec.tenant;
    event.app = std::make_shared<const Application>(app->app);
    event.counts = counts_of(*app);
    start.events.push_back(std::move(event));
    for (const auto& [eid, executor] : app->executors) {
      Event e;
      e.type = Event::Type::kExecutor;
      e.revision = executor.revision;
      e.tenant = app->app.spec.tenant;
      e.executor = executor;
      start.events.push_back(std::move(e));
    }
  }
  return start;
}

std::vector<PoolStatus> Engine::pools() const {
  std::vector<PoolStatus> out;
  for (const auto& [name, pool] : pools_) {
    PoolStatus status;
    status.policy = pool->policy;
    status.synced = pool->sync.synced();
    status.healthy = pool->sync.healthy();
    status.draining = pool->draining;
    status.last_error = pool->sync.last_error();
    status.backoff_until = pool->sync.backoff_until();
    status.counts = pool->counts;
    status.launch_errors = pool->sync.launch_errors();
    status.kill_errors = pool->sync.kill_errors();
    status.list_errors = pool->sync.list_errors();
    status.removed = pool->removed;
    status.kills_sent = pool->kills_sent;
    status.launches_sent = pool->launches_sent;
    status.lists = pool->sync.lists();
    status.kills_tracked = pool->kills.size();
    status.launch_queue = pool->launch_queue.size();
    out.push_back(std::move(status));
  }
  return out;
}

std::int32_t Engine::live_executors() const {
  std::int32_t live = 0;
  for (const auto& [name, pool] : pools_) {
    for (const auto& [state, count] : pool->counts) {
      if (!is_terminal(state)) live += count;
    }
  }
  return live;
}

std::string Engine::backend_name(const AppId& app, ExecutorId id) const {
  return options_.name_prefix + "-" + app + "-exec-" + std::to_string(id);
}

}  // namespace berth
