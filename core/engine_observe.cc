// How the Engine takes in what backends report: single observations, health, and full lists
// (see engine.h and core/backend.h).

#include <algorithm>

#include "core/engine.h"
#include "core/engine_state.h"

namespace berth {

// ---------------------------------------------------------------------------------------------
// Observation
// ---------------------------------------------------------------------------------------------

void Engine::on_observed(const PoolName& pool_name, const BackendObject& object) {
  PoolState* pool = pool_state(pool_name);
  if (pool == nullptr) return;
  observe(*pool, object, false);
}

void Engine::save_state(const PoolName& pool, const std::string& key, const std::string& value,
                         Callback<Status> done) {
  if (pool.find('/') != std::string::npos || key.empty()) {
    done(Status::InvalidArgument("adapter state key \"" + key + "\" of pool " + pool + " cannot be stored"));
    return;
  }
  const std::string meta_key = kMetaAdapterPrefix + pool + "/" + key;
  if (value.empty()) {
    adapter_state_.erase(meta_key);
  } else {
    adapter_state_[meta_key] = value;
  }
  commits_.meta_changed(meta_key);
  when_durable(std::move(done));
}

void Engine::on_health(const PoolName& pool_name, const Status& status) {
  PoolState* pool = pool_state(pool_name);
  if (pool == nullptr) return;
  const std::optional<bool> was_healthy =
      pool->sync.answered() ? std::optional<bool>(pool->sync.healthy()) : std::nullopt;
  pool->sync.health(status);
  notify_pool_health(*pool, was_healthy);
  reconcile_all_ = true;
  schedule_pass();
}

void Engine::notify_pool_health(PoolState& pool, std::optional<bool> was_healthy) {
  const bool healthy = pool.sync.healthy();
  if (was_healthy == healthy || (!was_healthy && healthy)) return;  // no change, or a first answer
  PoolEvent event{healthy ? PoolEvent::Type::kHealthy : PoolEvent::Type::kUnhealthy, pool.policy.name,
                  healthy ? std::string() : pool.sync.last_error(), {}};
  for (EngineListener* listener : listeners_) listener->on_pool_event(event);
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
    if (object_alive && (pool.sync.synced() || from_list)) kill_still_alive(pool, object.backend_name, Duration(0));
    return;
  }
  if (is_terminal(executor->state)) {
    if (object_alive) kill_still_alive(pool, object.backend_name, options_.kill_grace);
    return;
  }
  app->missing_since.erase(executor->id);
  if (object.handle && *object.handle != executor->handle && object.handle->data.size() <= kMaxBackendHandleBytes) {
    // Adapter state for recovery: written with the next commit; no event (drivers never see it).
    executor->handle = *object.handle;
    commits_.executor_changed({executor->app, executor->id});
    schedule_pass();
  }

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
  if (!pool.sync.begin_list()) return;
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
  reconcile_all_ = true;
  const std::optional<bool> was_healthy =
      pool->sync.answered() ? std::optional<bool>(pool->sync.healthy()) : std::nullopt;
  if (!result.ok()) {
    // Frozen: nothing is declared lost while the backend cannot be listed.
    pool->sync.list_failed(result.status(), now);
    notify_pool_health(*pool, was_healthy);
    schedule_pass();
    return;
  }
  const bool was_synced = pool->sync.synced();
  pool->sync.list_succeeded(now);
  if (was_synced) notify_pool_health(*pool, was_healthy);

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
  if (!was_synced && !listeners_.empty()) {
    PoolEvent synced{PoolEvent::Type::kSynced, pool_name, {}, {}};
    for (const ExecutorKey& key : present) {
      const AppState* app = app_state(key.app);
      if (app == nullptr) continue;
      auto it = app->executors.find(key.id);
      if (it != app->executors.end() && !is_terminal(it->second.state)) synced.adopted[key.app].push_back(key.id);
    }
    for (EngineListener* listener : listeners_) listener->on_pool_event(synced);
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

}  // namespace berth
