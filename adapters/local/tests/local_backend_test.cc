// LocalBackend against real processes: a real io_context, the real berth-local-exec shim, a
// temporary work_dir per test. Every wait is for a condition with a deadline; every process a
// test starts is killed when the test ends, pass or fail.

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>

#include "adapters/local/local_backend.h"
#include "adapters/local/local_files.h"
#include "adapters/local/tests/local_processes.h"

using namespace berth;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kDaemon = "daemon-test";
constexpr const char* kPool = "local-test";

class RecordingSink final : public BackendSink {
 public:
  void on_observed(const PoolName& pool, const BackendObject& object) override {
    CHECK(pool == kPool);
    observed.push_back(object);
  }
  void on_health(const PoolName& pool, const Status& status) override {
    CHECK(pool == kPool);
    health.push_back(status);
  }

  std::optional<BackendObject> last(const std::string& name, ObservedPhase phase) const {
    for (auto it = observed.rbegin(); it != observed.rend(); ++it) {
      if (it->backend_name == name && it->phase == phase) return *it;
    }
    return std::nullopt;
  }
  int count(const std::string& name, ObservedPhase phase) const {
    int n = 0;
    for (const auto& o : observed) n += o.backend_name == name && o.phase == phase;
    return n;
  }

  std::vector<BackendObject> observed;
  std::vector<Status> health;
};

using local_testing::kill_everything;
using local_testing::read_file;
using local_testing::TempDir;

LaunchRequest make_request(const std::string& name, std::vector<std::string> command,
                           std::vector<std::string> args = {}) {
  LaunchRequest r;
  r.backend_name = name;
  r.daemon_id = kDaemon;
  r.pool = kPool;
  r.app = "app-1";
  r.tenant = "team-a";
  r.executor = 7;
  r.profile.id = 2;
  r.profile.cores = 3;
  r.profile.heap_mib = 2048;
  r.spec.command = std::move(command);
  r.spec.args = std::move(args);
  r.driver.url = "spark://CoarseGrainedScheduler@driver:7077";
  return r;
}

LaunchRequest shell(const std::string& name, const std::string& script) {
  return make_request(name, {"/bin/sh", "-c", script});
}

struct Fixture {
  Fixture() {
    config.work_dir = tmp.path() / "work";
    config.poll_interval = 50ms;
    config.shim_path = BERTH_LOCAL_EXEC;
    config.allow_root = true;  // the tests may run as root; the refusal has tests of its own
    backend = std::make_unique<LocalBackend>(io.get_executor(), kPool, config, kDaemon);
    backend->start(&sink);
  }
  // A new backend on the same work_dir, with `config` as the test changed it.
  void restart_backend() {
    backend.reset();
    backend = std::make_unique<LocalBackend>(io.get_executor(), kPool, config, kDaemon);
    backend->start(&sink);
  }
  ~Fixture() {
    backend.reset();
    kill_everything(config.work_dir);
  }

  // Runs the io_context until `done()` holds; false when `timeout` passes first.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.restart();
      io.run_for(5ms);
    }
    return true;
  }

  Status launch(const LaunchRequest& request) {
    std::optional<Status> result;
    backend->launch(request, [&](Status s) { result = std::move(s); });
    CHECK_FALSE(result.has_value());  // never completed inside the call
    REQUIRE(run_until([&] { return result.has_value(); }));
    return *result;
  }
  Status kill(const std::string& name, Duration grace) {
    std::optional<Status> result;
    backend->kill(KillRequest{name, grace}, [&](Status s) { result = std::move(s); });
    CHECK_FALSE(result.has_value());
    REQUIRE(run_until([&] { return result.has_value(); }));
    return *result;
  }
  Status decommission(const std::string& name) {
    std::optional<Status> result;
    backend->decommission(name, [&](Status s) { result = std::move(s); });
    CHECK_FALSE(result.has_value());
    REQUIRE(run_until([&] { return result.has_value(); }));
    return *result;
  }
  std::vector<BackendObject> list() {
    std::optional<StatusOr<std::vector<BackendObject>>> result;
    backend->list([&](StatusOr<std::vector<BackendObject>> r) { result = std::move(r); });
    CHECK_FALSE(result.has_value());
    REQUIRE(run_until([&] { return result.has_value(); }));
    REQUIRE(result->ok());
    return result->value();
  }
  std::optional<BackendObject> listed(const std::string& name) {
    for (auto& o : list()) {
      if (o.backend_name == name) return o;
    }
    return std::nullopt;
  }

  BackendObject wait_exit(const std::string& name) {
    REQUIRE(run_until([&] { return sink.last(name, ObservedPhase::kExited).has_value(); }));
    return *sink.last(name, ObservedPhase::kExited);
  }
  void wait_running(const std::string& name) {
    REQUIRE(run_until([&] { return sink.last(name, ObservedPhase::kRunning).has_value(); }));
  }
  // Waits for a file the executor writes once its signal traps are in place.
  void wait_file(const fs::path& path) {
    REQUIRE(run_until([&] { return fs::exists(path); }));
  }
  fs::path dir(const std::string& name) const { return config.work_dir / name; }
  local::PidRecord pid_of(const std::string& name) const {
    auto text = read_file(dir(name) / local::kPidFile);
    REQUIRE(text);
    auto pid = local::decode_pid_record(*text);
    REQUIRE(pid);
    return *pid;
  }

  TempDir tmp;
  boost::asio::io_context io;
  LocalPoolConfig config;
  RecordingSink sink;
  std::unique_ptr<LocalBackend> backend;
};

}  // namespace

