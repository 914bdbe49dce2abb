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

LifecycleEvent event_of(LifecycleEventType type, std::string message = "") {
  LifecycleEvent e{type, std::nullopt, false, "", std::move(message), ""};
  return e;
}

bool has_condition(const Application& app, const std::string& condition) {
  return std::any_of(app.conditions.begin(), app.conditions.end(), [&](const std::string& c) {
    return c == condition || c.rfind(condition + ":", 0) == 0;
  });
}

}  // namespace

Engine::Engine(EngineOptions options, std::string daemon_id, Clock& clock, Store& store,
               Scheduler& scheduler)
    : options_(std::move(options)),
      daemon_id_(std::move(daemon_id)),
      clock_(clock),
      store_(store),
      scheduler_(scheduler),
      event_log_(options_.event_window) {}

namespace {
KillRetryPolicy kill_retry_policy(const EngineOptions& options) {
  return KillRetryPolicy{options.kill_retry_margin, options.kill_retry_max, options.backoff_initial};
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
  pool->kills = KillTracker(kill_retry_policy(options_));
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
  pool->last_error = "pool " + name + " is not in the configuration any more";
  pools_[name] = std::move(pool);
}

void Engine::start() {
  started_ = true;
  for (auto& [name, pool] : pools_) {
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
  return std::all_of(pools_.begin(), pools_.end(), [](const auto& p) { return p.second->answered; });
}

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
    pool->kill_errors++;
    pool->last_error = status.to_string();
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

WatchStart Engine::watch_start(Revision from, const std::function<bool(const Application&)>& visible) const {
  WatchStart start;
  start.revision = revision_;
  const auto shown = [&](const AppId& id) {
    const Application* app = find_app(id);
    return app != nullptr && visible(*app);
  };
  if (from > 0) {
    if (std::optional<std::vector<Event>> replay = event_log_.since(from)) {
      for (Event& event : *replay) {
        if (shown(event.app_id())) start.events.push_back(std::move(event));
      }
      return start;
    }
    start.resync = true;
  }
  start.kind = WatchStart::Kind::kSnapshot;
  for (const auto& [id, app] : apps_) {
    if (!visible(app->app)) continue;
    Event event;
    event.type = Event::Type::kApplication;
    event.revision = app->app.revision;
    event.app = std::make_shared<const Application>(app->app);
    event.counts = counts_of(*app);
    start.events.push_back(std::move(event));
    for (const auto& [eid, executor] : app->executors) {
      Event e;
      e.type = Event::Type::kExecutor;
      e.revision = executor.revision;
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
    status.synced = pool->synced;
    status.healthy = pool->healthy;
    status.draining = pool->draining;
    status.last_error = pool->last_error;
    status.backoff_until = pool->backoff_until;
    status.counts = pool->counts;
    status.launch_errors = pool->launch_errors;
    status.kill_errors = pool->kill_errors;
    status.list_errors = pool->list_errors;
    status.removed = pool->removed;
    status.kills_sent = pool->kills_sent;
    status.lists = pool->lists;
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
  event.app = std::make_shared<const Application>(app.app);
  event.counts = counts_of(app);
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
    if (pool != nullptr && pool->synced && !pool->draining) return pool;
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
    any_synced |= pool.synced;
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
    if (!pool->launchable(now)) continue;
    const auto active = [&](const AppId& id) {
      const AppState* app = app_state(id);
      return app != nullptr && app->app.phase == AppPhase::kActive;
    };
    while (pool->launches_inflight < pool->policy.max_inflight_launches) {
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
  request.spec = app.app.spec.launch;
  request.driver = app.app.spec.driver;

  executor.attempt++;
  commits_.executor_changed({executor.app, executor.id});
  app.launch_inflight.insert(executor.id);
  pool.launches_inflight++;
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
  if (!created) pool->launch_errors++;

  if (is_terminal(executor.state)) {
    // Cancelled or killed while the launch was on its way: the kill may have reached the
    // backend before the object did, so stop what the launch created.
    if (created) request_kill(*pool, executor.backend_name, Duration(0));
    return;
  }
  if (created) {
    pool->backoff = Duration(0);
    pool->backoff_until = Timestamp{};
    apply(*app, executor, event_of(LifecycleEventType::kLaunchAccepted), Duration(0));
    clear_condition(*app, kConditionQuotaExceeded);  // the quota has room again
    return;
  }
  if (status.retryable()) {
    pool->backoff = std::min(options_.backoff_max,
                             pool->backoff.count() == 0 ? options_.backoff_initial : pool->backoff * 2);
    pool->backoff_until = clock_.now() + pool->backoff;
    pool->last_error = status.to_string();
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
                  std::to_string(recent_failures(app)) + " launches refused within " +
                      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(options_.failure_window).count()) +
                      "s; scale-up resumes when they age out or when the driver raises a target");
  }
  touch_app(app);
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
    if (!status.ok() && status.code() != StatusCode::kNotFound) {
      pool->last_error = status.to_string();
      pool->kill_errors++;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Observation
// ---------------------------------------------------------------------------------------------

void Engine::on_observed(const PoolName& pool_name, const BackendObject& object) {
  PoolState* pool = pool_state(pool_name);
  if (pool == nullptr) return;
  observe(*pool, object, false);
}

void Engine::on_health(const PoolName& pool_name, const Status& status) {
  PoolState* pool = pool_state(pool_name);
  if (pool == nullptr) return;
  const bool was_healthy = pool->healthy;
  pool->healthy = status.ok();
  reconcile_all_ = true;
  if (!status.ok()) pool->last_error = status.to_string();
  if (pool->healthy && !was_healthy && pool->synced) {
    // Back after an outage: relist at once rather than trusting the watch alone.
    pool->next_list = Timestamp{};
  }
  schedule_pass();
}

void Engine::observe(PoolState& pool, const BackendObject& object, bool from_list) {
  if (object.daemon_id != daemon_id_) return;  // another daemon's, or not Berth's: never touched
  const bool object_alive = object.phase == ObservedPhase::kPending || object.phase == ObservedPhase::kRunning;
  AppState* app = app_state(object.app);
  Executor* executor = nullptr;
  if (app != nullptr) {
    auto it = app->executors.find(object.executor);
    if (it != app->executors.end() && it->second.backend_name == object.backend_name) executor = &it->second;
  }
  if (!object_alive) pool.kills.forget(object.backend_name);
  if (executor == nullptr) {
    // Labelled with our daemon id but no executor of ours: an orphan (its app is gone).
    if (object_alive && (pool.synced || from_list)) kill_still_alive(pool, object.backend_name, Duration(0));
    return;
  }
  if (is_terminal(executor->state)) {
    if (object_alive) kill_still_alive(pool, object.backend_name, options_.kill_grace);
    return;
  }
  app->missing_since.erase(executor->id);

  if (executor->state == ExecutorState::kRequested && object.phase != ObservedPhase::kGone) {
    // The object exists, so its launch was accepted, even if the launch's own reply (or, after
    // a crash, its record) has not arrived: keep the path REQUESTED -> LAUNCHING -> ...
    apply(*app, *executor, event_of(LifecycleEventType::kLaunchAccepted), Duration(0));
  }

  LifecycleEvent event{LifecycleEventType::kPlaced, object.exit_code, object.oom_killed, object.reason,
                       object.message, object.host};
  switch (object.phase) {
    case ObservedPhase::kPending:
      event.type = LifecycleEventType::kPlaced;
      if (object.reason == kReasonUnschedulable) {
        set_condition(*app, kConditionUnschedulable, "pool " + executor->pool + ": " + object.message);
      }
      break;
    case ObservedPhase::kRunning:
      clear_condition(*app, kConditionUnschedulable);
      if (is_pending(executor->state)) {
        // Seen running without having been seen placed: record both steps.
        event.type = LifecycleEventType::kStarted;
      } else {
        return;
      }
      break;
    case ObservedPhase::kExited:
      if (object.start_failed) {
        event.type = LifecycleEventType::kLaunchRefused;
        if (apply(*app, *executor, event, options_.kill_grace)) {
          count_launch_failure(*app, Status::FailedPrecondition(object.message));
        }
        return;
      }
      event.type = object.deleted_externally ? LifecycleEventType::kDeletedExternally
                                             : LifecycleEventType::kExited;
      break;
    case ObservedPhase::kLost:
      event.type = LifecycleEventType::kNodeLost;
      break;
    case ObservedPhase::kGone:
      if (executor->state == ExecutorState::kRequested || app->launch_inflight.count(executor->id) > 0) return;
      event.type = LifecycleEventType::kDeletedExternally;
      break;
  }
  apply(*app, *executor, event, options_.kill_grace);
}

void Engine::list_pool(PoolState& pool) {
  if (pool.list_inflight) return;
  pool.list_inflight = true;
  const Timestamp started = clock_.now();
  std::weak_ptr<bool> alive = alive_;
  PoolName name = pool.policy.name;
  pool.backend->list([this, alive, name, started](StatusOr<std::vector<BackendObject>> result) {
    if (alive.expired()) return;
    on_list_done(name, started, std::move(result));
  });
}

void Engine::on_list_done(const PoolName& pool_name, Timestamp started,
                          StatusOr<std::vector<BackendObject>> result) {
  PoolState* pool = pool_state(pool_name);
  if (pool == nullptr) return;
  const Timestamp now = clock_.now();
  pool->list_inflight = false;
  pool->answered = true;
  reconcile_all_ = true;
  if (!result.ok()) {
    // Frozen: nothing is declared lost while the backend cannot be listed.
    pool->healthy = false;
    pool->list_errors++;
    pool->last_error = result.status().to_string();
    pool->next_list = now + std::min(options_.resync_interval, options_.backoff_max);
    schedule_pass();
    return;
  }
  pool->healthy = true;
  pool->synced = true;
  pool->lists++;
  pool->next_list = now + options_.resync_interval;

  std::set<ExecutorKey> present;
  std::set<std::string> present_names;
  for (const BackendObject& object : *result) {
    if (object.daemon_id != daemon_id_) continue;
    if (object.phase != ObservedPhase::kGone) {
      present.insert({object.app, object.executor});
      present_names.insert(object.backend_name);
    }
    observe(*pool, object, true);
  }
  pool->kills.retain_present(present_names, started);
  // Executors the backend should have but does not list: lost after the grace period. Only
  // launches accepted before this list started can be expected in it.
  for (auto& [app_id, app] : apps_) {
    for (auto& [id, executor] : app->executors) {
      if (executor.pool != pool_name || is_terminal(executor.state) ||
          executor.state == ExecutorState::kRequested || app->launch_inflight.count(id) > 0) {
        continue;
      }
      if (present.count({app_id, id}) > 0) {
        app->missing_since.erase(id);
        continue;
      }
      if (executor.launched != Timestamp{} && executor.launched >= started) continue;
      auto [since, inserted] = app->missing_since.emplace(id, now);
      (void)inserted;
      if (now - since->second >= options_.missing_grace) {
        apply(*app, executor, event_of(LifecycleEventType::kVanished), Duration(0));
      }
    }
  }
  schedule_pass();
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
    if (now >= pool->next_list) list_pool(*pool);
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
        if (pool == nullptr || !pool->synced || !pool->healthy) continue;
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
