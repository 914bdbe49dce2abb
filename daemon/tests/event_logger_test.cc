#include <catch2/catch.hpp>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "daemon/event_logger.h"

using namespace berth;
using namespace std::chrono_literals;

namespace {

// An EventLogger on a fake clock whose lines ("level message") are read back by the test.
struct Fixture {
  FakeClock clock;
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;
  EventLogger event_logger;
  Revision revision = 0;

  explicit Fixture(spdlog::level::level_enum level = spdlog::level::info)
      : logger(make_logger(out, level)), event_logger(clock, EventLogger::Options{1s, 60s}, logger) {}

  static std::shared_ptr<spdlog::logger> make_logger(std::ostringstream& out, spdlog::level::level_enum level) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
    auto result = std::make_shared<spdlog::logger>("test", sink);
    result->set_pattern("%l %v");
    result->set_level(level);
    return result;
  }

  // The lines written since the last call.
  std::vector<std::string> lines() {
    std::vector<std::string> result;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);) result.push_back(line);
    out.str("");
    return result;
  }

  void app(const AppId& id, std::map<ProfileId, std::int32_t> targets, AppPhase phase = AppPhase::kActive,
           std::vector<std::string> conditions = {}) {
    Application application;
    application.spec.id = id;
    application.targets = std::move(targets);
    application.phase = phase;
    application.conditions = std::move(conditions);
    Event event;
    event.type = Event::Type::kApplication;
    event.revision = ++revision;
    event.app = std::make_shared<const Application>(application);
    event_logger.on_event(event);
  }

  void executor(const AppId& app, ExecutorId id, ExecutorState state, const std::string& pool = "k8s",
                const std::string& reason = "", const std::string& message = "") {
    Event event;
    event.type = Event::Type::kExecutor;
    event.revision = ++revision;
    event.executor.app = app;
    event.executor.id = id;
    event.executor.pool = pool;
    event.executor.backend_name = "berth-" + app + "-exec-" + std::to_string(id);
    event.executor.state = state;
    event.executor.loss.reason = reason;
    event.executor.loss.message = message;
    event_logger.on_event(event);
  }

  void advance(Duration d) {
    clock.advance(d);
    event_logger.flush();
  }
};

}  // namespace

TEST_CASE("format_id_ranges: sorted, runs as ranges, capped") {
  CHECK(format_id_ranges({3, 1, 2, 5, 7, 8}) == "1-3, 5, 7, 8");
  CHECK(format_id_ranges({4}) == "4");
  CHECK(format_id_ranges({1, 3, 5, 7, 9}, 3) == "1, 3, 5, ...");
  CHECK(format_id_ranges({}).empty());
}

TEST_CASE("a target change and the launches it causes are one info line per app and window") {
  Fixture f;
  f.app("demo", {});        // registered: no line of ours (the service logs registrations)
  f.app("demo", {{0, 3}});
  for (ExecutorId id = 1; id <= 3; ++id) f.executor("demo", id, ExecutorState::kRequested);
  f.advance(500ms);
  CHECK(f.lines().empty());  // the window is still open
  f.advance(500ms);
  CHECK(f.lines() == std::vector<std::string>{"info app demo: target 0 -> 3, launching 3 on pool k8s (executors 1-3)"});

  for (ExecutorId id = 1; id <= 3; ++id) f.executor("demo", id, ExecutorState::kRunning);
  f.app("demo", {{0, 5}});
  f.executor("demo", 4, ExecutorState::kRequested);
  f.executor("demo", 5, ExecutorState::kRequested);
  f.advance(1s);
  CHECK(f.lines() == std::vector<std::string>{
                         "info app demo: target 3 -> 5, launching 2 on pool k8s (executors 4, 5), "
                         "3 running on pool k8s (executors 1-3)"});

  f.executor("demo", 2, ExecutorState::kKilled, "k8s", "killed_by_driver");
  f.app("demo", {{0, 4}});
  f.executor("demo", 5, ExecutorState::kCancelled);
  f.advance(1s);
  CHECK(f.lines() == std::vector<std::string>{
                         "info app demo: target 5 -> 4, killed 1 on pool k8s (killed_by_driver: executors 2), "
                         "cancelled 1 not yet running on pool k8s (executors 5)"});
}

TEST_CASE("each target change within a window is a line of its own, with the kills that lowered it") {
  Fixture f;
  f.app("demo", {});
  f.app("demo", {{0, 3}});
  for (ExecutorId id = 1; id <= 3; ++id) f.executor("demo", id, ExecutorState::kRequested, "local");
  for (ExecutorId id = 1; id <= 3; ++id) f.executor("demo", id, ExecutorState::kRunning, "local");
  f.clock.advance(100ms);
  f.executor("demo", 2, ExecutorState::kKilled, "local", "killed_by_driver");  // kill 2, lowering the target
  f.app("demo", {{0, 2}});
  f.clock.advance(100ms);
  f.executor("demo", 1, ExecutorState::kKilled, "local", "killed_by_driver");  // kill 1, target kept
  f.executor("demo", 4, ExecutorState::kRequested, "local");
  f.clock.advance(100ms);
  f.app("demo", {{0, 1}});
  f.advance(1s);
  CHECK(f.lines() == std::vector<std::string>{
                         "info app demo: target 0 -> 3, launching 3 on pool local (executors 1-3), "
                         "3 running on pool local (executors 1-3)",
                         "info app demo: target 3 -> 2, launching 1 on pool local (executors 4), "
                         "killed 2 on pool local (killed_by_driver: executors 1, 2)",
                         "info app demo: target 2 -> 1"});
  f.advance(10s);
  CHECK(f.lines().empty());
}