TEST_CASE_METHOD(Fixture, "start reports the pool healthy") {
  REQUIRE(run_until([&] { return !sink.health.empty(); }));
  CHECK(sink.health.front().ok());
  CHECK(backend->type() == "local");
  CHECK(backend->capabilities().decommission);
  struct sigaction action;
  REQUIRE(::sigaction(SIGCHLD, nullptr, &action) == 0);
  CHECK((action.sa_flags & SA_RESTART) != 0);  // executors' exits do not interrupt other threads
}

TEST_CASE_METHOD(Fixture, "an unusable work_dir makes the pool unhealthy until it is fixed") {
  backend.reset();
  const fs::path blocker = tmp.path() / "blocker";
  std::ofstream(blocker).put('x');  // a file where a directory must go
  config.work_dir = blocker / "work";
  sink.health.clear();
  backend = std::make_unique<LocalBackend>(io.get_executor(), kPool, config, kDaemon);
  backend->start(&sink);
  REQUIRE(run_until([&] { return !sink.health.empty(); }));
  CHECK(sink.health.back().code() == StatusCode::kUnavailable);
  CHECK_THAT(sink.health.back().message(), Catch::Contains(kPool));
  fs::remove(blocker);
  REQUIRE(run_until([&] { return sink.health.back().ok(); }));
  CHECK(sink.health.size() == 2);
}

TEST_CASE_METHOD(Fixture, "an executor's exit code is observed") {
  REQUIRE(launch(shell("exec-exit", "exit 3")).ok());
  auto exited = wait_exit("exec-exit");
  CHECK(exited.exit_code == 3);
  CHECK(exited.reason == "exited");
  CHECK_FALSE(exited.deleted_externally);
  CHECK(exited.app == "app-1");
  CHECK(exited.executor == 7);
  CHECK(exited.profile == 2);
  CHECK(exited.daemon_id == kDaemon);
  CHECK_FALSE(exited.host.empty());
  // pending, then running, then exited, in that order
  REQUIRE(sink.observed.size() >= 3);
  CHECK(sink.observed[0].phase == ObservedPhase::kPending);
  CHECK(sink.observed[1].phase == ObservedPhase::kRunning);
  CHECK(sink.observed[1].host == exited.host);
  CHECK(sink.count("exec-exit", ObservedPhase::kExited) == 1);

  auto listed_object = listed("exec-exit");
  REQUIRE(listed_object);
  CHECK(listed_object->phase == ObservedPhase::kExited);
  CHECK(listed_object->exit_code == 3);
}

TEST_CASE_METHOD(Fixture, "a launch completes before its executor is observed") {
  // Core moves the executor to LAUNCHING on the completion, then to PENDING and RUNNING on the
  // observations; the other order would skip LAUNCHING and its timestamp.
  std::optional<std::size_t> observed_at_completion;
  backend->launch(make_request("exec-order", {"sleep"}, {"1000"}),
                  [&](Status s) {
                    CHECK(s.ok());
                    observed_at_completion = sink.observed.size();
                  });
  REQUIRE(run_until([&] { return observed_at_completion.has_value(); }));
  CHECK(*observed_at_completion == 0);
  wait_running("exec-order");
  CHECK(sink.observed.front().phase == ObservedPhase::kPending);
}

TEST_CASE_METHOD(Fixture, "kill stops a running executor with SIGTERM") {
  REQUIRE(launch(make_request("exec-sleep", {"sleep"}, {"1000"})).ok());
  wait_running("exec-sleep");
  auto running = listed("exec-sleep");
  REQUIRE(running);
  CHECK(running->phase == ObservedPhase::kRunning);

  REQUIRE(kill("exec-sleep", 30s).ok());
  auto exited = wait_exit("exec-sleep");
  CHECK(exited.exit_code == 128 + SIGTERM);
  CHECK(exited.reason == "signal 15");
  CHECK_FALSE(exited.deleted_externally);
  // Killing what has ended is fine; killing what never was is kNotFound.
  CHECK(kill("exec-sleep", 1s).ok());
  CHECK(kill("exec-unknown", 1s).code() == StatusCode::kNotFound);
  CHECK(kill("../escape", 1s).code() == StatusCode::kNotFound);
}

TEST_CASE_METHOD(Fixture, "an executor that ignores SIGTERM is SIGKILLed after the grace") {
  REQUIRE(launch(shell("exec-ignores-term", "trap '' TERM; touch ready; sleep 1000")).ok());
  wait_file(dir("exec-ignores-term") / "ready");
  auto started = std::chrono::steady_clock::now();
  REQUIRE(kill("exec-ignores-term", 300ms).ok());
  auto exited = wait_exit("exec-ignores-term");
  CHECK(std::chrono::steady_clock::now() - started >= 300ms);
  CHECK(exited.exit_code == 137);
  CHECK(exited.reason == "killed");
  CHECK_FALSE(exited.deleted_externally);
  // The report is recorded, so later lists agree with it.
  auto listed_object = listed("exec-ignores-term");
  REQUIRE(listed_object);
  CHECK(listed_object->exit_code == 137);
}

