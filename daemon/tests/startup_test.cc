#include "daemon/startup.h"

#include <signal.h>
#include <spawn.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

#include "store/sqlite_store.h"

extern char** environ;

using namespace berth;

namespace {

// A fresh directory under the system's temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("berth-startup-test-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string path(const std::string& name = "") const { return name.empty() ? path_.string() : (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// A Store whose commits all fail, as a full disk would make them.
class RefusingStore final : public Store {
 public:
  StatusOr<StoreSnapshot> load() override { return StoreSnapshot{}; }
  void commit(StoreBatch, std::function<void(Status)> done) override {
    done(Status::Internal("disk I/O error"));
  }
  void flush() override {}
};

}  // namespace

// ------------------------------------------------------------------------------------------------
// StateDirLock
// ------------------------------------------------------------------------------------------------

TEST_CASE("the state-dir lock creates the directory and writes the holder's pid") {
  TempDir tmp;
  const std::string state_dir = tmp.path("state/nested");
  auto lock = StateDirLock::acquire(state_dir);
  REQUIRE(lock.ok());
  CHECK(lock->path() == state_dir + "/berthd.lock");
  CHECK(read_text(lock->path()) == std::to_string(::getpid()) + "\n");
  CHECK(read_lock_holder(lock->path()) == ::getpid());
}

TEST_CASE("a second lock of the same state dir fails naming the directory and the holder's pid") {
  TempDir tmp;
  const std::string state_dir = tmp.path("state");
  auto first = StateDirLock::acquire(state_dir);
  REQUIRE(first.ok());

  // Another open file description, as another process would have: flock refuses it.
  auto second = StateDirLock::acquire(state_dir);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == StatusCode::kFailedPrecondition);
  CHECK_THAT(second.status().message(), Catch::Contains("state_dir " + state_dir + " is in use"));
  CHECK_THAT(second.status().message(), Catch::Contains("pid " + std::to_string(::getpid())));
  CHECK_THAT(second.status().message(), Catch::Contains(state_dir + "/berthd.lock"));
  // The refused attempt leaves the holder's pid in place.
  CHECK(read_lock_holder(first->path()) == ::getpid());
}

