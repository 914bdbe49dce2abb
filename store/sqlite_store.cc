#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <iterator>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "base/files.h"
#include "store/json_codec.h"

namespace berth {
namespace {

using store_internal::decode_spec;
using store_internal::decode_strings;
using store_internal::decode_targets;
using store_internal::encode_spec;
using store_internal::encode_strings;
using store_internal::encode_targets;

constexpr int kBusyTimeoutMs = 5000;

// Migration i (0-based) takes the schema from version i to version i + 1. Append only: a
// released migration never changes.
constexpr const char* kMigrations[] = {
    // 1: the first schema. Timestamps are milliseconds since the Unix epoch; revisions are
    // uint64 stored as the int64 with the same bits; JSON columns are documented in json_codec.h.
    R"sql(
CREATE TABLE apps (
  app_id TEXT NOT NULL PRIMARY KEY,
  tenant TEXT NOT NULL,
  phase TEXT NOT NULL,
  spec TEXT NOT NULL,
  targets TEXT NOT NULL,
  next_executor_id INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  lease_deadline_ms INTEGER NOT NULL,
  orphaned_at_ms INTEGER NOT NULL,
  ended_at_ms INTEGER NOT NULL,
  launch_failures INTEGER NOT NULL,
  conditions TEXT NOT NULL,
  end_reason TEXT NOT NULL,
  revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE executors (
  app_id TEXT NOT NULL,
  executor_id INTEGER NOT NULL,
  profile_id INTEGER NOT NULL,
  pool TEXT NOT NULL,
  backend_name TEXT NOT NULL,
  state TEXT NOT NULL,
  host TEXT NOT NULL,
  exit_code INTEGER,
  loss_reason TEXT NOT NULL,
  loss_caused_by_app INTEGER NOT NULL,
  loss_message TEXT NOT NULL,
  loss_host_lost INTEGER NOT NULL,
  requested_ms INTEGER NOT NULL,
  launched_ms INTEGER NOT NULL,
  running_ms INTEGER NOT NULL,
  ended_ms INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  PRIMARY KEY (app_id, executor_id)
) WITHOUT ROWID;
CREATE TABLE meta (
  key TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql",
    // 2: an executor's backend handle (opaque adapter state core keeps and gives back on
    // recovery), and adapter state kept under "adapter/<pool>/<key>": the Mesos framework id
    // that version 1 kept as "mesos.framework_id.<pool>" moves there.
    R"sql(
ALTER TABLE executors ADD COLUMN handle_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE executors ADD COLUMN handle BLOB NOT NULL DEFAULT x'';
UPDATE meta SET key = 'adapter/' || substr(key, 20) || '/framework_id'
  WHERE key LIKE 'mesos.framework_id.%';
)sql",
};
constexpr int kMigrationCount = static_cast<int>(std::size(kMigrations));
static_assert(kMigrationCount == SqliteStore::kSchemaVersion);

class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  int prepare(sqlite3* db, std::string_view sql) {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    return sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  }
  sqlite3_stmt* get() const { return stmt_; }

  // Bind parameters by 1-based index; the bound strings must outlive the step.
  void bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  }
  void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void bind(int i, Timestamp t) { bind(i, static_cast<std::int64_t>(t.time_since_epoch().count())); }
  void bind_null(int i) { sqlite3_bind_null(stmt_, i); }
  void bind_blob(int i, const std::string& bytes) {
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
  }

  // Runs a statement that returns no rows; SQLITE_DONE on success.
  int run() {
    const int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    return rc;
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

std::int64_t to_column(Revision r) { return static_cast<std::int64_t>(r); }
Revision revision_from_column(std::int64_t v) { return static_cast<Revision>(v); }

std::string column_text(sqlite3_stmt* stmt, int i) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
  return text == nullptr ? std::string() : std::string(text, sqlite3_column_bytes(stmt, i));
}

Timestamp column_time(sqlite3_stmt* stmt, int i) {
  return Timestamp(Duration(sqlite3_column_int64(stmt, i)));
}

std::optional<AppPhase> app_phase_from_string(const std::string& name) {
  for (AppPhase phase : {AppPhase::kActive, AppPhase::kOrphaned, AppPhase::kEnded}) {
    if (name == to_string(phase)) return phase;
  }
  return std::nullopt;
}

// Runs SQL text without results (no parameters).
int exec(sqlite3* db, const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); }

}  // namespace