TEST_CASE_METHOD(Fixture, "signals Berth did not send mark the executor deleted externally") {
  REQUIRE(launch(make_request("exec-term", {"sleep"}, {"1000"})).ok());
  REQUIRE(launch(make_request("exec-nine", {"sleep"}, {"1000"})).ok());
  ::killpg(pid_of("exec-term").pid, SIGTERM);
  ::killpg(pid_of("exec-nine").pid, SIGKILL);
  auto term = wait_exit("exec-term");
  CHECK(term.exit_code == 143);
  CHECK(term.deleted_externally);
  auto nine = wait_exit("exec-nine");
  CHECK(nine.exit_code == 137);
  CHECK(nine.reason == "killed");
  CHECK(nine.deleted_externally);
}

TEST_CASE_METHOD(Fixture, "launching the same name twice starts one process") {
  const fs::path count = tmp.path() / "count";
  auto request = shell("exec-twice", "echo started >> '" + count.string() + "'; exec sleep 1000");
  REQUIRE(launch(request).ok());
  auto pid = pid_of("exec-twice");
  REQUIRE(run_until([&] { return read_file(count).value_or("") == "started\n"; }));
  Status again = launch(request);
  CHECK(again.code() == StatusCode::kAlreadyExists);
  CHECK(pid_of("exec-twice") == pid);
  REQUIRE(kill("exec-twice", 10s).ok());
  wait_exit("exec-twice");
  CHECK(launch(request).code() == StatusCode::kAlreadyExists);  // an ended one is still there
  CHECK(read_file(count).value_or("") == "started\n");
  CHECK(sink.count("exec-twice", ObservedPhase::kRunning) == 1);
}

TEST_CASE_METHOD(Fixture, "the executor gets Spark's environment, the spec's and the inherited variables only") {
  ::setenv("BERTH_TEST_NOT_INHERITED", "secret", 1);
  auto request = shell("exec-env", "env > env.txt");
  request.spec.env["FOO"] = "bar baz";
  request.spec.env["SPARK_EXECUTOR_CORES"] = "5";  // the spec wins over the defaults
  REQUIRE(launch(request).ok());
  CHECK(wait_exit("exec-env").exit_code == 0);
  auto env = read_file(dir("exec-env") / "env.txt");
  ::unsetenv("BERTH_TEST_NOT_INHERITED");
  REQUIRE(env);
  CHECK_THAT(*env, Catch::Contains("SPARK_EXECUTOR_ID=7\n"));
  CHECK_THAT(*env, Catch::Contains("SPARK_APPLICATION_ID=app-1\n"));
  CHECK_THAT(*env, Catch::Contains("SPARK_DRIVER_URL=spark://CoarseGrainedScheduler@driver:7077\n"));
  CHECK_THAT(*env, Catch::Contains("SPARK_EXECUTOR_MEMORY=2048m\n"));
  CHECK_THAT(*env, Catch::Contains("SPARK_RESOURCE_PROFILE_ID=2\n"));
  CHECK_THAT(*env, Catch::Contains("SPARK_EXECUTOR_CORES=5\n"));
  CHECK_THAT(*env, Catch::Contains("FOO=bar baz\n"));
  if (::getenv("PATH") != nullptr) CHECK_THAT(*env, Catch::Contains(std::string("PATH=") + ::getenv("PATH")));
  CHECK_THAT(*env, !Catch::Contains("BERTH_TEST_NOT_INHERITED"));
}

TEST_CASE_METHOD(Fixture, "an application that names no command runs Spark's executor from spark_home, argv exactly") {
  const fs::path spark = tmp.path() / "spark";
  fs::create_directories(spark / "bin");
  {
    std::ofstream script(spark / "bin" / "spark-class");
    script << "#!/bin/sh\nfor a in \"$0\" \"$@\"; do echo \"$a\"; done > argv.txt\n";
  }
  fs::permissions(spark / "bin" / "spark-class", fs::perms::owner_all);
  backend.reset();
  config.spark_home = spark.string();
  backend = std::make_unique<LocalBackend>(io.get_executor(), kPool, config, kDaemon);
  backend->start(&sink);

  REQUIRE(launch(make_request("exec-spark", {}, {"--extra-arg"})).ok());
  CHECK(wait_exit("exec-spark").exit_code == 0);
  auto argv = read_file(dir("exec-spark") / "argv.txt");
  REQUIRE(argv);
  char host[256] = {};
  REQUIRE(::gethostname(host, sizeof host - 1) == 0);
  CHECK(*argv == (spark / "bin" / "spark-class").string() +
                     "\norg.apache.spark.executor.CoarseGrainedExecutorBackend\n"
                     "--driver-url\nspark://CoarseGrainedScheduler@driver:7077\n--executor-id\n7\n--hostname\n" +
                     std::string(host) + "\n--cores\n3\n--app-id\napp-1\n--resourceProfileId\n2\n--extra-arg\n");
}

