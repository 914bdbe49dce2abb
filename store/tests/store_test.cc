#include <catch2/catch.hpp>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/store.h"
#include "store/memory_store.h"
#include "store/sqlite_store.h"

using namespace berth;
using namespace std::chrono_literals;

namespace {

constexpr auto kWait = 20s;  // deadline for anything a test waits for

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "berth-store-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::unique_ptr<SqliteStore> must_open(const std::filesystem::path& path) {
  auto store = SqliteStore::open(path.string());
  INFO(store.status().to_string());
  REQUIRE(store.ok());
  return std::move(store.value());
}

Timestamp at(std::int64_t ms) { return Timestamp(Duration(ms)); }

// An application with every field away from its default, strings that need escaping included.
Application full_app(const std::string& id) {
  Application app;
  app.spec.id = id;
  app.spec.tenant = "team-\"quoted\"\n\xc3\xa9t\xc3\xa9";
  app.spec.pools = {"k8s-east", "nomad-west", "local"};
  ResourceProfile p0;
  p0.id = 0;
  p0.cores = 4;
  p0.heap_mib = 8192;
  p0.overhead_mib = 0;
  p0.overhead_factor = 0.1;
  p0.offheap_mib = 512;
  p0.pyspark_mib = 256;
  ResourceProfile p1;
  p1.id = 7;
  p1.cores = 2;
  p1.heap_mib = std::numeric_limits<std::int64_t>::max();
  p1.overhead_mib = 1000;
  p1.overhead_factor = 1.0 / 3.0;
  p1.offheap_mib = -1;
  p1.pyspark_mib = 0;
  p1.resources = {{"gpu", "nvidia.com", 2}, {"fpga", "xilinx.com", std::numeric_limits<std::int64_t>::min()}};
  app.spec.profiles = {p0, p1};
  LaunchSpec launch;
  launch.image = "apache/spark:3.5.1";
  launch.command = {"/opt/entrypoint.sh", "executor"};
  launch.args = {"--verbose", "", "a b\tc"};
  launch.env = {{"SPARK_USER", "alice"}, {"EMPTY", ""}, {"JSON", "{\"a\":[1,2]}"},
                {"BYTES", std::string("\xff\xfe\0nul", 6)}};
  launch.labels = {{"team", "data"}, {"spark-app-selector", id}};
  launch.annotations = {{"example.com/note", "line1\nline2"}};
  app.spec.launch = std::move(launch);
  app.spec.driver.url = "spark://CoarseGrainedScheduler@10.0.0.5:7078";
  app.spec.driver.pod = DriverPod{"spark-jobs", "driver-0", "6f1b1c8e-uid"};
  app.spec.lease_ttl = Duration(45'000);
  app.phase = AppPhase::kOrphaned;
  app.targets = {{0, 12}, {7, 0}, {-1, std::numeric_limits<std::int32_t>::max()}};
  app.next_executor_id = std::numeric_limits<ExecutorId>::max();
  app.created = at(1'700'000'000'123);
  app.lease_deadline = at(1'700'000'045'123);
  app.orphaned_at = at(-5);
  app.ended_at = at(std::numeric_limits<std::int64_t>::max());
  app.launch_failures = 3;
  app.conditions = {"QUOTA_EXCEEDED", "pool k8s-east frozen"};
  app.end_reason = "lease expired";
  app.revision = std::numeric_limits<Revision>::max();
  return app;
}

// An application with every field at its default but the id.
Application plain_app(const std::string& id) {
  Application app;
  app.spec.id = id;
  return app;
}

Executor full_executor(const AppId& app, ExecutorId id) {
  Executor e;
  e.app = app;
  e.id = id;
  e.profile = 7;
  e.pool = "k8s-east";
  e.backend_name = "berth-" + app + "-exec-" + std::to_string(id);
  e.state = ExecutorState::kFailed;
  e.host = "node-3.example.com";
  e.exit_code = 137;
  e.loss = Loss{"oom_killed", true, "OOMKilled", true};
  e.requested = at(1'700'000'000'001);
  e.launched = at(1'700'000'000'002);
  e.running = at(1'700'000'000'003);
  e.ended = at(1'700'000'000'004);
  e.attempt = 2;
  e.revision = (Revision{1} << 63) + 5;
  e.handle = BackendHandle{2, std::string("agent\0id", 8)};  // opaque bytes, a NUL among them
  return e;
}

Executor plain_executor(const AppId& app, ExecutorId id) {
  Executor e;
  e.app = app;
  e.id = id;
  return e;
}

// Application has no operator==: compare field by field so a mismatch names the field.
void check_same(const Application& a, const Application& b) {
  INFO("app " << a.spec.id);
  CHECK(a.spec == b.spec);
  CHECK(a.phase == b.phase);
  CHECK(a.targets == b.targets);
  CHECK(a.next_executor_id == b.next_executor_id);
  CHECK(a.created == b.created);
  CHECK(a.lease_deadline == b.lease_deadline);
  CHECK(a.orphaned_at == b.orphaned_at);
  CHECK(a.ended_at == b.ended_at);
  CHECK(a.launch_failures == b.launch_failures);
  CHECK(a.conditions == b.conditions);
  CHECK(a.end_reason == b.end_reason);
  CHECK(a.revision == b.revision);
}

void check_same(const StoreSnapshot& got, const StoreSnapshot& want) {
  REQUIRE(got.apps.size() == want.apps.size());
  for (std::size_t i = 0; i < got.apps.size(); ++i) check_same(got.apps[i], want.apps[i]);
  CHECK(got.executors == want.executors);
  CHECK(got.meta == want.meta);
}

StoreSnapshot must_load(Store& store) {
  auto loaded = store.load();
  INFO(loaded.status().to_string());
  REQUIRE(loaded.ok());
  return std::move(loaded.value());
}

// Commits and waits for `done`, whichever thread runs it.
Status commit_and_wait(Store& store, StoreBatch batch) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  store.commit(std::move(batch), [promise](Status s) { promise->set_value(std::move(s)); });
  REQUIRE(future.wait_for(kWait) == std::future_status::ready);
  return future.get();
}