struct SqliteStore::Statements {
  Statement begin;
  Statement commit;
  Statement rollback;
  Statement put_app;
  Statement put_executor;
  Statement put_meta;
  Statement delete_executor;
  Statement delete_app;
  Statement delete_app_executors;
};

StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    if (Status created = create_private_directories(parent.string()); !created.ok()) {
      return Status::Unavailable("cannot create the directory of store " + path + ": " + created.message());
    }
  }
  // SQLite would create the file 0644 minus the umask; an empty file is a new database to it.
  if (StatusOr<int> fd = open_or_create(path, O_RDONLY, 0600); fd.ok()) {
    ::close(*fd);
  } else {
    return Status::Unavailable("store: " + fd.status().message());
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) {
    Status status = Status::Unavailable("cannot open store " + path + ": " +
                                        (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close_v2(db);
    return status;
  }
  // From here the store owns db and closes it on every path.
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, db));
  if (Status s = store->prepare(); !s.ok()) return s;
  store->writer_ = std::thread([raw = store.get()] { raw->run_writer(); });
  return store;
}

SqliteStore::SqliteStore(std::string path, sqlite3* db)
    : path_(std::move(path)), db_(db), statements_(std::make_unique<Statements>()) {}

SqliteStore::~SqliteStore() {
  if (writer_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    queued_cv_.notify_one();
    writer_.join();  // the writer drains the queue before it returns
  }
  statements_.reset();
  sqlite3_close_v2(db_);
}