TEST_CASE_METHOD(Fixture, "an application with no command is refused up front when spark_home has no spark-class") {
  const fs::path spark = tmp.path() / "no-spark";
  fs::create_directories(spark / "bin");
  backend.reset();
  config.spark_home = spark.string();
  backend = std::make_unique<LocalBackend>(io.get_executor(), kPool, config, kDaemon);

  LaunchSpec spec;
  const Status refused = backend->check_launch(spec);
  CHECK(refused.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(refused.message(), Catch::Contains("launch.command: empty") &&
                                    Catch::Contains((spark / "bin" / "spark-class").string()) &&
                                    Catch::Contains("spark_home"));
  spec.command = {"sleep"};
  CHECK(backend->check_launch(spec).ok());

  {
    std::ofstream script(spark / "bin" / "spark-class");
    script << "#!/bin/sh\n";
  }
  CHECK_FALSE(backend->check_launch(LaunchSpec{}).ok());  // not executable yet
  fs::permissions(spark / "bin" / "spark-class", fs::perms::owner_all);
  CHECK(backend->check_launch(LaunchSpec{}).ok());
}

TEST_CASE_METHOD(Fixture, "the log file captures stdout and stderr") {
  REQUIRE(launch(shell("exec-log", "echo to-stdout; echo to-stderr >&2; exit 0")).ok());
  CHECK(wait_exit("exec-log").exit_code == 0);
  auto log = read_file(dir("exec-log") / local::kLogFile);
  REQUIRE(log);
  CHECK_THAT(*log, Catch::Contains("to-stdout"));
  CHECK_THAT(*log, Catch::Contains("to-stderr"));
}

// Issue 11: executor.json and executor.log were created world-readable under umask 022.
TEST_CASE_METHOD(Fixture, "the work_dir and each executor's directory are 0700, its files 0600, under umask 022") {
  struct UmaskGuard {
    mode_t previous = ::umask(022);
    ~UmaskGuard() { ::umask(previous); }
  } umask_022;
  backend.reset();
  config.work_dir = tmp.path() / "private" / "work";
  backend = std::make_unique<LocalBackend>(io.get_executor(), kPool, config, kDaemon);
  backend->start(&sink);
  REQUIRE(launch(shell("exec-modes", "echo secret-output; exit 0")).ok());
  CHECK(wait_exit("exec-modes").exit_code == 0);

  auto mode_of = [](const fs::path& path) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_mode & 07777;
  };
  CHECK(mode_of(tmp.path() / "private") == 0700);
  CHECK(mode_of(config.work_dir) == 0700);
  const fs::path executor_dir = config.work_dir / "exec-modes";
  CHECK(mode_of(executor_dir) == 0700);
  for (const char* file : {local::kExecutorFile, local::kPidFile, local::kExitFile, local::kLogFile}) {
    INFO(file);
    CHECK(mode_of(executor_dir / file) == 0600);
  }
}

TEST_CASE_METHOD(Fixture, "decommission delivers SIGPWR") {
  const std::string script =
      "trap 'echo decommissioned; exit 0' " + std::to_string(SIGPWR) + "; sleep 1000 & touch ready; wait";
  REQUIRE(launch(shell("exec-pwr", script)).ok());
  wait_file(dir("exec-pwr") / "ready");
  REQUIRE(decommission("exec-pwr").ok());
  auto exited = wait_exit("exec-pwr");
  CHECK(exited.exit_code == 0);
  CHECK_FALSE(exited.deleted_externally);
  CHECK_THAT(read_file(dir("exec-pwr") / local::kLogFile).value_or(""), Catch::Contains("decommissioned"));
  CHECK(decommission("exec-pwr").ok());  // ended already
  CHECK(decommission("exec-none").code() == StatusCode::kNotFound);
}

TEST_CASE_METHOD(Fixture, "what an executor leaves behind ends with it") {
  REQUIRE(launch(shell("exec-leaves",
                       "sleep 1000 & echo $! > bg.pid; setsid sleep 1000 & echo $! > setsid.pid; exit 4"))
              .ok());
  CHECK(wait_exit("exec-leaves").exit_code == 4);
  for (const char* file : {"bg.pid", "setsid.pid"}) {
    auto text = read_file(dir("exec-leaves") / file);
    REQUIRE(text);
    const pid_t pid = std::stoi(*text);
    INFO(file << " " << pid);
    CHECK(::kill(pid, 0) == -1);  // killed and reaped by the shim before it recorded the exit
  }
}

TEST_CASE_METHOD(Fixture, "launch errors") {
  // No command and no Spark where spark_home says: Spark's executor cannot be found (127).
  config.spark_home = (tmp.path() / "no-spark-here").string();
  backend.reset();
  backend = std::make_unique<LocalBackend>(io.get_executor(), kPool, config, kDaemon);
  backend->start(&sink);
  REQUIRE(launch(make_request("exec-empty", {})).ok());
  CHECK(wait_exit("exec-empty").exit_code == 127);
  CHECK_THAT(read_file(dir("exec-empty") / local::kLogFile).value_or(""), Catch::Contains("spark-class"));

  CHECK(launch(shell("../outside", "exit 0")).code() == StatusCode::kInvalidArgument);

  REQUIRE(launch(make_request("exec-missing", {"berth-no-such-command-here"})).ok());
  auto exited = wait_exit("exec-missing");
  CHECK(exited.exit_code == 127);
  CHECK_THAT(read_file(dir("exec-missing") / local::kLogFile).value_or(""),
             Catch::Contains("berth-no-such-command-here"));
}