void must_commit(Store& store, StoreBatch batch) {
  Status s = commit_and_wait(store, std::move(batch));
  INFO(s.to_string());
  REQUIRE(s.ok());
}

std::vector<ExecutorId> executor_ids(const StoreSnapshot& snapshot, const AppId& app) {
  std::vector<ExecutorId> ids;
  for (const Executor& e : snapshot.executors) {
    if (e.app == app) ids.push_back(e.id);
  }
  return ids;
}

// The two stores behind one shape, so that one conformance suite runs over both. reopen() is what
// a restart finds: the durable state.
class MemoryHarness {
 public:
  Store& store() { return *store_; }
  void reopen() {
    store_->flush();
    store_ = store_->durable_copy();
  }

 private:
  std::unique_ptr<MemoryStore> store_ = std::make_unique<MemoryStore>();
};

class SqliteHarness {
 public:
  // A nested path: open() creates the missing directories.
  SqliteHarness() : path_(dir_.path() / "var" / "lib" / "berth" / "state.db"), store_(must_open(path_)) {}
  Store& store() { return *store_; }
  void reopen() {
    store_.reset();
    store_ = must_open(path_);
  }

 private:
  TempDir dir_;
  std::filesystem::path path_;
  std::unique_ptr<SqliteStore> store_;
};

}  // namespace

// ---- Conformance: every Store implementation ----

TEMPLATE_TEST_CASE("a fresh store loads empty", "[conformance]", MemoryHarness, SqliteHarness) {
  TestType h;
  StoreSnapshot s = must_load(h.store());
  CHECK(s.apps.empty());
  CHECK(s.executors.empty());
  CHECK(s.meta.empty());
}

TEMPLATE_TEST_CASE("every field round-trips, also across a reopen", "[conformance]",
                   MemoryHarness, SqliteHarness) {
  TestType h;
  StoreSnapshot want;
  want.apps = {full_app("app-a"), plain_app("app-b")};
  for (int i = 0; i < kExecutorStateCount; ++i) {
    Executor e = full_executor("app-a", i + 1);
    e.state = static_cast<ExecutorState>(i);
    if (i % 2 == 1) e.exit_code.reset();
    want.executors.push_back(e);
  }
  Executor zero_exit = full_executor("app-a", 100);
  zero_exit.exit_code = 0;
  zero_exit.loss = Loss{};
  want.executors.push_back(zero_exit);
  want.executors.push_back(plain_executor("app-b", 1));
  want.meta = {{kMetaDaemonId, "daemon-7f3a"}, {kMetaRevision, "18446744073709551615"}, {"empty", ""}};

  StoreBatch batch;
  batch.put_apps = want.apps;
  batch.put_executors = want.executors;
  batch.put_meta = want.meta;
  must_commit(h.store(), batch);

  check_same(must_load(h.store()), want);
  h.reopen();
  check_same(must_load(h.store()), want);
}

