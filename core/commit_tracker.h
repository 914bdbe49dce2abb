#pragma once
// CommitTracker: what the Engine has changed since its last commit, the commits on their way to
// the store, and who waits for which to be durable. It holds keys, not records: the Engine turns
// a Batch into a StoreBatch from its current state when it commits.
//
// The write-ahead rule lives here: an executor created since the last commit is launchable only
// once the commit that writes it is durable (finish() hands it back then, and only then). A
// commit that fails leaves its changes dirty again for the next one, and failed() holds until
// retry(), so a broken store is retried from the timer, not in a hot loop.
//
// Not thread-safe: the Engine uses it on its strand.

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "base/status.h"
#include "core/types.h"

namespace berth {

class CommitTracker {
 public:
  using Waiter = std::function<void(Status)>;

  void app_changed(const AppId& app) { dirty_apps_.insert(app); }
  void executor_changed(const ExecutorKey& key) { dirty_executors_.insert(key); }
  // A store meta entry changed (adapter state).
  void meta_changed(const std::string& key) { dirty_meta_.insert(key); }
  // A new executor, written by the next commit and launchable once that is durable.
  void executor_created(const ExecutorKey& key);
  // The application and these executors of it are forgotten: the next commit deletes it and
  // writes nothing more of it.
  void app_forgotten(const AppId& app, const std::vector<ExecutorId>& executors);

  // Something is waiting to be written (changes, or waiters for the next commit).
  bool has_work() const { return dirty() || !waiting_.empty(); }
  bool failed() const { return failed_; }

  // `done` runs once every change made so far is durable. Returns true when that needs a new
  // commit; otherwise `done` has run already (nothing pending) or waits for the last commit in
  // flight, which carries every change made so far.
  bool add_waiter(Waiter done);
  // `done` waits for the next commit, whatever it holds.
  void add_waiter_for_next(Waiter done) { waiting_.push_back(std::move(done)); }

  struct Batch {
    std::uint64_t sequence = 0;
    std::set<AppId> apps;
    std::set<ExecutorKey> executors;
    std::vector<AppId> deleted_apps;
    std::set<std::string> meta;
  };
  // Starts a commit of everything dirty: the caller writes these records as they are now.
  Batch begin();

  struct Finished {
    std::vector<ExecutorKey> created;  // durable now (on success): launchable
    std::vector<Waiter> waiters;
  };
  // The store answered commit `sequence`. On failure the created executors are dirty again (the
  // caller marks whatever else it wants rewritten) and failed() holds until retry().
  Finished finish(std::uint64_t sequence, bool ok);
  // After a failure: the next pass may commit again.
  void retry();

  // Executors created whose records are not durable yet (for invariant checks).
  std::set<ExecutorKey> created_not_durable() const;

 private:
  bool dirty() const {
    return !dirty_apps_.empty() || !dirty_executors_.empty() || !deleted_apps_.empty() || !dirty_meta_.empty();
  }

  struct InFlight {
    std::vector<ExecutorKey> created;
    std::vector<Waiter> waiters;
  };
  std::set<AppId> dirty_apps_;
  std::set<ExecutorKey> dirty_executors_;
  std::vector<AppId> deleted_apps_;
  std::set<std::string> dirty_meta_;
  std::vector<ExecutorKey> created_;
  std::vector<Waiter> waiting_;
  std::uint64_t sequence_ = 0;
  std::map<std::uint64_t, InFlight> in_flight_;
  bool failed_ = false;
};

}  // namespace berth