TEST_CASE_METHOD(Fixture, "a missing shim fails the launch and leaves nothing behind") {
  backend.reset();
  config.shim_path = tmp.path() / "no-such-shim";
  backend = std::make_unique<LocalBackend>(io.get_executor(), kPool, config, kDaemon);
  backend->start(&sink);
  Status status = launch(shell("exec-noshim", "exit 0"));
  CHECK(status.code() == StatusCode::kFailedPrecondition);
  CHECK_THAT(status.message(), Catch::Contains("exec-noshim"));
  CHECK_FALSE(listed("exec-noshim"));
}

TEST_CASE_METHOD(Fixture, "stop and destruction leave executors running") {
  REQUIRE(launch(make_request("exec-stays", {"sleep"}, {"1000"})).ok());
  auto pid = pid_of("exec-stays");
  backend->stop();
  backend.reset();
  io.restart();
  io.run_for(20ms);
  CHECK(local::process_alive(pid));
}

TEST_CASE_METHOD(Fixture, "a new backend adopts running executors and reports their real exit code") {
  const std::string script = "while [ ! -e go ]; do sleep 0.02; done; exit 5";
  REQUIRE(launch(shell("exec-adopt", script)).ok());
  wait_running("exec-adopt");
  auto pid = pid_of("exec-adopt");

  // A restart: the old backend goes away without killing anything, a new one takes over.
  backend.reset();
  sink.observed.clear();
  backend = std::make_unique<LocalBackend>(io.get_executor(), kPool, config, kDaemon);
  backend->start(&sink);
  wait_running("exec-adopt");
  auto listed_object = listed("exec-adopt");
  REQUIRE(listed_object);
  CHECK(listed_object->phase == ObservedPhase::kRunning);
  CHECK(listed_object->executor == 7);
  CHECK(local::process_alive(pid));

  std::ofstream(dir("exec-adopt") / "go").put('\n');
  auto exited = wait_exit("exec-adopt");
  CHECK(exited.exit_code == 5);
  CHECK_FALSE(exited.deleted_externally);
}