TEMPLATE_TEST_CASE("a put replaces the previous record", "[conformance]", MemoryHarness,
                   SqliteHarness) {
  TestType h;
  Application app = full_app("app-a");
  Executor e = plain_executor("app-a", 1);
  StoreBatch first;
  first.put_apps = {app};
  first.put_executors = {e};
  first.put_meta = {{kMetaRevision, "1"}};
  must_commit(h.store(), first);

  app.spec.driver.pod.reset();
  app.targets.clear();
  app.phase = AppPhase::kEnded;
  e.state = ExecutorState::kRunning;
  e.host = "node-1";
  StoreBatch second;
  second.put_apps = {app};
  second.put_executors = {e};
  second.put_meta = {{kMetaRevision, "2"}};
  must_commit(h.store(), second);

  h.reopen();
  StoreSnapshot s = must_load(h.store());
  REQUIRE(s.apps.size() == 1);
  check_same(s.apps[0], app);
  CHECK(s.executors == std::vector<Executor>{e});
  CHECK(s.meta.at(kMetaRevision) == "2");
}

TEMPLATE_TEST_CASE("deleting an app deletes its executors and nothing else", "[conformance]",
                   MemoryHarness, SqliteHarness) {
  TestType h;
  StoreBatch batch;
  // "app" is a prefix of "app-2": a range delete by prefix would be wrong.
  batch.put_apps = {plain_app("app"), plain_app("app-2")};
  batch.put_executors = {plain_executor("app", 1), plain_executor("app", 2),
                         plain_executor("app-2", 1)};
  must_commit(h.store(), batch);

  StoreBatch del;
  del.delete_apps = {"app", "never-existed"};
  del.delete_executors = {{"app-2", 99}};
  must_commit(h.store(), del);
  h.reopen();
  StoreSnapshot s = must_load(h.store());
  REQUIRE(s.apps.size() == 1);
  CHECK(s.apps[0].spec.id == "app-2");
  CHECK(s.executors == std::vector<Executor>{plain_executor("app-2", 1)});

  StoreBatch del_executor;
  del_executor.delete_executors = {{"app-2", 1}};
  must_commit(h.store(), del_executor);
  CHECK(must_load(h.store()).executors.empty());
}

TEMPLATE_TEST_CASE("within a batch, deletes apply after puts", "[conformance]", MemoryHarness,
                   SqliteHarness) {
  TestType h;
  StoreBatch batch;
  batch.put_apps = {plain_app("gone"), plain_app("kept")};
  batch.put_executors = {plain_executor("gone", 1), plain_executor("kept", 1),
                         plain_executor("kept", 2)};
  batch.delete_apps = {"gone"};
  batch.delete_executors = {{"kept", 2}};
  must_commit(h.store(), batch);
  StoreSnapshot s = must_load(h.store());
  REQUIRE(s.apps.size() == 1);
  CHECK(s.apps[0].spec.id == "kept");
  CHECK(s.executors == std::vector<Executor>{plain_executor("kept", 1)});
}

TEMPLATE_TEST_CASE("commits complete in the order they were made", "[conformance]",
                   MemoryHarness, SqliteHarness) {
  TestType h;
  constexpr int kCommits = 300;
  std::mutex mutex;
  std::vector<int> order;
  for (int i = 0; i < kCommits; ++i) {
    StoreBatch b;
    b.put_executors = {plain_executor("app", i + 1)};
    b.put_meta = {{"last", std::to_string(i)}};
    h.store().commit(std::move(b), [&, i](Status s) {
      CHECK(s.ok());
      std::lock_guard lock(mutex);
      order.push_back(i);
    });
  }
  h.store().flush();  // returns once every done has run
  std::vector<int> want(kCommits);
  for (int i = 0; i < kCommits; ++i) want[i] = i;
  {
    std::lock_guard lock(mutex);
    CHECK(order == want);
  }
  h.reopen();
  StoreSnapshot s = must_load(h.store());
  CHECK(s.executors.size() == kCommits);
  CHECK(s.meta.at("last") == std::to_string(kCommits - 1));
}

// ---- MemoryStore ----