TEST_CASE("per-executor detail is written at debug only, one line each") {
  Fixture debug(spdlog::level::debug);
  debug.executor("demo", 1, ExecutorState::kLaunching);
  const auto lines = debug.lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "debug app demo: executor 1 on pool k8s: LAUNCHING (berth-demo-exec-1)");

  Fixture info;
  info.executor("demo", 1, ExecutorState::kLaunching);
  info.advance(2s);
  CHECK(info.lines().empty());
}

TEST_CASE("ten identical launch refusals are one warning with a count; repeats are summarised per interval") {
  Fixture f;
  for (ExecutorId id = 1; id <= 10; ++id) {
    f.executor("demo", id, ExecutorState::kLaunchFailed, "local", "launch_failed",
               "cannot start berth-demo-exec-" + std::to_string(id) + ": no command");
  }
  f.advance(1s);
  CHECK(f.lines() == std::vector<std::string>{
                         "warning app demo: launch refused on pool local: cannot start berth-demo-exec-*: no command "
                         "(10 executors: 1-10)"});

  // The same refusal again: held for the repeat interval, then one line with the count.
  f.executor("demo", 11, ExecutorState::kLaunchFailed, "local", "launch_failed",
             "cannot start berth-demo-exec-11: no command");
  f.executor("demo", 12, ExecutorState::kLaunchFailed, "local", "launch_failed",
             "cannot start berth-demo-exec-12: no command");
  f.advance(30s);
  CHECK(f.lines().empty());
  f.advance(30s);
  CHECK(f.lines() == std::vector<std::string>{
                         "warning app demo: launch refused on pool local: cannot start berth-demo-exec-*: no command "
                         "(2 more executors in the last 60 s: 11, 12)"});
  // Quiet for an interval: forgotten, so the next one is written as new.
  f.advance(60s);
  CHECK(f.lines().empty());
  f.executor("demo", 13, ExecutorState::kLaunchFailed, "local", "launch_failed", "other reason");
  f.advance(1s);
  CHECK(f.lines() == std::vector<std::string>{"warning app demo: launch refused on pool local: other reason (executor 13)"});
}

TEST_CASE("a pool's health is one line when it turns unhealthy and one when it recovers") {
  Fixture f;
  f.event_logger.on_pool_event(PoolEvent{PoolEvent::Type::kSynced, "k8s", "", {{"demo", {1, 2, 3}}, {"etl", {7}}}});
  CHECK(f.lines() == std::vector<std::string>{
                         "info pool k8s: synced; adopted 4 executors still running: app demo executors 1-3; "
                         "app etl executors 7"});
  for (int i = 0; i < 6; ++i) {
    f.event_logger.on_pool_event(PoolEvent{PoolEvent::Type::kUnhealthy, "k8s", "UNAVAILABLE: connection refused", {}});
    f.advance(10s);
  }
  CHECK(f.lines() == std::vector<std::string>{
                         "warning pool k8s: unhealthy: UNAVAILABLE: connection refused; the pool is frozen (nothing "
                         "launched, nothing declared lost) until it answers"});
  f.event_logger.on_pool_event(PoolEvent{PoolEvent::Type::kHealthy, "k8s", "", {}});
  CHECK(f.lines() == std::vector<std::string>{"info pool k8s: healthy again after 60 s"});
}

TEST_CASE("lease lapses, conditions and endings are told once") {
  Fixture f;
  f.app("demo", {{0, 2}});
  f.app("demo", {{0, 2}}, AppPhase::kActive, {"FAILURE_BUDGET_EXHAUSTED: 5 launches refused"});
  f.app("demo", {{0, 2}}, AppPhase::kActive, {"FAILURE_BUDGET_EXHAUSTED: 5 launches refused"});
  f.app("demo", {{0, 2}}, AppPhase::kOrphaned, {"FAILURE_BUDGET_EXHAUSTED: 5 launches refused"});
  f.app("demo", {{0, 2}}, AppPhase::kOrphaned, {});
  f.executor("demo", 1, ExecutorState::kFailed, "k8s", "exited", "");
  f.executor("demo", 2, ExecutorState::kLost, "k8s", "node_lost", "node h1 is gone");
  f.advance(1s);
  const auto lines = f.lines();
  CHECK(lines == std::vector<std::string>{
                     "warning app demo: FAILURE_BUDGET_EXHAUSTED: 5 launches refused",
                     "warning app demo: lease lapsed; its executors are killed after the orphan grace unless the "
                     "driver returns",
                     "info app demo: FAILURE_BUDGET_EXHAUSTED cleared",
                     "info app demo: target 2",
                     "info app demo: executor failed on pool k8s: exited (executor 1)",
                     "warning app demo: executor lost on pool k8s: node_lost, node h1 is gone (executor 2)"});
  // The condition again within the repeat interval: counted, told once when the interval ends.
  f.app("demo", {{0, 2}}, AppPhase::kOrphaned, {"FAILURE_BUDGET_EXHAUSTED: 5 launches refused"});
  f.advance(10s);
  CHECK(f.lines().empty());
  f.advance(50s);
  CHECK(f.lines() == std::vector<std::string>{
                         "warning app demo: FAILURE_BUDGET_EXHAUSTED: 5 launches refused (once more in the last 60 s)"});
}

TEST_CASE("after a restart, a remembered application's target change is told from its target") {
  Fixture f;
  Application restored;
  restored.spec.id = "demo";
  restored.targets = {{0, 2}};
  f.event_logger.remember(restored);
  f.app("demo", {{0, 3}});
  f.executor("demo", 4, ExecutorState::kRequested, "local");
  f.advance(1s);
  CHECK(f.lines() == std::vector<std::string>{"info app demo: target 2 -> 3, launching 1 on pool local (executors 4)"});
}