TEST_CASE_METHOD(Fixture, "adoption works for processes that are not the daemon's children") {
  // The launch happens in a forked process that then exits, like a berthd that died: the shim
  // is re-parented and can only be watched through /proc.
  pid_t launcher = ::fork();
  REQUIRE(launcher >= 0);
  if (launcher == 0) {
    boost::asio::io_context child_io;
    LocalBackend child_backend(child_io.get_executor(), kPool, config, kDaemon);
    std::optional<Status> result;
    child_backend.launch(shell("exec-orphan", "while [ ! -e go ]; do sleep 0.02; done; exit 9"),
                         [&](Status s) { result = std::move(s); });
    child_io.run_for(1s);
    ::_exit(result && result->ok() ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(launcher, &status, 0) == launcher);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  backend.reset();
  backend = std::make_unique<LocalBackend>(io.get_executor(), kPool, config, kDaemon);
  backend->start(&sink);
  wait_running("exec-orphan");
  int wait_result = ::waitpid(pid_of("exec-orphan").pid, &status, WNOHANG);
  CHECK(wait_result == -1);  // not our child
  auto running = listed("exec-orphan");
  REQUIRE(running);
  CHECK(running->phase == ObservedPhase::kRunning);

  std::ofstream(dir("exec-orphan") / "go").put('\n');
  auto exited = wait_exit("exec-orphan");
  CHECK(exited.exit_code == 9);
}

TEST_CASE_METHOD(Fixture, "a pid file whose start time does not match is never running") {
  // A forged executor whose pid is this very test process, with another start time: the pid
  // was recycled as far as Berth can tell.
  const fs::path forged = dir("exec-forged");
  fs::create_directories(forged);
  local::ExecutorRecord record{kDaemon, kPool, "app-1", 99, 0, "exec-forged"};
  REQUIRE(local::write_file_atomic(forged / local::kExecutorFile, local::encode_executor_record(record)).ok());
  auto self = local::read_proc_stat(::getpid());
  REQUIRE(self);
  local::PidRecord pid{::getpid(), self->start_time + 12345};
  REQUIRE(local::write_file_atomic(forged / local::kPidFile, local::encode_pid_record(pid)).ok());

  auto object = listed("exec-forged");
  REQUIRE(object);
  CHECK(object->phase == ObservedPhase::kExited);
  CHECK_FALSE(object->exit_code.has_value());
  CHECK(object->reason == "ended while the daemon was not watching");
  CHECK(kill("exec-forged", 0ms).ok());  // ended: nothing is signalled (this process survives)

  // A restarted backend does not adopt it either.
  backend.reset();
  backend = std::make_unique<LocalBackend>(io.get_executor(), kPool, config, kDaemon);
  backend->start(&sink);
  REQUIRE(run_until([&] { return sink.health.size() >= 2; }));
  io.restart();
  io.run_for(200ms);  // several polls: nothing may be reported for it
  CHECK(sink.count("exec-forged", ObservedPhase::kRunning) == 0);
}

TEST_CASE_METHOD(Fixture, "executors of another daemon are listed and never touched") {
  LocalBackend other(io.get_executor(), kPool, config, "daemon-other");
  std::optional<Status> launched;
  other.launch(make_request("exec-other", {"sleep"}, {"1000"}), [&](Status s) { launched = s; });
  REQUIRE(run_until([&] { return launched.has_value(); }));
  REQUIRE(launched->ok());

  auto object = listed("exec-other");
  REQUIRE(object);
  CHECK(object->daemon_id == "daemon-other");
  CHECK(object->phase == ObservedPhase::kRunning);
  CHECK(kill("exec-other", 0ms).code() == StatusCode::kFailedPrecondition);
  CHECK(decommission("exec-other").code() == StatusCode::kFailedPrecondition);
  CHECK(local::process_alive(pid_of("exec-other")));
  CHECK(launch(make_request("exec-other", {"sleep"}, {"1"})).code() == StatusCode::kAlreadyExists);
}

// ---- Host capacity ------------------------------------------------------------------------------

namespace {

// An executor of `cores` cores and `heap_mib` heap that runs until the test creates the file `go`
// in its directory, then exits with 0.
LaunchRequest held(const std::string& name, ExecutorId executor, std::int64_t cores = 1,
                   std::int64_t heap_mib = 1024) {
  LaunchRequest request = shell(name, "while [ ! -e go ]; do sleep 0.02; done; exit 0");
  request.executor = executor;
  request.profile.cores = cores;
  request.profile.heap_mib = heap_mib;  // + 384 MiB overhead = 1408 MiB of container memory at 1024
  return request;
}

}  // namespace

struct CapacityFixture : Fixture {
  // A new backend on the same work_dir with `cores` and `memory_mib` of capacity.
  void restart(std::int64_t cores, std::int64_t memory_mib = 0) {
    backend.reset();
    sink.observed.clear();
    config.cores = cores;
    config.memory_mib = memory_mib;
    backend = std::make_unique<LocalBackend>(io.get_executor(), kPool, config, kDaemon);
    backend->start(&sink);
  }
  void release(const std::string& name) { std::ofstream(dir(name) / "go").put('\n'); }
  BackendObject wait_pending(const std::string& name) {
    REQUIRE(run_until([&] { return sink.last(name, ObservedPhase::kPending).has_value(); }));
    return *sink.last(name, ObservedPhase::kPending);
  }
  bool started(const std::string& name) const { return fs::exists(dir(name) / local::kPidFile); }
  // Each `names` executor was reported running, in this order.
  void check_started_in_order(const std::vector<std::string>& names) {
    std::vector<std::string> running;
    for (const auto& o : sink.observed) {
      if (o.phase == ObservedPhase::kRunning) running.push_back(o.backend_name);
    }
    CHECK(running == names);
  }
};

TEST_CASE_METHOD(CapacityFixture, "capacity: what does not fit waits pending and starts in launch order") {
  restart(2);
  REQUIRE(launch(held("cap-1", 1)).ok());
  REQUIRE(launch(held("cap-2", 2)).ok());
  REQUIRE(launch(held("cap-3", 3)).ok());
  wait_running("cap-1");
  wait_running("cap-2");
  auto pending = wait_pending("cap-3");
  CHECK(pending.reason == "Insufficient capacity");
  CHECK_THAT(pending.message, Catch::StartsWith("needs 1 core, 0 of 2 free on host "));
  CHECK(pending.host == sink.last("cap-1", ObservedPhase::kRunning)->host);
  CHECK(pending.executor == 3);
  CHECK_FALSE(started("cap-3"));
  CHECK_FALSE(fs::exists(dir("cap-3") / local::kLogFile));  // no process ever wrote to it
  CHECK(fs::exists(dir("cap-3") / local::kExecutorFile));
  CHECK((fs::status(dir("cap-3") / local::kQueuedFile).permissions() & fs::perms::others_read) == fs::perms::none);

  // A later launch queues behind it, and says so.
  REQUIRE(launch(held("cap-4", 4)).ok());
  CHECK_THAT(wait_pending("cap-4").message, Catch::Contains("behind 1 executor queued before it"));
  auto listed_object = listed("cap-3");
  REQUIRE(listed_object);
  CHECK(listed_object->phase == ObservedPhase::kPending);
  CHECK(listed_object->reason == "Insufficient capacity");
  CHECK(listed("cap-1")->phase == ObservedPhase::kRunning);

  // One ends: the oldest queued one takes its place, the next still waits.
  release("cap-1");
  CHECK(wait_exit("cap-1").exit_code == 0);
  wait_running("cap-3");
  CHECK(listed("cap-3")->phase == ObservedPhase::kRunning);
  CHECK(listed("cap-4")->phase == ObservedPhase::kPending);
  CHECK_FALSE(started("cap-4"));

  release("cap-2");
  wait_running("cap-4");
  release("cap-3");
  release("cap-4");
  CHECK(wait_exit("cap-3").exit_code == 0);
  CHECK(wait_exit("cap-4").exit_code == 0);
  check_started_in_order({"cap-1", "cap-2", "cap-3", "cap-4"});
}

TEST_CASE_METHOD(CapacityFixture, "capacity: killing a queued executor ends it without ever starting it") {
  restart(1);
  REQUIRE(launch(held("q-run", 1)).ok());
  REQUIRE(launch(held("q-cancel", 2)).ok());
  REQUIRE(launch(held("q-next", 3)).ok());
  wait_running("q-run");
  wait_pending("q-cancel");
  wait_pending("q-next");

  REQUIRE(kill("q-cancel", 0ms).ok());
  auto ended = wait_exit("q-cancel");
  CHECK_FALSE(ended.exit_code.has_value());
  CHECK_FALSE(ended.deleted_externally);
  CHECK(ended.reason == "cancelled");
  CHECK_THAT(ended.message, Catch::Contains("never started"));
  auto listed_object = listed("q-cancel");
  REQUIRE(listed_object);
  CHECK(listed_object->phase == ObservedPhase::kExited);
  CHECK_FALSE(listed_object->exit_code.has_value());
  CHECK(listed_object->reason == "cancelled");
  CHECK(kill("q-cancel", 0ms).ok());  // again: nothing left to do
  CHECK(launch(held("q-cancel", 2)).code() == StatusCode::kAlreadyExists);

  // Capacity frees: the one behind it starts, the killed one never does.
  release("q-run");
  wait_exit("q-run");
  wait_running("q-next");
  CHECK(sink.count("q-cancel", ObservedPhase::kRunning) == 0);
  CHECK_FALSE(started("q-cancel"));
  CHECK_FALSE(fs::exists(dir("q-cancel") / local::kLogFile));
  release("q-next");
  wait_exit("q-next");
  check_started_in_order({"q-run", "q-next"});
}

TEST_CASE_METHOD(CapacityFixture, "capacity: killing the head of the queue lets the next one start") {
  restart(2);
  REQUIRE(launch(held("h-run", 1)).ok());
  REQUIRE(launch(held("h-big", 2, 2)).ok());    // 2 cores: waits for h-run
  REQUIRE(launch(held("h-small", 3, 1)).ok());  // would fit, but waits behind h-big
  wait_running("h-run");
  CHECK_THAT(wait_pending("h-big").message, Catch::StartsWith("needs 2 cores, 1 of 2 free"));
  CHECK_THAT(wait_pending("h-small").message, Catch::StartsWith("fits, but waits behind 1 executor"));
  REQUIRE(kill("h-big", 0ms).ok());
  wait_running("h-small");
  CHECK_FALSE(started("h-big"));
}

TEST_CASE_METHOD(CapacityFixture, "capacity: the queue survives a restart and keeps its order") {
  restart(1);
  REQUIRE(launch(held("r-run", 1)).ok());
  REQUIRE(launch(held("r-first", 2)).ok());
  REQUIRE(launch(held("r-second", 3)).ok());
  wait_running("r-run");
  wait_pending("r-second");

  restart(1);  // observations cleared: what follows is the new backend's
  wait_running("r-run");
  CHECK(wait_pending("r-first").reason == "Insufficient capacity");
  CHECK_THAT(wait_pending("r-second").message, Catch::Contains("behind 1 executor"));
  CHECK(listed("r-first")->phase == ObservedPhase::kPending);
  REQUIRE(launch(held("r-third", 4)).ok());  // queued behind the ones from before the restart
  wait_pending("r-third");

  release("r-run");  // adopted: its end is seen by polling
  wait_exit("r-run");
  wait_running("r-first");
  CHECK_FALSE(started("r-second"));
  release("r-first");
  wait_running("r-second");
  CHECK_FALSE(started("r-third"));
  release("r-second");
  wait_running("r-third");
  release("r-third");
  wait_exit("r-third");
  check_started_in_order({"r-run", "r-first", "r-second", "r-third"});
}

TEST_CASE_METHOD(CapacityFixture, "capacity: a queued executor fits once capacity is found free at start") {
  restart(1);
  REQUIRE(launch(held("s-run", 1)).ok());
  REQUIRE(launch(held("s-wait", 2)).ok());
  wait_pending("s-wait");
  backend.reset();  // berthd is down while the running executor ends
  release("s-run");
  REQUIRE(run_until([&] { return fs::exists(dir("s-run") / local::kExitFile); }));
  restart(1);
  wait_running("s-wait");
  release("s-wait");
  CHECK(wait_exit("s-wait").exit_code == 0);
}

TEST_CASE_METHOD(CapacityFixture, "capacity: memory is limited likewise") {
  restart(0, 3000);  // two executors of 1408 MiB fit, a third does not
  REQUIRE(launch(held("m-1", 1)).ok());
  REQUIRE(launch(held("m-2", 2)).ok());
  REQUIRE(launch(held("m-3", 3)).ok());
  wait_running("m-1");
  wait_running("m-2");
  auto pending = wait_pending("m-3");
  CHECK(pending.reason == "Insufficient capacity");
  CHECK_THAT(pending.message, Catch::StartsWith("needs 1408 MiB of memory, 184 of 3000 MiB free on host "));
  CHECK_FALSE(started("m-3"));
  release("m-2");
  wait_exit("m-2");
  wait_running("m-3");

  // Both limits: the message names each that is short.
  restart(1, 3000);
  REQUIRE(launch(held("m-4", 4)).ok());
  CHECK_THAT(wait_pending("m-4").message,
             Catch::StartsWith("needs 1 core, 0 of 1 free and needs 1408 MiB of memory, 184 of 3000 MiB free"));
}

TEST_CASE_METHOD(CapacityFixture, "capacity: an executor larger than the whole pool is refused") {
  restart(2, 4096);
  Status cores = launch(held("big-cores", 1, 3));
  CHECK(cores.code() == StatusCode::kFailedPrecondition);
  CHECK_FALSE(cores.retryable());
  CHECK_THAT(cores.message(), Catch::Contains("needs 3 cores, more than the 2 of pool local-test"));
  Status memory = launch(held("big-memory", 2, 1, 8192));
  CHECK(memory.code() == StatusCode::kFailedPrecondition);
  CHECK_THAT(memory.message(), Catch::Contains("MiB of memory, more than the 4096 MiB"));
  CHECK_FALSE(fs::exists(dir("big-cores")));
  CHECK_FALSE(fs::exists(dir("big-memory")));
}

TEST_CASE_METHOD(CapacityFixture, "capacity: 0 is unlimited") {
  for (int i = 1; i <= 4; ++i) REQUIRE(launch(held("u-" + std::to_string(i), i, 64, 65536)).ok());
  for (int i = 1; i <= 4; ++i) {
    const std::string name = "u-" + std::to_string(i);
    wait_running(name);
    CHECK(sink.count(name, ObservedPhase::kPending) == 1);  // the one report before running
    CHECK_FALSE(fs::exists(dir(name) / local::kQueuedFile));
    release(name);
    wait_exit(name);
  }
  // What each needs is recorded all the same, for daemons that do limit capacity.
  auto record = local::read_executor_dir(dir("u-1"));
  REQUIRE(record.ok());
  CHECK(record->record.cores == 64);
  CHECK(record->record.memory_mib == 65536 + 6553);
}

TEST_CASE_METHOD(CapacityFixture, "capacity: another daemon's executors count and are never started") {
  restart(2);
  LocalBackend other(io.get_executor(), kPool, config, "daemon-other");
  auto other_launch = [&](const LaunchRequest& request) {
    std::optional<Status> launched;
    other.launch(request, [&](Status s) { launched = s; });
    REQUIRE(run_until([&] { return launched.has_value(); }));
    return *launched;
  };
  REQUIRE(launch(held("mine-1", 1)).ok());
  wait_running("mine-1");
  REQUIRE(other_launch(held("theirs-1", 1)).ok());  // the last free core
  REQUIRE(other_launch(held("theirs-2", 2)).ok());  // queued by the other daemon
  REQUIRE(started("theirs-1"));
  REQUIRE_FALSE(started("theirs-2"));
  REQUIRE(launch(held("mine-2", 2)).ok());
  CHECK_THAT(wait_pending("mine-2").message, Catch::StartsWith("needs 1 core, 0 of 2 free"));
  auto theirs = listed("theirs-2");
  REQUIRE(theirs);
  CHECK(theirs->phase == ObservedPhase::kPending);
  CHECK(theirs->daemon_id == "daemon-other");
  CHECK(kill("theirs-2", 0ms).code() == StatusCode::kFailedPrecondition);

  // Theirs ends (seen by polling): ours starts in its place, theirs stays queued.
  release("theirs-1");
  wait_running("mine-2");
  CHECK_FALSE(started("theirs-2"));
  CHECK(listed("theirs-2")->phase == ObservedPhase::kPending);
}

// Issue 11: executors ran as berthd's user, root included. A root executor needs allow_root.
TEST_CASE_METHOD(Fixture, "executors never run as root unless allow_root is set") {
  if (::geteuid() != 0) {
    WARN("skipped: berthd as root is the case under test, and this test does not run as root");
    return;
  }
  config.allow_root = false;
  restart_backend();
  const Status refused = launch(shell("exec-root", "echo ran > ran"));
  CHECK(refused.code() == StatusCode::kFailedPrecondition);
  CHECK_THAT(refused.message(), Catch::Contains("executor exec-root in pool") &&
                                    Catch::Contains("executors would run as root") &&
                                    Catch::Contains("allow_root: true"));
  CHECK_FALSE(fs::exists(dir("exec-root")));  // refused before anything was created

  config.run_as = "root";
  restart_backend();
  CHECK_THAT(launch(shell("exec-root", "echo ran > ran")).message(),
             Catch::Contains("run_as: root is root: executors run as root only with allow_root: true"));
}

TEST_CASE_METHOD(Fixture, "run_as runs the executor as that user, in a work directory it owns") {
  const std::optional<ExecutorUser> nobody = lookup_user("nobody");
  if (::geteuid() != 0 || !nobody) {
    WARN("skipped: switching users needs root and a user named nobody");
    return;
  }
  config.run_as = "nobody";
  config.allow_root = false;
  restart_backend();
  REQUIRE(launch(shell("exec-nobody", "id -u > uid; id -g > gid; echo to-the-log")).ok());
  CHECK(wait_exit("exec-nobody").exit_code == 0);
  const fs::path work = dir("exec-nobody") / "work";
  CHECK(read_file(work / "uid").value_or("") == std::to_string(nobody->uid) + "\n");
  CHECK(read_file(work / "gid").value_or("") == std::to_string(nobody->gid) + "\n");
  struct stat info {};
  REQUIRE(::stat(work.c_str(), &info) == 0);
  CHECK(info.st_uid == nobody->uid);
  CHECK((info.st_mode & 07777) == 0700);
  REQUIRE(::stat((work / "uid").c_str(), &info) == 0);
  CHECK(info.st_uid == nobody->uid);
  // The records stay berthd's: the executor cannot rewrite its pid or exit record.
  REQUIRE(::stat((dir("exec-nobody") / local::kPidFile).c_str(), &info) == 0);
  CHECK(info.st_uid == 0);
  CHECK_THAT(read_file(dir("exec-nobody") / local::kLogFile).value_or(""), Catch::Contains("to-the-log"));
}