TEST_CASE("another process cannot take the lock while it is held") {
  TempDir tmp;
  const std::string state_dir = tmp.path("state");
  auto lock = StateDirLock::acquire(state_dir);
  REQUIRE(lock.ok());
  const pid_t parent = ::getpid();

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The fork inherited the parent's descriptor, but a fresh open is a description of its own.
    auto attempt = StateDirLock::acquire(state_dir);
    const bool refused_naming_parent =
        !attempt.ok() && attempt.status().code() == StatusCode::kFailedPrecondition &&
        attempt.status().message().find("pid " + std::to_string(parent) + ",") != std::string::npos;
    ::_exit(refused_naming_parent ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("the lock is released when its holder is destroyed") {
  TempDir tmp;
  const std::string state_dir = tmp.path("state");
  {
    auto lock = StateDirLock::acquire(state_dir);
    REQUIRE(lock.ok());
  }
  auto again = StateDirLock::acquire(state_dir);
  CHECK(again.ok());
}

TEST_CASE("a moved lock stays held until its last owner is destroyed") {
  TempDir tmp;
  const std::string state_dir = tmp.path("state");
  auto acquired = StateDirLock::acquire(state_dir);
  REQUIRE(acquired.ok());
  std::optional<StateDirLock> owner(std::move(*acquired));
  { StateDirLock moved_out = std::move(*acquired); }  // the moved-from object releases nothing
  CHECK_FALSE(StateDirLock::acquire(state_dir).ok());
  owner.reset();
  CHECK(StateDirLock::acquire(state_dir).ok());
}

TEST_CASE("a lock file left by a daemon that died does not block: the new holder's pid replaces it") {
  TempDir tmp;
  const std::string state_dir = tmp.path("state");
  std::filesystem::create_directories(state_dir);
  // What a daemon killed with SIGKILL leaves: the file with its pid, longer than ours, and no lock.
  write_text(state_dir + "/berthd.lock", "2147483\n");
  auto lock = StateDirLock::acquire(state_dir);
  REQUIRE(lock.ok());
  CHECK(read_text(lock->path()) == std::to_string(::getpid()) + "\n");
}

TEST_CASE("processes started while the lock is held do not inherit it") {
  TempDir tmp;
  const std::string state_dir = tmp.path("state");
  auto acquired = StateDirLock::acquire(state_dir);
  REQUIRE(acquired.ok());
  std::optional<StateDirLock> lock(std::move(*acquired));

  // A long-lived child, as a local executor is: it must not keep the lock after the daemon lets go.
  pid_t child = 0;
  char program[] = "sleep";
  char seconds[] = "60";
  char* argv[] = {program, seconds, nullptr};
  REQUIRE(::posix_spawnp(&child, "sleep", nullptr, nullptr, argv, environ) == 0);
  lock.reset();

  auto again = StateDirLock::acquire(state_dir);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  CHECK(again.ok());
}

TEST_CASE("a state dir that cannot be created is unavailable, naming it") {
  TempDir tmp;
  write_text(tmp.path("file"), "not a directory\n");
  auto lock = StateDirLock::acquire(tmp.path("file/state"));
  REQUIRE_FALSE(lock.ok());
  CHECK(lock.status().code() == StatusCode::kUnavailable);
  CHECK_THAT(lock.status().message(), Catch::Contains(tmp.path("file/state")));
}

// Issue 11: what berthd creates in its state directory was world-readable under umask 022.
TEST_CASE("the state dir is created 0700 and the lock file 0600 whatever the umask; existing ones keep their modes") {
  auto mode_of = [](const std::string& path) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_mode & 07777;
  };
  TempDir tmp;
  for (mode_t mask : {mode_t{022}, mode_t{0}}) {
    INFO("umask " << mask);
    const std::string state_dir = tmp.path("umask-" + std::to_string(mask) + "/var/berth");
    const mode_t previous = ::umask(mask);
    auto lock = StateDirLock::acquire(state_dir);
    ::umask(previous);
    REQUIRE(lock.ok());
    CHECK(mode_of(state_dir) == 0700);
    CHECK(mode_of(std::filesystem::path(state_dir).parent_path().string()) == 0700);
    CHECK(mode_of(lock->path()) == 0600);
  }

  std::filesystem::create_directories(tmp.path("shared"));
  std::filesystem::permissions(tmp.path("shared"), std::filesystem::perms(0750));
  write_text(tmp.path("shared/berthd.lock"), "");
  std::filesystem::permissions(tmp.path("shared/berthd.lock"), std::filesystem::perms(0640));
  auto lock = StateDirLock::acquire(tmp.path("shared"));
  REQUIRE(lock.ok());
  CHECK(mode_of(tmp.path("shared")) == 0750);
  CHECK(mode_of(lock->path()) == 0640);
}

TEST_CASE("a lock file that is no regular file fails the start at once, naming it") {
  TempDir tmp;
  REQUIRE(::mkfifo(tmp.path("berthd.lock").c_str(), 0600) == 0);
  auto lock = StateDirLock::acquire(tmp.path());  // a FIFO must not block the start
  REQUIRE_FALSE(lock.ok());
  CHECK(lock.status().code() == StatusCode::kUnavailable);
  CHECK_THAT(lock.status().message(), Catch::Contains(tmp.path("berthd.lock") + " is not a regular file"));
  CHECK_FALSE(read_lock_holder(tmp.path("berthd.lock")).has_value());
  CHECK_FALSE(read_lock_holder("/dev/zero").has_value());
}

TEST_CASE("read_lock_holder is empty for a missing, empty or garbled file") {
  TempDir tmp;
  CHECK_FALSE(read_lock_holder(tmp.path("missing")).has_value());
  write_text(tmp.path("empty"), "");
  CHECK_FALSE(read_lock_holder(tmp.path("empty")).has_value());
  write_text(tmp.path("garbled"), "pid?\n");
  CHECK_FALSE(read_lock_holder(tmp.path("garbled")).has_value());
  write_text(tmp.path("zero"), "0\n");
  CHECK_FALSE(read_lock_holder(tmp.path("zero")).has_value());
  write_text(tmp.path("ok"), "4242\n");
  CHECK(read_lock_holder(tmp.path("ok")) == 4242);
}

// ------------------------------------------------------------------------------------------------
// Daemon id
// ------------------------------------------------------------------------------------------------

namespace {

std::function<std::string()> generator(int* calls, std::string id = "dgenerated0001") {
  return [calls, id] {
    ++*calls;
    return id;
  };
}

}  // namespace

TEST_CASE("the stored daemon id wins over a generated one, and an equal configured one is accepted") {
  int calls = 0;
  const std::map<std::string, std::string> meta{{kMetaDaemonId, "dstored"}};
  for (const std::string configured : {"", "dstored"}) {
    auto chosen = choose_daemon_id(configured, meta, "state/berth.db", generator(&calls));
    REQUIRE(chosen.ok());
    CHECK(chosen->id == "dstored");
    CHECK(chosen->stored);
  }
  CHECK(calls == 0);
}

TEST_CASE("a configured daemon id that differs from the stored one refuses to start") {
  int calls = 0;
  auto chosen = choose_daemon_id("dconfigured", {{kMetaDaemonId, "dstored"}}, "state/berth.db", generator(&calls));
  REQUIRE_FALSE(chosen.ok());
  CHECK(chosen.status().code() == StatusCode::kFailedPrecondition);
  CHECK(chosen.status().message() ==
        "daemon_id dconfigured in the config differs from dstored in the state store state/berth.db: "
        "refusing to adopt another daemon's executors");
  CHECK(calls == 0);
}

TEST_CASE("with nothing stored the configured daemon id is used, else a generated one, both to be saved") {
  int calls = 0;
  auto configured = choose_daemon_id("dconfigured", {{kMetaRevision, "7"}}, "state/berth.db", generator(&calls));
  REQUIRE(configured.ok());
  CHECK(configured->id == "dconfigured");
  CHECK_FALSE(configured->stored);
  CHECK(calls == 0);

  auto generated = choose_daemon_id("", {}, "state/berth.db", generator(&calls));
  REQUIRE(generated.ok());
  CHECK(generated->id == "dgenerated0001");
  CHECK_FALSE(generated->stored);
  CHECK(calls == 1);

  // An empty stored value counts as none.
  auto empty = choose_daemon_id("", {{kMetaDaemonId, ""}}, "state/berth.db", generator(&calls));
  REQUIRE(empty.ok());
  CHECK(empty->id == "dgenerated0001");
  CHECK_FALSE(empty->stored);
}

TEST_CASE("new daemon ids are d and 12 hex digits, different each time") {
  const std::string a = new_daemon_id();
  const std::string b = new_daemon_id();
  CHECK(a.size() == 13);
  CHECK(a[0] == 'd');
  CHECK(a.find_first_not_of("0123456789abcdef", 1) == std::string::npos);
  CHECK(a != b);
}

TEST_CASE("a daemon id chosen on an empty store is the same on the next start once saved") {
  TempDir tmp;
  const std::string db = tmp.path("berth.db");
  std::string first_id;
  {
    auto store = SqliteStore::open(db);
    REQUIRE(store.ok());
    auto snapshot = (*store)->load();
    REQUIRE(snapshot.ok());
    auto chosen = choose_daemon_id("", snapshot->meta, db, new_daemon_id);
    REQUIRE(chosen.ok());
    REQUIRE_FALSE(chosen->stored);
    REQUIRE(save_daemon_id(**store, chosen->id).ok());
    first_id = chosen->id;
  }
  auto store = SqliteStore::open(db);
  REQUIRE(store.ok());
  auto snapshot = (*store)->load();
  REQUIRE(snapshot.ok());
  int calls = 0;
  auto chosen = choose_daemon_id("", snapshot->meta, db, generator(&calls));
  REQUIRE(chosen.ok());
  CHECK(chosen->id == first_id);
  CHECK(chosen->stored);
  CHECK(calls == 0);
}

TEST_CASE("a daemon id that cannot be saved is the store's error") {
  RefusingStore store;
  Status saved = save_daemon_id(store, "dabc");
  CHECK(saved.code() == StatusCode::kInternal);
  CHECK(saved.message() == "disk I/O error");
}

// ------------------------------------------------------------------------------------------------
// SIGHUP
// ------------------------------------------------------------------------------------------------

namespace {

config::Config running_config() {
  config::Config config;
  config.listen = "127.0.0.1:7433";
  config.logging.level = "info";
  config.tokens = {{"secret-a", "team-a", config::Role::kDriver}};
  config.tenants = {TenantPolicy{"team-a", TenantLimits{10, 0, 0, 0, 0}, {}, {}},
                    TenantPolicy{"team-b", TenantLimits{5, 0, 0, 0, 0}, {}, {}}};
  return config;
}

}  // namespace

TEST_CASE("a reload applies the log level, the tokens and existing tenants' limits, nothing else") {
  config::Config running = running_config();
  config::Config reloaded = running_config();
  reloaded.logging.level = "debug";
  reloaded.tokens.push_back({"ops", "", config::Role::kOperator});
  reloaded.tenants[0].limits.max_executors = 20;
  reloaded.tenants[1].allowed_pools = {"local"};  // membership: needs a restart
  reloaded.listen = "127.0.0.1:9000";

  config::ReloadPlan plan = apply_reload(running, reloaded);
  CHECK(running.logging.level == "debug");
  CHECK(running.tokens == reloaded.tokens);
  CHECK(running.tenants[0].limits.max_executors == 20);
  CHECK(running.listen == "127.0.0.1:7433");
  CHECK(running.tenants[1].allowed_pools.empty());
  CHECK(plan.changes.size() == 3);
  CHECK_THAT(plan.needs_restart, Catch::VectorContains(std::string("listen: 127.0.0.1:7433 -> 127.0.0.1:9000")));
  CHECK(plan.needs_restart.size() == 2);
}

TEST_CASE("a reload with only restart-bound changes leaves the running config as started") {
  config::Config running = running_config();
  config::Config reloaded = running_config();
  reloaded.listen = "127.0.0.1:9000";
  reloaded.state_dir = "/elsewhere";

  config::ReloadPlan plan = apply_reload(running, reloaded);
  CHECK(plan.changes.empty());
  CHECK(plan.needs_restart.size() == 2);
  CHECK(running.listen == "127.0.0.1:7433");
  CHECK(running.state_dir == "./var");
}

TEST_CASE("a listen address whose port another socket listens on is refused before start, naming it") {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(listener >= 0);
  sockaddr_in bound{};
  bound.sin_family = AF_INET;
  bound.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&bound), sizeof(bound)) == 0);
  REQUIRE(listen(listener, 1) == 0);
  socklen_t length = sizeof(bound);
  REQUIRE(getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &length) == 0);
  const std::string address = "127.0.0.1:" + std::to_string(ntohs(bound.sin_port));

  const Status taken = check_port_free("listen", address);
  CHECK(taken.code() == StatusCode::kUnavailable);
  CHECK(taken.message() == "listen " + address +
                               ": the address is in use (another berthd, or another program, listens there)");
  close(listener);
  CHECK(check_port_free("listen", address).ok());
  CHECK(check_port_free("listen", "127.0.0.1:0").ok());
  CHECK(check_port_free("listen", "unix-abstract:berthd").ok());
}

