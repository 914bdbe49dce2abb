#pragma once
// SqliteStore: the embedded default Store, one SQLite database file in WAL mode with
// synchronous=FULL, so a commit whose `done` ran with OK survives a crash of the process or of
// the machine.
//
// Group commit: one writer thread takes every batch queued since its last transaction and writes
// them in a single transaction (one fsync), then runs each `done` in commit order on that thread.
// When a transaction fails, it is rolled back and every batch in it completes with kInternal
// naming SQLite's message; the store stays usable.
//
// Within one batch, puts apply before deletes (apps, executors, meta, then deleted executors,
// then deleted apps with their executors), as in MemoryStore.
//
// Thread-safe: commit() and flush() may be called from any thread, except that `done` must not
// call flush() (it runs on the writer thread, which flush() waits for). The destructor flushes
// and joins the writer; no call may race with it.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace berth {

class SqliteStore final : public Store {
 public:
  // The schema version this build writes (PRAGMA user_version).
  static constexpr int kSchemaVersion = 2;

  // Opens or creates the database at `path`, creating missing parent directories, and migrates
  // its schema to kSchemaVersion. What it creates is private whatever the umask: directories
  // 0700, the database 0600 (SQLite gives its -wal and -shm files the database's mode); an
  // existing database keeps its mode.
  // Errors: kUnavailable when the directory or file cannot be created or opened, or the database
  // stays locked by another process; kFailedPrecondition when the file was written by a newer
  // berthd (schema version above kSchemaVersion) or is not a database; kInternal for other SQLite
  // errors.
  static StatusOr<std::unique_ptr<SqliteStore>> open(const std::string& path);

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore() override;

  // Everything durable: apps ordered by id, executors by (app, id), meta by key.
  // Errors: kInternal on an SQLite error or a row that does not decode (naming the app or
  // executor); kUnavailable when the database stays locked by another process.
  StatusOr<StoreSnapshot> load() override;
  void commit(StoreBatch batch, std::function<void(Status)> done) override;
  void flush() override;

  // Write transactions run so far, committed or rolled back.
  std::uint64_t transactions() const;
  const std::string& path() const { return path_; }

 private:
  struct Queued {
    StoreBatch batch;
    std::function<void(Status)> done;
  };
  struct Statements;

  SqliteStore(std::string path, sqlite3* db);
  Status prepare();
  void run_writer();
  Status write(const std::vector<Queued>& group);
  Status write_batch(const StoreBatch& batch);
  Status error(const char* doing) const;

  const std::string path_;
  sqlite3* db_;
  std::unique_ptr<Statements> statements_;
  // Serialises use of db_ between load() and the writer thread.
  std::mutex db_mutex_;

  mutable std::mutex mutex_;
  std::condition_variable queued_cv_;     // writer waits for work
  std::condition_variable completed_cv_;  // flush() waits for completions
  std::deque<Queued> queue_;
  std::uint64_t enqueued_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t transactions_ = 0;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace berth