TEST_CASE("MemoryStore in hold mode makes nothing durable before the test completes it",
          "[memory]") {
  MemoryStore store(/*hold_commits=*/true);
  std::vector<Status> results;
  auto record = [&](Status s) { results.push_back(std::move(s)); };

  StoreBatch first;
  first.put_apps = {plain_app("app")};
  first.put_executors = {plain_executor("app", 1)};
  store.commit(first, record);
  StoreBatch second;
  second.put_executors = {plain_executor("app", 2)};
  store.commit(second, record);
  StoreBatch third;
  third.put_executors = {plain_executor("app", 3)};
  store.commit(third, record);

  CHECK(results.empty());
  CHECK(store.pending() == 3);
  CHECK(store.snapshot().executors.empty());
  CHECK(must_load(*store.durable_copy()).executors.empty());

  REQUIRE(store.complete_next());
  REQUIRE(results.size() == 1);
  CHECK(results[0].ok());
  CHECK(store.snapshot().executors == std::vector<Executor>{plain_executor("app", 1)});

  REQUIRE(store.fail_next(Status::Unavailable("disk gone")));
  REQUIRE(results.size() == 2);
  CHECK(results[1].code() == StatusCode::kUnavailable);
  CHECK(store.snapshot().executors.size() == 1);  // a failed batch is not applied

  // A crash now loses the queued third commit.
  std::unique_ptr<MemoryStore> after_crash = store.durable_copy();
  CHECK(after_crash->pending() == 0);
  CHECK(must_load(*after_crash).executors == std::vector<Executor>{plain_executor("app", 1)});

  CHECK(store.complete_all() == 1);
  CHECK(results.size() == 3);
  CHECK(store.snapshot().executors.size() == 2);
  CHECK(store.committed() == 2);
  CHECK_FALSE(store.complete_next());
  CHECK_FALSE(store.fail_next(Status::Internal("nothing queued")));
}

TEST_CASE("MemoryStore: done may commit again; flush in hold mode completes the queue",
          "[memory]") {
  MemoryStore store(/*hold_commits=*/true);
  int completed = 0;
  StoreBatch first;
  first.put_executors = {plain_executor("app", 1)};
  store.commit(first, [&](Status s) {
    CHECK(s.ok());
    ++completed;
    StoreBatch chained;
    chained.put_executors = {plain_executor("app", 2)};
    store.commit(chained, [&](Status s2) {
      CHECK(s2.ok());
      ++completed;
    });
  });
  store.flush();
  CHECK(completed == 2);
  CHECK(store.pending() == 0);
  CHECK(store.snapshot().executors.size() == 2);
}

TEST_CASE("MemoryStore by default completes inline", "[memory]") {
  MemoryStore store;
  bool done = false;
  StoreBatch b;
  b.put_meta = {{"k", "v"}};
  store.commit(b, [&](Status s) { done = s.ok(); });
  CHECK(done);
  CHECK(store.pending() == 0);
  CHECK(store.snapshot().meta.at("k") == "v");
}

// ---- SqliteStore ----