Status SqliteStore::error(const char* doing) const {
  const int code = sqlite3_extended_errcode(db_);
  std::string message = std::string("store ") + path_ + ": " + doing + ": " + sqlite3_errmsg(db_);
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
      return Status::Unavailable(std::move(message));
    case SQLITE_NOTADB:
      return Status::FailedPrecondition(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

Status SqliteStore::prepare() {
  std::lock_guard db_lock(db_mutex_);
  sqlite3_extended_result_codes(db_, 1);
  if (sqlite3_busy_timeout(db_, kBusyTimeoutMs) != SQLITE_OK) return error("set busy_timeout");

  // journal_mode answers with the mode in effect, which stays the old one when WAL is refused.
  Statement wal;
  if (wal.prepare(db_, "PRAGMA journal_mode=WAL") != SQLITE_OK) return error("set WAL mode");
  const int rc = sqlite3_step(wal.get());
  if (rc != SQLITE_ROW) return error("set WAL mode");
  const std::string mode = column_text(wal.get(), 0);
  if (mode != "wal") {
    return Status::FailedPrecondition("store " + path_ + ": journal mode is " + mode +
                                      ", WAL refused");
  }
  sqlite3_reset(wal.get());
  // FULL: every commit syncs the WAL, so a completed commit survives power loss too.
  if (exec(db_, "PRAGMA synchronous=FULL") != SQLITE_OK) return error("set synchronous=FULL");

  // Migrate under the write lock so that two processes opening one file cannot both migrate.
  if (exec(db_, "BEGIN IMMEDIATE") != SQLITE_OK) return error("begin migration");
  Status status;
  Statement version;
  if (version.prepare(db_, "PRAGMA user_version") != SQLITE_OK ||
      sqlite3_step(version.get()) != SQLITE_ROW) {
    status = error("read schema version");
  } else {
    const int current = sqlite3_column_int(version.get(), 0);
    sqlite3_reset(version.get());
    if (current > kSchemaVersion) {
      status = Status::FailedPrecondition(
          "store " + path_ + ": schema version " + std::to_string(current) +
          " is newer than this berthd supports (" + std::to_string(kSchemaVersion) + ")");
    }
    for (int v = current; status.ok() && v < kSchemaVersion; ++v) {
      if (exec(db_, kMigrations[v]) != SQLITE_OK) {
        status = error(("migrate schema to version " + std::to_string(v + 1)).c_str());
      }
    }
    if (status.ok() && current < kSchemaVersion) {
      const std::string set = "PRAGMA user_version=" + std::to_string(kSchemaVersion);
      if (exec(db_, set.c_str()) != SQLITE_OK) status = error("set schema version");
    }
  }
  if (status.ok()) {
    if (exec(db_, "COMMIT") != SQLITE_OK) status = error("commit migration");
  }
  if (!status.ok()) {
    if (sqlite3_get_autocommit(db_) == 0) exec(db_, "ROLLBACK");
    return status;
  }

  Statements& s = *statements_;
  const std::pair<Statement*, const char*> sql[] = {
      {&s.begin, "BEGIN IMMEDIATE"},
      {&s.commit, "COMMIT"},
      {&s.rollback, "ROLLBACK"},
      {&s.put_app,
       "INSERT OR REPLACE INTO apps (app_id, tenant, phase, spec, targets, next_executor_id, "
       "created_ms, lease_deadline_ms, orphaned_at_ms, ended_at_ms, launch_failures, conditions, "
       "end_reason, revision) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"},
      {&s.put_executor,
       "INSERT OR REPLACE INTO executors (app_id, executor_id, profile_id, pool, backend_name, "
       "state, host, exit_code, loss_reason, loss_caused_by_app, loss_message, loss_host_lost, "
       "requested_ms, launched_ms, running_ms, ended_ms, attempt, revision, handle_version, handle) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"},
      {&s.put_meta, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)"},
      {&s.delete_executor, "DELETE FROM executors WHERE app_id = ?1 AND executor_id = ?2"},
      {&s.delete_app, "DELETE FROM apps WHERE app_id = ?1"},
      {&s.delete_app_executors, "DELETE FROM executors WHERE app_id = ?1"},
  };
  for (const auto& [statement, text] : sql) {
    if (statement->prepare(db_, text) != SQLITE_OK) return error("prepare statement");
  }
  return Status::Ok();
}

StatusOr<StoreSnapshot> SqliteStore::load() {
  std::lock_guard db_lock(db_mutex_);
  StoreSnapshot out;
  // One read transaction, so the three tables are read at one point in time.
  if (exec(db_, "BEGIN") != SQLITE_OK) return error("begin load");
  auto fail = [this](Status status) {
    exec(db_, "ROLLBACK");
    return status;
  };

  Statement apps;
  if (apps.prepare(db_,
                   "SELECT app_id, phase, spec, targets, next_executor_id, created_ms, "
                   "lease_deadline_ms, orphaned_at_ms, ended_at_ms, launch_failures, conditions, "
                   "end_reason, revision FROM apps ORDER BY app_id") != SQLITE_OK) {
    return fail(error("prepare load of apps"));
  }
  int rc;
  while ((rc = sqlite3_step(apps.get())) == SQLITE_ROW) {
    sqlite3_stmt* row = apps.get();
    const std::string id = column_text(row, 0);
    Application app;
    auto row_error = [&](const std::string& problem) {
      return Status::Internal("store " + path_ + ": app " + id + ": " + problem);
    };
    const std::string phase = column_text(row, 1);
    if (auto p = app_phase_from_string(phase)) {
      app.phase = *p;
    } else {
      return fail(row_error("unknown phase " + phase));
    }
    if (Status s = decode_spec(column_text(row, 2), app.spec); !s.ok()) {
      return fail(row_error(s.message()));
    }
    if (app.spec.id != id) return fail(row_error("spec holds app id " + app.spec.id));
    if (Status s = decode_targets(column_text(row, 3), app.targets); !s.ok()) {
      return fail(row_error(s.message()));
    }
    app.next_executor_id = sqlite3_column_int64(row, 4);
    app.created = column_time(row, 5);
    app.lease_deadline = column_time(row, 6);
    app.orphaned_at = column_time(row, 7);
    app.ended_at = column_time(row, 8);
    app.launch_failures = sqlite3_column_int(row, 9);
    if (Status s = decode_strings(column_text(row, 10), app.conditions); !s.ok()) {
      return fail(row_error(s.message()));
    }
    app.end_reason = column_text(row, 11);
    app.revision = revision_from_column(sqlite3_column_int64(row, 12));
    out.apps.push_back(std::move(app));
  }
  if (rc != SQLITE_DONE) return fail(error("load apps"));

  Statement executors;
  if (executors.prepare(
          db_,
          "SELECT app_id, executor_id, profile_id, pool, backend_name, state, host, exit_code, "
          "loss_reason, loss_caused_by_app, loss_message, loss_host_lost, requested_ms, "
          "launched_ms, running_ms, ended_ms, attempt, revision, handle_version, handle FROM executors "
          "ORDER BY app_id, executor_id") != SQLITE_OK) {
    return fail(error("prepare load of executors"));
  }
  while ((rc = sqlite3_step(executors.get())) == SQLITE_ROW) {
    sqlite3_stmt* row = executors.get();
    Executor e;
    e.app = column_text(row, 0);
    e.id = sqlite3_column_int64(row, 1);
    e.profile = sqlite3_column_int(row, 2);
    e.pool = column_text(row, 3);
    e.backend_name = column_text(row, 4);
    const std::string state = column_text(row, 5);
    if (auto s = executor_state_from_string(state)) {
      e.state = *s;
    } else {
      return fail(Status::Internal("store " + path_ + ": executor " + e.app + "/" +
                                   std::to_string(e.id) + ": unknown state " + state));
    }
    e.host = column_text(row, 6);
    if (sqlite3_column_type(row, 7) != SQLITE_NULL) e.exit_code = sqlite3_column_int(row, 7);
    e.loss.reason = column_text(row, 8);
    e.loss.caused_by_app = sqlite3_column_int(row, 9) != 0;
    e.loss.message = column_text(row, 10);
    e.loss.host_lost = sqlite3_column_int(row, 11) != 0;
    e.requested = column_time(row, 12);
    e.launched = column_time(row, 13);
    e.running = column_time(row, 14);
    e.ended = column_time(row, 15);
    e.attempt = sqlite3_column_int(row, 16);
    e.revision = revision_from_column(sqlite3_column_int64(row, 17));
    e.handle.version = sqlite3_column_int(row, 18);
    const void* handle = sqlite3_column_blob(row, 19);
    e.handle.data.assign(static_cast<const char*>(handle), handle == nullptr ? 0 : sqlite3_column_bytes(row, 19));
    out.executors.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return fail(error("load executors"));

  Statement meta;
  if (meta.prepare(db_, "SELECT key, value FROM meta ORDER BY key") != SQLITE_OK) {
    return fail(error("prepare load of meta"));
  }
  while ((rc = sqlite3_step(meta.get())) == SQLITE_ROW) {
    out.meta[column_text(meta.get(), 0)] = column_text(meta.get(), 1);
  }
  if (rc != SQLITE_DONE) return fail(error("load meta"));
  if (exec(db_, "COMMIT") != SQLITE_OK) return fail(error("end load"));
  return out;
}

void SqliteStore::commit(StoreBatch batch, std::function<void(Status)> done) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(Queued{std::move(batch), std::move(done)});
    ++enqueued_;
  }
  queued_cv_.notify_one();
}

void SqliteStore::flush() {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = enqueued_;
  completed_cv_.wait(lock, [&] { return completed_ >= target; });
}

std::uint64_t SqliteStore::transactions() const {
  std::lock_guard lock(mutex_);
  return transactions_;
}

void SqliteStore::run_writer() {
  for (;;) {
    std::vector<Queued> group;
    {
      std::unique_lock lock(mutex_);
      queued_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is written
      group.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
    }
    const Status status = write(group);
    {
      std::lock_guard lock(mutex_);
      ++transactions_;
    }
    for (Queued& q : group) {
      if (q.done) q.done(status);
    }
    {
      std::lock_guard lock(mutex_);
      completed_ += group.size();
    }
    completed_cv_.notify_all();
  }
}

Status SqliteStore::write(const std::vector<Queued>& group) {
  std::lock_guard db_lock(db_mutex_);
  Statements& s = *statements_;
  const std::string what = "write " + std::to_string(group.size()) + " batches";
  if (s.begin.run() != SQLITE_DONE) return error(("begin " + what).c_str());
  Status status;
  for (const Queued& q : group) {
    status = write_batch(q.batch);
    if (!status.ok()) break;
  }
  if (status.ok() && s.commit.run() != SQLITE_DONE) status = error(("commit " + what).c_str());
  // A failed COMMIT may leave the transaction open (SQLITE_BUSY) or have rolled it back already.
  if (!status.ok() && sqlite3_get_autocommit(db_) == 0) s.rollback.run();
  if (!status.ok()) return Status::Internal(status.message());
  return status;
}

Status SqliteStore::write_batch(const StoreBatch& batch) {
  Statements& s = *statements_;
  for (const Application& app : batch.put_apps) {
    const std::string phase = to_string(app.phase);
    const std::string spec = encode_spec(app.spec);
    const std::string targets = encode_targets(app.targets);
    const std::string conditions = encode_strings(app.conditions);
    Statement& st = s.put_app;
    st.bind(1, app.spec.id);
    st.bind(2, app.spec.tenant);
    st.bind(3, phase);
    st.bind(4, spec);
    st.bind(5, targets);
    st.bind(6, app.next_executor_id);
    st.bind(7, app.created);
    st.bind(8, app.lease_deadline);
    st.bind(9, app.orphaned_at);
    st.bind(10, app.ended_at);
    st.bind(11, std::int64_t{app.launch_failures});
    st.bind(12, conditions);
    st.bind(13, app.end_reason);
    st.bind(14, to_column(app.revision));
    if (st.run() != SQLITE_DONE) return error(("put app " + app.spec.id).c_str());
  }
  for (const Executor& e : batch.put_executors) {
    const std::string state = to_string(e.state);
    Statement& st = s.put_executor;
    st.bind(1, e.app);
    st.bind(2, e.id);
    st.bind(3, std::int64_t{e.profile});
    st.bind(4, e.pool);
    st.bind(5, e.backend_name);
    st.bind(6, state);
    st.bind(7, e.host);
    if (e.exit_code) {
      st.bind(8, std::int64_t{*e.exit_code});
    } else {
      st.bind_null(8);
    }
    st.bind(9, e.loss.reason);
    st.bind(10, std::int64_t{e.loss.caused_by_app});
    st.bind(11, e.loss.message);
    st.bind(12, std::int64_t{e.loss.host_lost});
    st.bind(13, e.requested);
    st.bind(14, e.launched);
    st.bind(15, e.running);
    st.bind(16, e.ended);
    st.bind(17, std::int64_t{e.attempt});
    st.bind(18, to_column(e.revision));
    st.bind(19, std::int64_t{e.handle.version});
    st.bind_blob(20, e.handle.data);
    if (st.run() != SQLITE_DONE) {
      return error(("put executor " + e.app + "/" + std::to_string(e.id)).c_str());
    }
  }
  for (const auto& [key, value] : batch.put_meta) {
    s.put_meta.bind(1, key);
    s.put_meta.bind(2, value);
    if (s.put_meta.run() != SQLITE_DONE) return error(("put meta " + key).c_str());
  }
  for (const ExecutorKey& key : batch.delete_executors) {
    s.delete_executor.bind(1, key.app);
    s.delete_executor.bind(2, key.id);
    if (s.delete_executor.run() != SQLITE_DONE) {
      return error(("delete executor " + key.app + "/" + std::to_string(key.id)).c_str());
    }
  }
  for (const AppId& app : batch.delete_apps) {
    s.delete_app_executors.bind(1, app);
    if (s.delete_app_executors.run() != SQLITE_DONE) {
      return error(("delete executors of app " + app).c_str());
    }
    s.delete_app.bind(1, app);
    if (s.delete_app.run() != SQLITE_DONE) return error(("delete app " + app).c_str());
  }
  return Status::Ok();
}

}  // namespace berth
