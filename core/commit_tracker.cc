#include "core/commit_tracker.h"

namespace berth {

void CommitTracker::executor_created(const ExecutorKey& key) {
  dirty_executors_.insert(key);
  created_.push_back(key);
}

void CommitTracker::app_forgotten(const AppId& app, const std::vector<ExecutorId>& executors) {
  for (ExecutorId id : executors) dirty_executors_.erase({app, id});
  dirty_apps_.erase(app);
  deleted_apps_.push_back(app);
}

bool CommitTracker::add_waiter(Waiter done) {
  if (!dirty() && !failed_) {
    if (in_flight_.empty()) {
      done(Status::Ok());
    } else {
      in_flight_.rbegin()->second.waiters.push_back(std::move(done));
    }
    return false;
  }
  waiting_.push_back(std::move(done));
  return true;
}

CommitTracker::Batch CommitTracker::begin() {
  Batch batch;
  batch.sequence = ++sequence_;
  batch.apps.swap(dirty_apps_);
  batch.executors.swap(dirty_executors_);
  batch.deleted_apps.swap(deleted_apps_);
  batch.meta.swap(dirty_meta_);
  InFlight& commit = in_flight_[batch.sequence];
  commit.created.swap(created_);
  commit.waiters.swap(waiting_);
  return batch;
}

CommitTracker::Finished CommitTracker::finish(std::uint64_t sequence, bool ok) {
  Finished finished;
  auto node = in_flight_.extract(sequence);
  if (node.empty()) return finished;
  finished.created = std::move(node.mapped().created);
  finished.waiters = std::move(node.mapped().waiters);
  if (!ok) {
    // Not durable: the records go into the next commit; nothing created here is launched
    // until then.
    failed_ = true;
    for (const ExecutorKey& key : finished.created) executor_created(key);
    finished.created.clear();
  }
  return finished;
}

void CommitTracker::retry() {
  if (!failed_) return;
  failed_ = false;
  waiting_.push_back([](Status) {});  // makes the next pass commit, dirty or not
}

std::set<ExecutorKey> CommitTracker::created_not_durable() const {
  std::set<ExecutorKey> out(created_.begin(), created_.end());
  for (const auto& [sequence, commit] : in_flight_) out.insert(commit.created.begin(), commit.created.end());
  return out;
}

}  // namespace berth