namespace {

// Runs SQL on its own connection to the database file, as another process would.
std::string side_query(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  std::string out;
  char* error = nullptr;
  const int rc = sqlite3_exec(
      db, sql.c_str(),
      [](void* sink, int columns, char** values, char**) {
        auto* s = static_cast<std::string*>(sink);
        for (int i = 0; i < columns; ++i) {
          if (!s->empty()) s->push_back('|');
          s->append(values[i] ? values[i] : "NULL");
        }
        return 0;
      },
      &out, &error);
  std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  INFO(message);
  REQUIRE(rc == SQLITE_OK);
  return out;
}

// Holds the writer thread inside the `done` of a first commit until released, so that every
// commit made meanwhile queues behind it.
class WriterGate {
 public:
  void hold(SqliteStore& store) {
    store.commit(StoreBatch{}, [this](Status) {
      std::unique_lock lock(mutex_);
      held_ = true;
      cv_.notify_all();
      cv_.wait(lock, [this] { return released_; });
    });
    std::unique_lock lock(mutex_);
    REQUIRE(cv_.wait_for(lock, kWait, [this] { return held_; }));
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool held_ = false;
  bool released_ = false;
};

}  // namespace

TEST_CASE("SqliteStore sets WAL, synchronous FULL and the schema version", "[sqlite]") {
  TempDir dir;
  const auto path = dir.path() / "a" / "b" / "berth.db";
  auto store = must_open(path);
  CHECK(store->path() == path.string());
  CHECK(side_query(path, "PRAGMA journal_mode") == "wal");
  CHECK(side_query(path, "PRAGMA user_version") == std::to_string(SqliteStore::kSchemaVersion));
  CHECK(side_query(path, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name") ==
        "apps|executors|meta");
}

TEST_CASE("SqliteStore migrates a version 1 database: handles start empty, the Mesos framework id moves",
          "[sqlite]") {
  TempDir dir;
  const auto path = dir.path() / "berth.db";
  // Version 1's schema and rows, as berthd 0.1 wrote them.
  side_query(path,
             "CREATE TABLE apps (app_id TEXT NOT NULL PRIMARY KEY, tenant TEXT NOT NULL, phase TEXT NOT NULL, "
             "spec TEXT NOT NULL, targets TEXT NOT NULL, next_executor_id INTEGER NOT NULL, created_ms INTEGER NOT "
             "NULL, lease_deadline_ms INTEGER NOT NULL, orphaned_at_ms INTEGER NOT NULL, ended_at_ms INTEGER NOT "
             "NULL, launch_failures INTEGER NOT NULL, conditions TEXT NOT NULL, end_reason TEXT NOT NULL, revision "
             "INTEGER NOT NULL) WITHOUT ROWID;"
             "CREATE TABLE executors (app_id TEXT NOT NULL, executor_id INTEGER NOT NULL, profile_id INTEGER NOT "
             "NULL, pool TEXT NOT NULL, backend_name TEXT NOT NULL, state TEXT NOT NULL, host TEXT NOT NULL, "
             "exit_code INTEGER, loss_reason TEXT NOT NULL, loss_caused_by_app INTEGER NOT NULL, loss_message TEXT "
             "NOT NULL, loss_host_lost INTEGER NOT NULL, requested_ms INTEGER NOT NULL, launched_ms INTEGER NOT "
             "NULL, running_ms INTEGER NOT NULL, ended_ms INTEGER NOT NULL, attempt INTEGER NOT NULL, revision "
             "INTEGER NOT NULL, PRIMARY KEY (app_id, executor_id)) WITHOUT ROWID;"
             "CREATE TABLE meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
             "INSERT INTO executors VALUES ('app-a', 1, 0, 'mesos-east', 'berth-app-a-exec-1', 'RUNNING', 'agent-1', "
             "NULL, '', 0, '', 0, 1, 2, 3, 0, 1, 9);"
             "INSERT INTO meta VALUES ('mesos.framework_id.mesos-east', 'fw-1234'), ('daemon_id', 'd1');"
             "PRAGMA user_version = 1;");
  auto store = must_open(path);
  const StoreSnapshot loaded = must_load(*store);
  REQUIRE(loaded.executors.size() == 1);
  CHECK(loaded.executors[0].backend_name == "berth-app-a-exec-1");
  CHECK(loaded.executors[0].handle.empty());
  CHECK(loaded.meta == std::map<std::string, std::string>{{"adapter/mesos-east/framework_id", "fw-1234"},
                                                         {"daemon_id", "d1"}});
  CHECK(side_query(path, "PRAGMA user_version") == "2");
}

TEST_CASE("SqliteStore refuses a database from a newer berthd, and a file that is no database",
          "[sqlite]") {
  TempDir dir;
  const auto path = dir.path() / "berth.db";
  must_open(path).reset();
  side_query(path, "PRAGMA user_version = 99");
  auto newer = SqliteStore::open(path.string());
  REQUIRE_FALSE(newer.ok());
  CHECK(newer.status().code() == StatusCode::kFailedPrecondition);
  CHECK_THAT(newer.status().message(), Catch::Contains("99"));

  const auto junk = dir.path() / "junk.db";
  std::ofstream(junk) << std::string(8192, 'x');
  auto not_db = SqliteStore::open(junk.string());
  REQUIRE_FALSE(not_db.ok());
  CHECK(not_db.status().code() == StatusCode::kFailedPrecondition);

  // A directory where the file should be.
  std::filesystem::create_directories(dir.path() / "dir.db");
  CHECK_FALSE(SqliteStore::open((dir.path() / "dir.db").string()).ok());
}

// Issue 11: the state database was created world-readable under umask 022.
TEST_CASE("SqliteStore creates its directories 0700 and the database with its -wal and -shm 0600, whatever the umask",
          "[sqlite]") {
  auto mode_of = [](const std::filesystem::path& path) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_mode & 07777;
  };
  for (mode_t mask : {mode_t{022}, mode_t{0}}) {
    INFO("umask " << mask);
    TempDir dir;
    const auto path = dir.path() / "state" / "berth.db";
    const mode_t previous = ::umask(mask);
    auto store = SqliteStore::open(path.string());
    ::umask(previous);
    REQUIRE(store.ok());
    StoreBatch batch;
    batch.put_meta["probe"] = "1";
    must_commit(**store, std::move(batch));  // the -wal and -shm files exist while the store is open
    CHECK(mode_of(dir.path() / "state") == 0700);
    CHECK(mode_of(path) == 0600);
    CHECK(mode_of(path.string() + "-wal") == 0600);
    CHECK(mode_of(path.string() + "-shm") == 0600);
  }

  // An existing database keeps the mode its owner gave it.
  TempDir dir;
  const auto path = dir.path() / "berth.db";
  must_open(path).reset();
  std::filesystem::permissions(path, std::filesystem::perms(0640));
  must_open(path).reset();
  CHECK(mode_of(path) == 0640);
}

TEST_CASE("SqliteStore groups a burst of commits from several threads into one transaction",
          "[sqlite]") {
  TempDir dir;
  auto store = must_open(dir.path() / "berth.db");
  WriterGate gate;
  gate.hold(*store);
  const std::uint64_t before = store->transactions();

  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        StoreBatch b;
        b.put_executors = {full_executor("app-" + std::to_string(t), i + 1)};
        store->commit(std::move(b), [&](Status s) {
          if (s.ok()) ++ok;
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  gate.release();
  store->flush();

  CHECK(ok == kThreads * kPerThread);
  // The held transaction, then one for the whole burst.
  CHECK(store->transactions() - before == 1);
  CHECK(store->transactions() == 2);
  store.reset();
  CHECK(must_load(*must_open(dir.path() / "berth.db")).executors.size() == kThreads * kPerThread);
}

TEST_CASE("SqliteStore fails every batch of a failed transaction and stays usable", "[sqlite]") {
  TempDir dir;
  const auto path = dir.path() / "berth.db";
  auto store = must_open(path);
  // Fault injection from outside: inserting this backend name raises an SQLite error.
  side_query(path,
             "CREATE TRIGGER poison BEFORE INSERT ON executors WHEN NEW.backend_name = 'poison' "
             "BEGIN SELECT RAISE(ABORT, 'injected fault'); END");

  WriterGate gate;
  gate.hold(*store);
  std::vector<Status> results;  // appended on the writer thread, read after flush()
  auto record = [&](Status s) { results.push_back(std::move(s)); };
  StoreBatch good_before;
  good_before.put_apps = {plain_app("app")};
  good_before.put_executors = {plain_executor("app", 1)};
  store->commit(good_before, record);
  StoreBatch poison;
  Executor bad = plain_executor("app", 2);
  bad.backend_name = "poison";
  poison.put_executors = {bad};
  store->commit(poison, record);
  StoreBatch good_after;
  good_after.put_meta = {{"k", "v"}};
  store->commit(good_after, record);
  gate.release();
  store->flush();

  REQUIRE(results.size() == 3);
  for (const Status& s : results) {
    CHECK(s.code() == StatusCode::kInternal);
    CHECK_THAT(s.message(), Catch::Contains("injected fault"));
  }
  StoreSnapshot s = must_load(*store);
  CHECK(s.apps.empty());  // rolled back as a whole
  CHECK(s.executors.empty());
  CHECK(s.meta.empty());

  must_commit(*store, good_before);
  CHECK(must_load(*store).executors.size() == 1);
}

TEST_CASE("SqliteStore: nothing acknowledged is lost when the process is killed mid-stream",
          "[sqlite][crash]") {
  TempDir dir;
  const auto path = dir.path() / "berth.db";
  constexpr std::int64_t kAcksBeforeKill = 1500;
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child: commits without end, up to 64 in flight, and reports each acknowledged executor
    // id through the pipe. It never returns into the test framework.
    close(fds[0]);
    auto opened = SqliteStore::open(path.string());
    if (!opened.ok()) _exit(2);
    SqliteStore& store = **opened;
    std::mutex mutex;
    std::condition_variable cv;
    int in_flight = 0;
    for (std::int64_t id = 1;; ++id) {
      {
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return in_flight < 64; });
        ++in_flight;
      }
      StoreBatch b;
      b.put_executors = {full_executor("crash", id)};
      b.put_meta = {{"last", std::to_string(id)}};
      store.commit(std::move(b), [&, id](Status s) {
        if (!s.ok()) _exit(3);
        if (write(fds[1], &id, sizeof id) != sizeof id) _exit(4);
        std::lock_guard lock(mutex);
        --in_flight;
        cv.notify_one();
      });
    }
  }
  close(fds[1]);

