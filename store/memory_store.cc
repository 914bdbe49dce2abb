#include "store/memory_store.h"

#include <limits>
#include <utility>

namespace berth {

MemoryStore::MemoryStore(bool hold_commits) : hold_commits_(hold_commits) {}

MemoryStore::MemoryStore(const StoreSnapshot& durable, bool hold_commits)
    : hold_commits_(hold_commits) {
  for (const Application& app : durable.apps) apps_[app.spec.id] = app;
  for (const Executor& e : durable.executors) executors_[ExecutorKey{e.app, e.id}] = e;
  meta_ = durable.meta;
}

StatusOr<StoreSnapshot> MemoryStore::load() {
  std::lock_guard lock(mutex_);
  return snapshot_locked();
}

void MemoryStore::commit(StoreBatch batch, std::function<void(Status)> done) {
  {
    std::lock_guard lock(mutex_);
    if (hold_commits_) {
      queue_.push_back(Queued{std::move(batch), std::move(done)});
      return;
    }
    apply_locked(batch);
    ++committed_;
  }
  if (done) done(Status::Ok());
}

void MemoryStore::flush() {
  if (hold_commits_) complete_all();
}

bool MemoryStore::complete_next() {
  std::function<void(Status)> done;
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) return false;
    apply_locked(queue_.front().batch);
    ++committed_;
    done = std::move(queue_.front().done);
    queue_.pop_front();
  }
  if (done) done(Status::Ok());
  return true;
}

std::size_t MemoryStore::complete_all() {
  std::size_t completed = 0;
  while (complete_next()) ++completed;
  return completed;
}

bool MemoryStore::fail_next(Status status) {
  std::function<void(Status)> done;
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) return false;
    done = std::move(queue_.front().done);
    queue_.pop_front();
  }
  if (done) done(std::move(status));
  return true;
}

std::size_t MemoryStore::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

StoreSnapshot MemoryStore::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_locked();
}

std::unique_ptr<MemoryStore> MemoryStore::durable_copy(bool hold_commits) const {
  return std::make_unique<MemoryStore>(snapshot(), hold_commits);
}

std::size_t MemoryStore::committed() const {
  std::lock_guard lock(mutex_);
  return committed_;
}

void MemoryStore::apply_locked(const StoreBatch& batch) {
  for (const Application& app : batch.put_apps) apps_[app.spec.id] = app;
  for (const Executor& e : batch.put_executors) executors_[ExecutorKey{e.app, e.id}] = e;
  for (const auto& [key, value] : batch.put_meta) meta_[key] = value;
  for (const ExecutorKey& key : batch.delete_executors) executors_.erase(key);
  for (const AppId& app : batch.delete_apps) {
    apps_.erase(app);
    executors_.erase(executors_.lower_bound(ExecutorKey{app, std::numeric_limits<ExecutorId>::min()}),
                     executors_.upper_bound(ExecutorKey{app, std::numeric_limits<ExecutorId>::max()}));
  }
}

StoreSnapshot MemoryStore::snapshot_locked() const {
  StoreSnapshot out;
  out.apps.reserve(apps_.size());
  for (const auto& [id, app] : apps_) out.apps.push_back(app);
  out.executors.reserve(executors_.size());
  for (const auto& [key, e] : executors_) out.executors.push_back(e);
  out.meta = meta_;
  return out;
}

}  // namespace berth
