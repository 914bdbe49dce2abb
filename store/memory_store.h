#pragma once
// MemoryStore: a Store that keeps everything in maps, for tests.
//
// Two modes. By default commit() applies the batch and runs `done(OK)` on the caller's thread
// before it returns. With hold_commits, commits queue and nothing becomes durable until the test
// completes them (complete_next, complete_all) or fails them (fail_next): a test can then assert
// what core does, and does not do, while a commit is in flight. `done` always runs on the thread
// that completes the commit, never under the store's lock, so it may call commit() again.
// Complete or fail commits from one thread at a time, or their `done`s may run out of order.
//
// Within one batch, puts apply before deletes (apps, executors, meta, then deleted executors,
// then deleted apps with their executors), as in SqliteStore.
//
// Thread-safe: every method may be called from any thread.

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/store.h"

namespace berth {

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(bool hold_commits = false);
  // Starts from `durable` state (in the default mode), as a daemon restarting on a database.
  explicit MemoryStore(const StoreSnapshot& durable, bool hold_commits = false);

  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  // Always OK: the completed state, apps by id, executors by (app, id), meta by key.
  StatusOr<StoreSnapshot> load() override;
  void commit(StoreBatch batch, std::function<void(Status)> done) override;
  // Default mode: returns at once. Hold mode: completes every queued commit with OK on this
  // thread, as a real store eventually would, so a shutdown path never blocks forever in a test.
  void flush() override;

  // Hold mode. Each returns what it did: whether a commit was queued / how many completed.
  bool complete_next();
  std::size_t complete_all();
  // Runs the oldest queued commit's `done` with `status` and drops its batch. `status` should not
  // be OK (use complete_next).
  bool fail_next(Status status);
  std::size_t pending() const;

  // The completed state, ordered as load() orders it.
  StoreSnapshot snapshot() const;
  // What a restarted daemon would find after a crash now: completed commits only, queued ones
  // lost.
  std::unique_ptr<MemoryStore> durable_copy(bool hold_commits = false) const;
  // Commits completed with OK so far.
  std::size_t committed() const;

 private:
  struct Queued {
    StoreBatch batch;
    std::function<void(Status)> done;
  };

  void apply_locked(const StoreBatch& batch);
  StoreSnapshot snapshot_locked() const;

  const bool hold_commits_;
  mutable std::mutex mutex_;
  std::map<AppId, Application> apps_;
  std::map<ExecutorKey, Executor> executors_;
  std::map<std::string, std::string> meta_;
  std::deque<Queued> queue_;
  std::size_t committed_ = 0;
};

}  // namespace berth