  // Read acknowledgements until enough arrived, kill, then drain what was already written.
  std::vector<std::int64_t> acked;
  bool killed = false;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  for (;;) {
    if (!killed && static_cast<std::int64_t>(acked.size()) >= kAcksBeforeKill) {
      REQUIRE(kill(child, SIGKILL) == 0);
      killed = true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    REQUIRE(left.count() > 0);
    pollfd p{fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left.count()));
    REQUIRE(ready >= 0);
    if (ready == 0) continue;
    std::int64_t id = 0;
    const ssize_t n = read(fds[0], &id, sizeof id);
    if (n == 0) break;  // every writer end closed: the child is gone
    REQUIRE(n == static_cast<ssize_t>(sizeof id));
    acked.push_back(id);
  }
  close(fds[0]);
  int wstatus = 0;
  REQUIRE(waitpid(child, &wstatus, 0) == child);
  INFO("child wait status " << wstatus);
  REQUIRE(WIFSIGNALED(wstatus));
  CHECK(WTERMSIG(wstatus) == SIGKILL);
  REQUIRE(killed);

  // Acknowledgements came in commit order: 1, 2, ... K.
  for (std::size_t i = 0; i < acked.size(); ++i) REQUIRE(acked[i] == static_cast<std::int64_t>(i + 1));
  const auto last_acked = static_cast<std::int64_t>(acked.size());