namespace {

// A unix socket bound at `path` (listening when `listening`); closed by the caller.
int bind_unix(const std::string& path, bool listening) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof address.sun_path);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  if (listening) REQUIRE(listen(fd, 1) == 0);
  return fd;
}

mode_t mode_of(const std::string& path) {
  struct stat info {};
  REQUIRE(lstat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

}  // namespace

TEST_CASE("a unix socket a live process answers on fails the start; a stale one is replaced") {
  TempDir dir;
  const std::string path = dir.path() + "/berthd.sock";
  const std::string address = "unix:" + path;
  CHECK(check_port_free("listen", address).ok());  // nothing there

  const int live = bind_unix(path, true);
  const Status taken = check_port_free("listen", address);
  CHECK(taken.code() == StatusCode::kUnavailable);
  CHECK(taken.message() == "listen " + address +
                               ": the socket is in use (another berthd, or another program, listens there)");
  CHECK(std::filesystem::exists(path));  // the live daemon keeps its socket
  close(live);

  // Closed without unlink, as after a kill -9: nobody answers, so the file is removed.
  REQUIRE(std::filesystem::exists(path));
  CHECK(check_port_free("listen", address).ok());
  CHECK_FALSE(std::filesystem::exists(path));

  // Anything but a socket is never removed.
  std::ofstream(path) << "not a socket";
  const Status file = check_port_free("listen", address);
  CHECK(file.message() == "listen " + address + ": " + path +
                              " exists and is not a socket: remove it or choose another path");
  CHECK(std::filesystem::exists(path));
}

TEST_CASE("a unix socket is bound 0660 whatever the umask, and removed at exit") {
  TempDir dir;
  const std::string path = dir.path() + "/berthd.sock";
  const mode_t outer = umask(0);
  int fd = -1;
  {
    SocketUmask restricted;
    fd = bind_unix(path, true);
  }
  CHECK(umask(outer) == 0);  // restored
  CHECK(mode_of(path) == 0660);
  REQUIRE(chmod(path.c_str(), 0777) == 0);
  CHECK(restrict_unix_socket(path).ok());
  CHECK(mode_of(path) == 0660);
  close(fd);
  remove_unix_socket(path);
  CHECK_FALSE(std::filesystem::exists(path));

  const std::string file = dir.path() + "/plain";
  std::ofstream(file) << "x";
  CHECK(restrict_unix_socket(file).code() == StatusCode::kUnavailable);
  remove_unix_socket(file);
  CHECK(std::filesystem::exists(file));  // only sockets are removed
}