  CHECK(side_query(path, "PRAGMA integrity_check") == "ok");
  auto store = must_open(path);
  StoreSnapshot s = must_load(*store);
  // Every acknowledged batch is there; unacknowledged ones may be too, but only as a prefix of
  // the commit order, each batch whole.
  std::vector<ExecutorId> ids = executor_ids(s, "crash");
  const auto durable = static_cast<std::int64_t>(ids.size());
  INFO("acknowledged " << last_acked << ", durable " << durable);
  CHECK(durable >= last_acked);
  for (std::int64_t i = 0; i < durable; ++i) REQUIRE(ids[i] == i + 1);
  CHECK(s.meta.at("last") == std::to_string(durable));
  CHECK(s.executors.back() == full_executor("crash", durable));
}

TEST_CASE("SqliteStore throughput of executor upserts (printed, not asserted)", "[sqlite][bench]") {
  TempDir dir;
  auto store = must_open(dir.path() / "berth.db");
  using Clock = std::chrono::steady_clock;
  auto rate = [](std::int64_t n, Clock::duration d) {
    return static_cast<double>(n) / std::chrono::duration<double>(d).count();
  };

  // Baseline: one executor per commit, each awaited before the next (one fsync each).
  constexpr int kSerial = 200;
  auto start = Clock::now();
  for (int i = 0; i < kSerial; ++i) {
    StoreBatch b;
    b.put_executors = {full_executor("serial", i + 1)};
    must_commit(*store, std::move(b));
  }
  const double serial = rate(kSerial, Clock::now() - start);

  // Group commit: one executor per commit, committed as fast as one caller can, as core does.
  constexpr int kGrouped = 50'000;
  const std::uint64_t tx_before = store->transactions();
  start = Clock::now();
  for (int i = 0; i < kGrouped; ++i) {
    StoreBatch b;
    b.put_executors = {full_executor("grouped", i + 1)};
    store->commit(std::move(b), nullptr);
  }
  store->flush();
  const double grouped = rate(kGrouped, Clock::now() - start);
  const std::uint64_t grouped_tx = store->transactions() - tx_before;

  std::printf(
      "store bench: awaited one-by-one %.0f upserts/s; group commit %.0f upserts/s "
      "(%d commits in %llu transactions)\n",
      serial, grouped, kGrouped, static_cast<unsigned long long>(grouped_tx));
  CHECK(must_load(*store).executors.size() == kSerial + kGrouped);
}
