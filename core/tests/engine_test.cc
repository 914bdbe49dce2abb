#include <catch2/catch.hpp>

#include <memory>

#include "core/engine.h"
#include "core/testing/fakes.h"

using namespace berth;
using namespace berth::testing;
using namespace std::chrono_literals;
using S = ExecutorState;

namespace {

struct Fixture {
  FakeClock clock;
  ManualScheduler scheduler;
  FakeStore store;
  FakeBackend backend{"pool-a", scheduler};
  EngineOptions options;
  std::vector<TenantPolicy> tenants{TenantPolicy{"team-a", {}, {"pool-a"}, {}}};
  std::unique_ptr<Engine> engine;

  Fixture() {
    options.kill_grace = 5s;
    options.launch_timeout = 60s;
    options.missing_grace = 30s;
    options.resync_interval = 10s;
    options.orphan_grace = 20s;
    options.backoff_initial = 1s;
    options.backoff_max = 8s;
  }

  bool configure_pool_a = true;
  EngineListener* early_listener = nullptr;  // added before start(): sees the first lists
  std::int32_t max_inflight_launches = 64;  // false: a restart whose configuration no longer has pool-a

  void start() {
    engine = std::make_unique<Engine>(options, "daemon-1", clock, store, scheduler);
    if (early_listener != nullptr) engine->add_listener(early_listener);
    if (configure_pool_a) engine->add_pool(PoolPolicy{"pool-a", "fake", 1000, max_inflight_launches}, &backend);
    engine->set_tenants(tenants);
    auto snapshot = store.load();
    REQUIRE(snapshot.ok());
    REQUIRE(engine->restore(*snapshot).ok());
    engine->start();
    settle();
    REQUIRE(engine->ready());
  }

  // Simulates kill -9: the engine disappears without flushing anything that was not durable.
  void crash() {
    engine.reset();
    scheduler.run_all();
  }

  // Runs everything queued, then checks that every counter and index of the engine agrees with
  // a recount from scratch.
  void settle() {
    scheduler.run_all();
    if (!engine) return;
    const std::vector<std::string> broken = engine->check_invariants();
    for (const std::string& line : broken) UNSCOPED_INFO(line);
    CHECK(broken.empty());
  }

  void advance(Duration d) {
    clock.advance(d);
    engine->tick();
    settle();
  }

  AppSpec spec(const std::string& id = "app-1", Duration lease = 0s) {
    AppSpec s;
    s.id = id;
    s.tenant = "team-a";
    s.profiles = {ResourceProfile{0, 2, 1024, 0, 0, 0, 0, {}}};
    s.launch = LaunchSpec{.command = {"executor"}};
    s.driver.url = "spark://CoarseGrainedScheduler@driver:7078";
    s.lease_ttl = lease;
    return s;
  }

  // Starts, runs executor 1 of app-1, and kills it while its object keeps running through its
  // grace period (as a Nomad job being stopped or a terminating pod does).
  void kill_one_that_stops_slowly() {
    start();
    register_app();
    target(1);
    backend.run_all_pending();
    settle();
    backend.stop_slowly = true;
    REQUIRE(engine->kill_executors("app-1", {1}, true, false).ok());
    settle();
  }

  void register_app(const std::string& id = "app-1", Duration lease = 0s) {
    REQUIRE(engine->register_app(spec(id, lease)).ok());
    settle();
  }

  void target(int n, const std::string& id = "app-1") {
    REQUIRE(engine->set_targets(id, {{0, n}}).ok());
    settle();
  }

  int count(S state, const std::string& id = "app-1") const {
    int n = 0;
    for (const Executor* e : engine->executors(id)) n += e->state == state ? 1 : 0;
    return n;
  }

  const Executor& executor(ExecutorId id, const std::string& app = "app-1") const {
    for (const Executor* e : engine->executors(app)) {
      if (e->id == id) return *e;
    }
    FAIL("no executor " << id);
    throw;
  }

  std::vector<ExecutorId> ids(S state, const std::string& app = "app-1") const {
    std::vector<ExecutorId> out;
    for (const Executor* e : engine->executors(app)) {
      if (e->state == state) out.push_back(e->id);
    }
    return out;
  }
};

struct Recorder : EngineListener {
  std::vector<Event> events;
  std::vector<PoolEvent> pool_events;
  void on_event(const Event& e) override { events.push_back(e); }
  void on_pool_event(const PoolEvent& e) override { pool_events.push_back(e); }
};

}  // namespace

TEST_CASE_METHOD(Fixture, "target 3 launches three executors with ids 1..3 that run") {
  start();
  register_app();
  target(3);
  REQUIRE(backend.launches.size() == 3);
  CHECK(backend.launches[0].backend_name == "berth-app-1-exec-1");
  CHECK(backend.launches[2].executor == 3);
  CHECK(backend.launches[0].daemon_id == "daemon-1");
  CHECK(count(S::kLaunching) == 3);
  backend.run_all_pending();
  settle();
  CHECK(count(S::kRunning) == 3);
  CHECK(executor(1).host == "host-a");
}

TEST_CASE_METHOD(Fixture, "an executor no node can take sets UNSCHEDULABLE with the reason until one starts") {
  start();
  register_app();
  target(2);
  auto condition = [&]() -> std::string {
    for (const auto& c : engine->find_app("app-1")->conditions) {
      if (c.rfind("UNSCHEDULABLE", 0) == 0) return c;
    }
    return "";
  };
  backend.set_pending_reason("berth-app-1-exec-2", kReasonUnschedulable, "0/3 nodes are available: 3 Insufficient cpu");
  settle();
  CHECK(executor(2).state == S::kPending);
  CHECK(condition() == "UNSCHEDULABLE: pool pool-a: 0/3 nodes are available: 3 Insufficient cpu");
  backend.set_phase("berth-app-1-exec-1", ObservedPhase::kPending);
  settle();
  CHECK_FALSE(condition().empty());  // pending for another reason changes nothing
  backend.set_phase("berth-app-1-exec-2", ObservedPhase::kRunning);
  settle();
  CHECK(condition().empty());
}

TEST_CASE_METHOD(Fixture, "an executor record is durable before its launch is sent") {
  start();
  register_app();
  store.hold(true);
  REQUIRE(engine->set_targets("app-1", {{0, 2}}).ok());
  settle();
  CHECK(backend.launches.empty());
  CHECK(count(S::kRequested) == 2);
  store.release();
  settle();
  REQUIRE(backend.launches.size() == 2);
  // Everything launched is in the durable state with its backend name.
  store.release();
  settle();
  int durable = 0;
  for (const Executor& e : store.durable().executors) durable += e.backend_name.empty() ? 0 : 1;
  CHECK(durable == 2);
}

TEST_CASE_METHOD(Fixture, "a failed commit launches nothing and the records are retried") {
  start();
  register_app();
  store.fail_next(Status::Internal("disk full"));
  target(2);
  CHECK(backend.launches.empty());
  advance(1s);  // the retry comes from the timer
  CHECK(backend.launches.size() == 2);
}

TEST_CASE_METHOD(Fixture, "lowering the target cancels pending executors newest first, never running ones") {
  start();
  register_app();
  target(2);
  backend.run_all_pending();
  settle();
  target(5);  // 3, 4, 5 pending
  CHECK(count(S::kRunning) == 2);
  target(3);
  CHECK(count(S::kRunning) == 2);
  CHECK(count(S::kCancelled) == 2);
  CHECK(executor(5).state == S::kCancelled);
  CHECK(executor(4).state == S::kCancelled);
  CHECK(executor(3).state == S::kLaunching);
  CHECK(executor(5).loss.reason == "cancelled");
  target(0);
  CHECK(count(S::kRunning) == 2);  // running executors stay until the driver kills them
  CHECK(count(S::kCancelled) == 3);
  // Cancelled objects were stopped on the backend.
  CHECK(backend.objects.count("berth-app-1-exec-3") == 0);
}

TEST_CASE_METHOD(Fixture, "kill with adjust_target is not replaced; without it a new id replaces it") {
  start();
  register_app();
  target(3);
  backend.run_all_pending();
  settle();

  auto outcome = engine->kill_executors("app-1", {2, 99}, /*adjust_target=*/true, /*force=*/false);
  REQUIRE(outcome.ok());
  CHECK(outcome->done == std::vector<ExecutorId>{2});
  CHECK(outcome->unknown == std::vector<ExecutorId>{99});
  settle();
  CHECK(executor(2).state == S::kKilled);
  CHECK(executor(2).loss.reason == "killed_by_driver");
  CHECK_FALSE(executor(2).loss.caused_by_app);
  CHECK(engine->find_app("app-1")->targets.at(0) == 2);
  CHECK(engine->executors("app-1").size() == 3);  // no replacement
  REQUIRE(backend.kills.size() == 1);
  CHECK(backend.kills[0].grace == 5s);

  outcome = engine->kill_executors("app-1", {3}, /*adjust_target=*/false, /*force=*/true);
  REQUIRE(outcome.ok());
  settle();
  CHECK(backend.kills.back().grace == 0s);
  CHECK(engine->find_app("app-1")->targets.at(0) == 2);
  REQUIRE(engine->executors("app-1").size() == 4);
  CHECK(executor(4).state == S::kLaunching);  // a new id, never a reused one

  // Killing an ended executor again reports it as unknown.
  outcome = engine->kill_executors("app-1", {3}, false, false);
  CHECK(outcome->unknown == std::vector<ExecutorId>{3});
}

TEST_CASE_METHOD(Fixture, "scale-up is bounded by max pending per app and per pool") {
  options.max_pending_per_app = 2;
  start();
  register_app();
  target(5);
  CHECK(backend.launches.size() == 2);
  backend.run_all_pending();
  settle();
  CHECK(backend.launches.size() == 4);
  backend.run_all_pending();
  settle();
  CHECK(backend.launches.size() == 5);
}

TEST_CASE_METHOD(Fixture, "pool max_pending bounds launches across applications") {
  start();
  engine = std::make_unique<Engine>(options, "daemon-1", clock, store, scheduler);
  FakeBackend small{"pool-a", scheduler};
  engine->add_pool(PoolPolicy{"pool-a", "fake", 3}, &small);
  engine->set_tenants(tenants);
  REQUIRE(engine->restore(*store.load()).ok());
  engine->start();
  settle();
  register_app("app-1");
  register_app("app-2");
  target(2, "app-1");
  target(2, "app-2");
  CHECK(small.launches.size() == 3);
  small.run_all_pending();
  settle();
  CHECK(small.launches.size() == 4);
}

TEST_CASE_METHOD(Fixture, "retryable launch errors back off per pool, then the same executor is relaunched") {
  start();
  register_app();
  backend.launch_results = {Status::Unavailable("429 too many requests")};
  target(1);
  REQUIRE(backend.launches.size() == 1);
  CHECK(count(S::kRequested) == 1);
  advance(500ms);
  CHECK(backend.launches.size() == 1);  // still backing off
  advance(600ms);
  REQUIRE(backend.launches.size() == 2);
  CHECK(backend.launches[1].backend_name == backend.launches[0].backend_name);
  CHECK(count(S::kLaunching) == 1);
  CHECK(executor(1).attempt == 2);
  CHECK(engine->pools().front().launches_sent == 2);  // every call counted, the retry included
}

TEST_CASE_METHOD(Fixture, "non-retryable launch errors reach the driver and exhaust the failure budget") {
  options.failure_budget = 2;
  start();
  register_app();
  Recorder recorder;
  engine->add_listener(&recorder);
  backend.launch_results = {Status::ResourceExhausted("exceeded quota: pods=10"),
                            Status::InvalidArgument("image is invalid"),
                            Status::InvalidArgument("image is invalid")};
  target(3);
  settle();
  CHECK(count(S::kLaunchFailed) == 3);  // all three were in flight together
  CHECK(executor(1).loss.message == "exceeded quota: pods=10");
  const Application* app = engine->find_app("app-1");
  CHECK(app->launch_failures == 3);
  bool quota = false, budget = false;
  for (const auto& c : app->conditions) {
    quota |= c.rfind("QUOTA_EXCEEDED", 0) == 0;
    budget |= c.rfind("FAILURE_BUDGET_EXHAUSTED", 0) == 0;
  }
  CHECK(quota);
  CHECK(budget);
  // No silent retry loop: after the budget, nothing more is launched.
  advance(10s);
  advance(10s);
  CHECK(backend.launches.size() == 3);
  bool saw_launch_failed_event = false;
  for (const Event& e : recorder.events) {
    saw_launch_failed_event |= e.type == Event::Type::kExecutor && e.executor.state == S::kLaunchFailed;
  }
  CHECK(saw_launch_failed_event);
  engine->remove_listener(&recorder);
}

TEST_CASE_METHOD(Fixture, "executors that fail at once exhaust the failure budget: a crash loop stops") {
  options.failure_budget = 3;
  options.quick_failure = 60s;
  start();
  register_app();
  target(1);
  // A command that cannot run: every launch is accepted, every executor exits 127 a second later.
  for (int attempt = 1; attempt <= 3; ++attempt) {
    backend.run_all_pending();
    settle();
    const std::string name = "berth-app-1-exec-" + std::to_string(attempt);
    REQUIRE(backend.objects.count(name) == 1);
    backend.set_phase(name, ObservedPhase::kRunning);
    settle();
    advance(1s);
    backend.set_phase(name, ObservedPhase::kExited, 127);
    settle();
    CHECK(executor(attempt).state == S::kFailed);
  }
  const Application* app = engine->find_app("app-1");
  CHECK(app->launch_failures == 3);
  bool budget = false;
  for (const auto& c : app->conditions) budget |= c.rfind("FAILURE_BUDGET_EXHAUSTED", 0) == 0;
  CHECK(budget);
  const std::size_t launched = backend.launches.size();
  advance(10s);
  advance(10s);
  CHECK(backend.launches.size() == launched);  // no fourth executor
  CHECK(count(S::kLaunching) + count(S::kRequested) == 0);
}

TEST_CASE_METHOD(Fixture, "an executor that fails after running a while is bad luck, not a crash loop") {
  options.failure_budget = 1;
  options.quick_failure = 60s;
  start();
  register_app();
  target(1);
  backend.run_all_pending();
  settle();
  backend.set_phase("berth-app-1-exec-1", ObservedPhase::kRunning);
  settle();
  advance(2min);
  backend.set_phase("berth-app-1-exec-1", ObservedPhase::kExited, 1);
  settle();
  CHECK(executor(1).state == S::kFailed);
  CHECK(engine->find_app("app-1")->launch_failures == 0);
  backend.run_all_pending();
  settle();
  CHECK(backend.launches.size() == 2);  // replaced
}

TEST_CASE_METHOD(Fixture, "executors never observed within launch_timeout are cancelled and replaced") {
  start();
  register_app();
  target(1);
  backend.drop_silently("berth-app-1-exec-1");  // accepted but never shows up
  advance(61s);
  CHECK(executor(1).state == S::kCancelled);
  CHECK(executor(1).loss.reason == "launch_timeout");
  CHECK(executor(2).state == S::kLaunching);
}

TEST_CASE_METHOD(Fixture, "executors missing from a full list become LOST after the grace period and are replaced") {
  start();
  register_app();
  target(2);
  backend.run_all_pending();
  settle();
  backend.drop_silently("berth-app-1-exec-1");  // the delete event was lost
  advance(10s);  // resync lists the pool
  CHECK(executor(1).state == S::kRunning);  // within the grace period
  advance(10s);
  advance(10s);
  advance(10s);
  CHECK(executor(1).state == S::kLost);
  CHECK(executor(1).loss.reason == "vanished");
  CHECK(executor(2).state == S::kRunning);
  CHECK(executor(3).state == S::kLaunching);
}

TEST_CASE_METHOD(Fixture, "an unreachable backend freezes its pool: nothing is declared lost, nothing launched") {
  start();
  register_app();
  target(2);
  backend.run_all_pending();
  settle();
  backend.list_error = Status::Unavailable("connection refused");
  backend.drop_silently("berth-app-1-exec-1");
  for (int i = 0; i < 20; ++i) advance(10s);
  CHECK(count(S::kRunning) == 2);
  target(4);
  CHECK(backend.launches.size() == 2);
  backend.list_error.reset();
  for (int i = 0; i < 5; ++i) advance(10s);
  CHECK(executor(1).state == S::kLost);
  CHECK(count(S::kRunning) == 1);
  CHECK(count(S::kLaunching) + count(S::kPending) == 3);
}

TEST_CASE_METHOD(Fixture, "a lapsed lease orphans the app, then kills every executor with reason lease expired") {
  start();
  register_app("app-1", 10s);
  target(2);
  backend.run_all_pending();
  settle();
  advance(8s);
  REQUIRE(engine->keep_alive("app-1").ok());
  advance(8s);
  CHECK(engine->find_app("app-1")->phase == AppPhase::kActive);
  advance(3s);
  CHECK(engine->find_app("app-1")->phase == AppPhase::kOrphaned);
  CHECK(count(S::kRunning) == 2);
  advance(21s);
  CHECK(engine->find_app("app-1")->phase == AppPhase::kEnded);
  CHECK(count(S::kKilled) == 2);
  CHECK(executor(1).loss.reason == "lease_expired");
  CHECK(executor(1).loss.message == "lease expired");
  CHECK(backend.objects.empty());
  CHECK_FALSE(engine->keep_alive("app-1").ok());
}

TEST_CASE_METHOD(Fixture, "keep-alive during the orphan grace period revives the app") {
  start();
  register_app("app-1", 10s);
  target(1);
  advance(11s);
  CHECK(engine->find_app("app-1")->phase == AppPhase::kOrphaned);
  REQUIRE(engine->keep_alive("app-1").ok());
  CHECK(engine->find_app("app-1")->phase == AppPhase::kActive);
  advance(25s);
  CHECK(engine->find_app("app-1")->phase == AppPhase::kOrphaned);
}

TEST_CASE_METHOD(Fixture, "decommission signals the executor; a clean exit succeeds; a straggler is killed") {
  start();
  register_app();
  target(2);
  backend.run_all_pending();
  settle();
  auto outcome = engine->decommission_executors("app-1", {1, 2}, 30s, /*adjust_target=*/true);
  REQUIRE(outcome.ok());
  settle();
  CHECK(backend.decommissions.size() == 2);
  CHECK(count(S::kDecommissioning) == 2);
  CHECK(engine->find_app("app-1")->targets.at(0) == 0);
  backend.set_phase("berth-app-1-exec-1", ObservedPhase::kExited, 0);
  settle();
  CHECK(executor(1).state == S::kSucceeded);
  CHECK(executor(1).loss.reason == "decommissioned");
  advance(31s);
  CHECK(executor(2).state == S::kKilled);
  CHECK(executor(2).loss.reason == "decommission_timeout");
  CHECK(engine->executors("app-1").size() == 2);
}

TEST_CASE_METHOD(Fixture, "exit codes and OOM kills map to Spark's loss reasons") {
  start();
  register_app();
  target(2);
  backend.run_all_pending();
  settle();
  backend.set_phase("berth-app-1-exec-1", ObservedPhase::kExited, 52);
  backend.objects.at("berth-app-1-exec-2").oom_killed = true;
  backend.set_phase("berth-app-1-exec-2", ObservedPhase::kExited, 137);
  settle();
  CHECK(executor(1).state == S::kFailed);
  CHECK(executor(1).exit_code == 52);
  CHECK(executor(1).loss.caused_by_app);
  CHECK(executor(2).loss.reason == "oom_killed");
  CHECK(executor(2).exit_code == 137);
  // Both were replaced with new ids.
  CHECK(count(S::kLaunching) == 2);
}

TEST_CASE_METHOD(Fixture, "tenant max_executors caps the app and says so") {
  tenants[0].limits.max_executors = 3;
  start();
  register_app();
  target(5);
  CHECK(backend.launches.size() == 3);
  backend.run_all_pending();
  settle();
  CHECK(backend.launches.size() == 3);
  bool limited = false;
  for (const auto& c : engine->find_app("app-1")->conditions) limited |= c.rfind("TENANT_LIMIT", 0) == 0;
  CHECK(limited);
}

TEST_CASE_METHOD(Fixture, "registration is idempotent on the same spec and refuses another") {
  start();
  auto first = engine->register_app(spec());
  REQUIRE(first.ok());
  auto again = engine->register_app(spec());
  REQUIRE(again.ok());
  CHECK(again->created == first->created);
  AppSpec other = spec();
  other.profiles[0].cores = 8;
  auto conflict = engine->register_app(other);
  CHECK(conflict.status().code() == StatusCode::kAlreadyExists);
  AppSpec bad_pool = spec("app-2");
  bad_pool.pools = {"nope"};
  CHECK(engine->register_app(bad_pool).status().code() == StatusCode::kInvalidArgument);
  AppSpec bad_tenant = spec("app-3");
  bad_tenant.tenant = "nobody";
  CHECK(engine->register_app(bad_tenant).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE_METHOD(Fixture, "unregister kills every executor and ends the app") {
  start();
  register_app();
  target(3);
  backend.run_all_pending();
  settle();
  REQUIRE(engine->unregister_app("app-1", "").ok());
  settle();
  CHECK(count(S::kKilled) == 3);
  CHECK(executor(1).loss.reason == "app_unregistered");
  CHECK(engine->find_app("app-1")->phase == AppPhase::kEnded);
  CHECK(backend.objects.empty());
  CHECK(engine->set_targets("app-1", {{0, 1}}).status().code() == StatusCode::kFailedPrecondition);
}

TEST_CASE_METHOD(Fixture, "a cancel that races its launch still stops the object the launch created") {
  start();
  register_app();
  REQUIRE(engine->set_targets("app-1", {{0, 1}}).ok());
  // Run until the launch is sent but not completed.
  while (backend.launches.empty()) REQUIRE(scheduler.run_all(1) == 1);
  REQUIRE(engine->set_targets("app-1", {{0, 0}}).ok());
  settle();
  CHECK(executor(1).state == S::kCancelled);
  CHECK(backend.objects.empty());
}

TEST_CASE_METHOD(Fixture, "restart adopts, relaunches what never reached the backend, reaps orphans, ids continue") {
  start();
  register_app();
  target(2);
  backend.run_all_pending();
  settle();
  // A third executor is recorded durably, but the daemon dies before its launch is sent.
  store.hold(true);
  target(3);
  store.release();  // durable
  store.hold(false);
  // Crash before the commit completion reaches the engine (launch never sent).
  engine.reset();
  scheduler.run_all();
  REQUIRE(backend.launches.size() == 2);

  // An orphan of this daemon (its app is unknown) and another daemon's object.
  BackendObject orphan;
  orphan.backend_name = "berth-gone-exec-1";
  orphan.daemon_id = "daemon-1";
  orphan.app = "gone";
  orphan.executor = 1;
  orphan.phase = ObservedPhase::kRunning;
  backend.objects[orphan.backend_name] = orphan;
  BackendObject foreign = orphan;
  foreign.backend_name = "other-x-exec-1";
  foreign.daemon_id = "daemon-2";
  backend.objects[foreign.backend_name] = foreign;

  start();
  CHECK(executor(1).state == S::kRunning);
  CHECK(executor(2).state == S::kRunning);
  CHECK(executor(3).state == S::kLaunching);
  CHECK(backend.launches.size() == 3);
  CHECK(backend.launches.back().backend_name == "berth-app-1-exec-3");
  CHECK(backend.objects.count("berth-gone-exec-1") == 0);  // orphan reaped
  CHECK(backend.objects.count("other-x-exec-1") == 1);     // never touched
  backend.run_all_pending();
  settle();
  CHECK(count(S::kRunning) == 3);
  // Ids continue after the restart.
  REQUIRE(engine->kill_executors("app-1", {1}, false, false).ok());
  settle();
  CHECK(executor(4).state == S::kLaunching);
}

TEST_CASE_METHOD(Fixture, "a launch that reached the backend before a crash is adopted, not duplicated") {
  start();
  register_app();
  target(1);
  // Crash after the launch was sent but before LAUNCHING was durable.
  store.hold(true);
  backend.run_all_pending();
  scheduler.run_all();
  engine.reset();
  scheduler.run_all();
  store.hold(false);
  start();
  settle();
  CHECK(count(S::kRunning) == 1);
  CHECK(backend.objects.size() == 1);
}

TEST_CASE("event log resumes from a revision and asks for a resync past its window") {
  EventLog log(3);
  log.reset(10);
  for (Revision r = 11; r <= 15; ++r) {
    Event e;
    e.revision = r;
    log.append(e);
  }
  CHECK_FALSE(log.since(10).has_value());
  CHECK_FALSE(log.since(11).has_value());
  auto tail = log.since(12);
  REQUIRE(tail.has_value());
  REQUIRE(tail->size() == 3);
  CHECK(tail->front().revision == 13);
  CHECK(log.since(15)->empty());
}

TEST_CASE("event log visits what follows a revision, and the newest events first, without copying the window") {
  EventLog log(3);
  log.reset(10);
  for (Revision r = 11; r <= 15; ++r) {
    Event e;
    e.revision = r;
    log.append(e);
  }
  std::vector<Revision> seen;
  CHECK_FALSE(log.visit_since(11, [&](const Event& e) { seen.push_back(e.revision); return true; }));
  CHECK(seen.empty());
  CHECK(log.visit_since(13, [&](const Event& e) { seen.push_back(e.revision); return true; }));
  CHECK(seen == std::vector<Revision>{14, 15});
  seen.clear();
  CHECK(log.visit_since(12, [&](const Event& e) { seen.push_back(e.revision); return seen.size() < 2; }));
  CHECK(seen == std::vector<Revision>{13, 14});
  seen.clear();
  log.visit_newest([&](const Event& e) { seen.push_back(e.revision); return seen.size() < 2; });
  CHECK(seen == std::vector<Revision>{15, 14});
}

TEST_CASE("event log is bounded in bytes as well: large events push the oldest out") {
  EventLog log(100, 1000);
  log.reset(0);
  for (Revision r = 1; r <= 10; ++r) {
    Event e;
    e.revision = r;
    e.bytes = 300;  // an application event with a large spec, say
    log.append(e);
  }
  CHECK(log.size() == 3);
  CHECK(log.bytes() == 900);
  CHECK_FALSE(log.since(6).has_value());  // events 7 and later only: a resync
  REQUIRE(log.since(7).has_value());
  CHECK(log.since(7)->size() == 3);
  Event huge;
  huge.revision = 11;
  huge.bytes = 5000;  // larger than the bound alone: kept, as the newest, by itself
  log.append(huge);
  CHECK(log.size() == 1);
  CHECK(log.since(10)->size() == 1);
}

TEST_CASE("event log counts a launch spec its events share once, until the last of them leaves") {
  LaunchSpec launch;
  launch.env["BIG"] = std::string(100'000, 'x');
  auto app = std::make_shared<Application>();
  app->spec.launch = launch;
  const std::size_t spec_bytes = approximate_bytes(*app->spec.launch);
  EventLog log(3, 1'000'000);
  log.reset(0);
  for (Revision r = 1; r <= 3; ++r) {
    Event e;
    e.type = Event::Type::kApplication;
    e.revision = r;
    e.bytes = 100;
    auto copy = std::make_shared<Application>(*app);  // a record of one application: shares the spec
    copy->revision = r;
    e.app = copy;
    log.append(e);
  }
  CHECK(log.bytes() == 300 + spec_bytes);
  Event executor_event;
  executor_event.revision = 4;
  executor_event.bytes = 100;
  log.append(executor_event);  // the window holds 3: the first application event leaves
  CHECK(log.bytes() == 300 + spec_bytes);
  for (Revision r = 5; r <= 6; ++r) {
    executor_event.revision = r;
    log.append(executor_event);
  }
  CHECK(log.bytes() == 300);  // the last event holding the spec left, and its bytes with it
}

TEST_CASE_METHOD(Fixture, "an application's events share its launch spec rather than copy it") {
  start();
  Recorder recorder;
  engine->add_listener(&recorder);
  AppSpec big = spec();
  big.launch = LaunchSpec{.command = {"executor"}, .env = {{"BLOB", std::string(1 << 20, 'x')}}};
  REQUIRE(engine->register_app(big).ok());
  for (int i = 1; i <= 200; ++i) target(i % 2);
  std::vector<const Event*> app_events;
  for (const Event& event : recorder.events) {
    if (event.type == Event::Type::kApplication) app_events.push_back(&event);
  }
  REQUIRE(app_events.size() >= 200);
  for (const Event* event : app_events) {
    CHECK(event->app->spec.launch.shares_with(engine->find_app("app-1")->spec.launch));
  }
  // 200 events of a 1 MiB spec: the window holds the spec once, not 200 times.
  CHECK(engine->event_log().bytes() < 2u * (1 << 20));
  engine->remove_listener(&recorder);
}

TEST_CASE_METHOD(Fixture, "every change is an event with a strictly increasing revision") {
  start();
  Recorder recorder;
  engine->add_listener(&recorder);
  register_app();
  target(2);
  backend.run_all_pending();
  settle();
  REQUIRE(recorder.events.size() >= 6);
  for (std::size_t i = 1; i < recorder.events.size(); ++i) {
    CHECK(recorder.events[i].revision == recorder.events[i - 1].revision + 1);
  }
  auto replay = engine->event_log().since(recorder.events[2].revision);
  REQUIRE(replay.has_value());
  CHECK(replay->size() == recorder.events.size() - 3);
  engine->remove_listener(&recorder);
}

TEST_CASE_METHOD(Fixture, "a call that changes nothing is acknowledged without a new commit, after the pending one") {
  start();
  register_app();
  target(2);
  const int commits = store.commits();
  bool acknowledged = false;
  engine->when_durable([&](Status s) { acknowledged = s.ok(); });
  CHECK(acknowledged);  // nothing pending, nothing to write
  CHECK(store.commits() == commits);

  // A change still on its way to the store: an identical call waits for that commit.
  store.hold(true);
  REQUIRE(engine->set_targets("app-1", {{0, 3}}).ok());
  settle();
  REQUIRE(engine->set_targets("app-1", {{0, 3}}).ok());
  acknowledged = false;
  engine->when_durable([&](Status s) { acknowledged = s.ok(); });
  settle();
  CHECK_FALSE(acknowledged);
  store.release();
  settle();
  CHECK(acknowledged);
}

TEST_CASE_METHOD(Fixture, "the failure budget lifts when failures age out or the driver raises a target") {
  options.failure_budget = 2;
  options.failure_window = 60s;
  start();
  register_app();
  backend.launch_results = {Status::ResourceExhausted("exceeded quota: pods"),
                            Status::ResourceExhausted("exceeded quota: pods")};
  target(2);
  CHECK(count(S::kLaunchFailed) == 2);
  auto has = [&](const char* c) {
    for (const auto& x : engine->find_app("app-1")->conditions) {
      if (x.rfind(c, 0) == 0) return true;
    }
    return false;
  };
  CHECK(has("FAILURE_BUDGET_EXHAUSTED"));
  CHECK(has("QUOTA_EXCEEDED"));
  advance(30s);
  CHECK(backend.launches.size() == 2);  // still stopped
  advance(31s);                          // both failures are older than the window
  CHECK_FALSE(has("FAILURE_BUDGET_EXHAUSTED"));
  CHECK(backend.launches.size() == 4);
  CHECK(count(S::kLaunching) == 2);
  CHECK_FALSE(has("QUOTA_EXCEEDED"));  // launches succeed again

  // Refused again, then the driver raises its target: a fresh try at once.
  backend.launch_results = {Status::ResourceExhausted("q"), Status::ResourceExhausted("q")};
  REQUIRE(engine->kill_executors("app-1", ids(S::kLaunching), false, true).ok());
  settle();
  CHECK(has("FAILURE_BUDGET_EXHAUSTED"));
  const auto launches = backend.launches.size();
  target(3);
  CHECK_FALSE(has("FAILURE_BUDGET_EXHAUSTED"));
  CHECK(backend.launches.size() == launches + 3);
}

TEST_CASE_METHOD(Fixture, "an executor that can never start (image pull) is a launch failure against the budget") {
  start();
  register_app();
  target(1);
  backend.set_phase("berth-app-1-exec-1", ObservedPhase::kExited, std::nullopt, /*start_failed=*/true);
  settle();
  CHECK(executor(1).state == S::kLaunchFailed);
  CHECK(executor(1).loss.reason == "launch_failed");
  CHECK(executor(1).loss.message == "image could not be pulled");
  CHECK(engine->find_app("app-1")->launch_failures == 1);
  CHECK(executor(2).state == S::kLaunching);  // replaced
}

TEST_CASE_METHOD(Fixture, "an object seen before its launch reply still passes LAUNCHING with a launch time") {
  start();
  register_app();
  backend.hold_launch_replies = true;
  target(1);
  REQUIRE(backend.launches.size() == 1);
  CHECK(executor(1).state == S::kRequested);
  Recorder recorder;
  engine->add_listener(&recorder);
  backend.set_phase("berth-app-1-exec-1", ObservedPhase::kRunning);
  settle();
  CHECK(executor(1).state == S::kRunning);
  CHECK(executor(1).launched != Timestamp{});
  REQUIRE(recorder.events.size() >= 2);
  CHECK(recorder.events[0].executor.state == S::kLaunching);
  backend.release_launch_replies();
  settle();
  CHECK(executor(1).state == S::kRunning);
  engine->remove_listener(&recorder);
}

TEST_CASE_METHOD(Fixture, "launch calls outstanding at a backend are bounded per pool") {
  start();
  engine = std::make_unique<Engine>(options, "daemon-1", clock, store, scheduler);
  FakeBackend slow{"pool-a", scheduler};
  slow.hold_launch_replies = true;
  PoolPolicy policy{"pool-a", "fake", 1000};
  policy.max_inflight_launches = 4;
  engine->add_pool(policy, &slow);
  engine->set_tenants(tenants);
  REQUIRE(engine->restore(*store.load()).ok());
  engine->start();
  settle();
  register_app();
  target(10);
  CHECK(slow.launches.size() == 4);
  CHECK(count(S::kRequested) == 10);
  slow.release_launch_replies();
  settle();
  CHECK(slow.launches.size() == 8);
  slow.release_launch_replies();
  settle();
  slow.release_launch_replies();
  settle();
  CHECK(slow.launches.size() == 10);
  CHECK(count(S::kLaunching) == 10);
}

TEST_CASE_METHOD(Fixture, "unregister stops all of an app's objects in one call where the backend can") {
  backend.kill_app_supported = true;
  start();
  register_app();
  register_app("app-2");
  target(3);
  target(1, "app-2");
  backend.run_all_pending();
  settle();
  REQUIRE(engine->unregister_app("app-1", "").ok());
  settle();
  CHECK(backend.app_kills == std::vector<AppId>{"app-1"});
  CHECK(backend.kills.empty());  // no per-executor kill
  CHECK(count(S::kKilled) == 3);
  CHECK(backend.objects.size() == 1);  // app-2's executor is untouched

  // A failed bulk kill falls back to one kill per executor.
  backend.kill_app_result = Status::Unavailable("API server down");
  REQUIRE(engine->unregister_app("app-2", "").ok());
  settle();
  CHECK(backend.kills.size() == 1);
  CHECK(backend.objects.empty());
}

// --- kills are tracked actions (regression: kill storms) --------------------------------------

TEST_CASE_METHOD(Fixture, "kill storm: an object still stopping gets one kill, a second only after grace plus margin") {
  options.kill_retry_margin = 30s;
  options.kill_retry_max = 120s;
  kill_one_that_stops_slowly();
  CHECK(executor(1).state == S::kKilled);
  REQUIRE(backend.kills.size() == 1);
  CHECK(backend.kills[0].grace == 5s);

  // Every watch event and every resync shows it alive; none of them sends another kill.
  const std::string name = "berth-app-1-exec-1";
  for (int i = 0; i < 50; ++i) backend.observe_again(name);
  settle();
  advance(10s);
  advance(10s);
  advance(10s);  // three full lists, 30 s after the kill: within grace (5 s) + margin (30 s)
  CHECK(backend.kills.size() == 1);

  // Past grace + margin, the next list still shows it: one follow-up, then quiet again.
  advance(10s);
  CHECK(backend.kills.size() == 2);
  for (int i = 0; i < 50; ++i) backend.observe_again(name);
  settle();
  advance(10s);
  CHECK(backend.kills.size() == 2);
  CHECK(engine->pools()[0].kills_tracked == 1);

  // Gone at last: the kill is done and nothing is tracked any more.
  backend.finish_stop(name);
  settle();
  CHECK(engine->pools()[0].kills_tracked == 0);
  advance(10min);
  CHECK(backend.kills.size() == 2);
}

TEST_CASE_METHOD(Fixture, "kill storm: the wait before a follow-up doubles per attempt up to its cap") {
  options.kill_retry_margin = 30s;
  options.kill_retry_max = 60s;
  kill_one_that_stops_slowly();
  const std::string name = "berth-app-1-exec-1";
  auto alive_after = [&](Duration d) {
    clock.advance(d);
    backend.observe_again(name);
    settle();
    return backend.kills.size();
  };
  CHECK(alive_after(34s) == 1);  // grace 5 s + 30 s
  CHECK(alive_after(2s) == 2);
  CHECK(alive_after(60s) == 2);  // grace 5 s + 60 s after the second
  CHECK(alive_after(6s) == 3);
  CHECK(alive_after(64s) == 3);  // capped at 60 s
  CHECK(alive_after(2s) == 4);
}

TEST_CASE_METHOD(Fixture, "kill storm: unregister on a backend with bulk kill sends one call and no per-object kills") {
  backend.kill_app_supported = true;
  start();
  register_app();
  target(3);
  backend.run_all_pending();
  settle();
  backend.stop_slowly = true;  // terminating pods stay listed, running, for their grace period
  REQUIRE(engine->unregister_app("app-1", "done").ok());
  settle();
  CHECK(backend.app_kills.size() == 1);
  for (int round = 0; round < 3; ++round) {
    for (const auto& [name, object] : std::map<std::string, BackendObject>(backend.objects)) backend.observe_again(name);
    settle();
    advance(10s);
  }
  CHECK(backend.kills.empty());
  CHECK(backend.app_kills.size() == 1);
  for (const auto& [name, object] : std::map<std::string, BackendObject>(backend.objects)) backend.finish_stop(name);
  settle();
  CHECK(engine->pools()[0].kills_tracked == 0);
}

TEST_CASE_METHOD(Fixture, "a kill the backend refuses is retried after a backoff, not on every observation") {
  start();
  register_app();
  target(1);
  backend.run_all_pending();
  settle();
  backend.kill_results.push_back(Status::Unavailable("backend busy"));
  REQUIRE(engine->kill_executors("app-1", {1}, true, false).ok());
  settle();
  REQUIRE(backend.kills.size() == 1);
  for (int i = 0; i < 20; ++i) backend.observe_again("berth-app-1-exec-1");
  settle();
  advance(500ms);
  CHECK(backend.kills.size() == 1);
  advance(600ms);  // backoff_initial (1 s) has passed
  CHECK(backend.kills.size() == 2);
  CHECK(backend.objects.count("berth-app-1-exec-1") == 0);
  CHECK(engine->pools()[0].kill_errors == 1);
}

TEST_CASE_METHOD(Fixture, "an orphan seen on every resync is killed once") {
  start();
  BackendObject orphan;
  orphan.backend_name = "berth-gone-exec-1";
  orphan.daemon_id = "daemon-1";
  orphan.app = "gone";
  orphan.executor = 1;
  orphan.phase = ObservedPhase::kRunning;
  backend.objects[orphan.backend_name] = orphan;
  backend.stop_slowly = true;
  for (int i = 0; i < 3; ++i) advance(10s);
  CHECK(backend.kills.size() == 1);
  CHECK(backend.kills[0].grace == 0s);
}

// --- launch order -------------------------------------------------------------------------------

TEST_CASE_METHOD(Fixture, "launch order: the first application to ask is served first, then applications take turns") {
  max_inflight_launches = 1;
  start();
  backend.hold_launch_replies = true;
  store.hold(true);  // both applications' executors become durable together
  register_app("zeta");
  target(3, "zeta");
  register_app("alpha");
  target(3, "alpha");
  store.release();
  store.hold(false);
  settle();
  for (int i = 0; i < 6; ++i) {
    backend.release_launch_replies();
    settle();
  }
  std::vector<std::string> order;
  for (const LaunchRequest& launch : backend.launches) order.push_back(launch.backend_name);
  CHECK(order == std::vector<std::string>{"berth-zeta-exec-1", "berth-alpha-exec-1", "berth-zeta-exec-2",
                                          "berth-alpha-exec-2", "berth-zeta-exec-3", "berth-alpha-exec-3"});
}

TEST_CASE_METHOD(Fixture, "launch order: a small pool is shared between a large and a small request") {
  max_inflight_launches = 2;
  start();
  backend.hold_launch_replies = true;
  register_app("big");
  target(50, "big");
  register_app("small");
  target(2, "small");
  // The big application holds both slots; as they free up, the small one gets every other.
  for (int i = 0; i < 3; ++i) {
    backend.release_launch_replies();
    settle();
  }
  int small_launched = 0;
  for (const LaunchRequest& launch : backend.launches) small_launched += launch.app == "small";
  CHECK(small_launched == 2);
  CHECK(backend.launches.size() == 8);
}

// --- a pool removed from the configuration (regression: crash on a removed pool) ---------------

TEST_CASE_METHOD(Fixture, "restart without a pool an application lists: the app stays, its executors freeze, the pool is named") {
  start();
  register_app();
  target(2);
  backend.run_all_pending();
  settle();
  crash();

  configure_pool_a = false;
  start();
  REQUIRE(engine->find_app("app-1") != nullptr);
  CHECK(count(S::kRunning) == 2);
  const Application& app = *engine->find_app("app-1");
  REQUIRE(app.conditions.size() == 1);
  CHECK(app.conditions[0].rfind("NO_USABLE_POOL: pool pool-a ", 0) == 0);
  REQUIRE(engine->notices().size() == 1);
  CHECK(engine->notices()[0].find("pool pool-a") != std::string::npos);
  CHECK(engine->notices()[0].find("app-1") != std::string::npos);
  const std::vector<PoolStatus> pools = engine->pools();
  REQUIRE(pools.size() == 1);
  CHECK(pools[0].removed);
  CHECK_FALSE(pools[0].healthy);
  CHECK(pools[0].counts.at(S::kRunning) == 2);

  // Frozen: nothing is declared lost or launched, however long it stays so.
  REQUIRE(engine->set_targets("app-1", {{0, 4}}).ok());
  advance(5min);
  CHECK(count(S::kRunning) == 2);
  CHECK(engine->executors("app-1").size() == 2);

  // The driver re-registers as before; a new application cannot name the pool.
  CHECK(engine->register_app(spec()).ok());
  AppSpec other = spec("app-2");
  other.pools = {"pool-a"};
  auto refused = engine->register_app(other);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == StatusCode::kInvalidArgument);
  CHECK(refused.status().message() == "pools[0]: unknown pool \"pool-a\"");

  // Ending it works as anywhere else.
  REQUIRE(engine->unregister_app("app-1", "done").ok());
  settle();
  CHECK(count(S::kKilled) == 2);
  advance(10s);
}

// --- how a watch starts (core decides; the gRPC service only translates) -------------------------

TEST_CASE_METHOD(Fixture, "a watch replays what follows its revision, or snapshots with counts when that is gone") {
  options.event_window = 4;
  start();
  register_app();
  register_app("app-2");
  const auto everything = [](const AppId&, const TenantName&) { return true; };
  const Revision before = engine->revision();
  target(1);
  WatchStart replay = engine->watch_start(before, everything);
  CHECK(replay.kind == WatchStart::Kind::kReplay);
  CHECK_FALSE(replay.resync);
  REQUIRE_FALSE(replay.events.empty());
  for (const Event& event : replay.events) {
    CHECK(event.revision > before);
    CHECK(event.app_id() == "app-1");
  }

  backend.run_all_pending();
  settle();
  register_app("app-3");
  // The window (4 events) no longer reaches back to `before`: a snapshot, flagged for RESYNC.
  WatchStart snapshot = engine->watch_start(before, [](const AppId& app, const TenantName&) { return app == "app-1"; });
  CHECK(snapshot.kind == WatchStart::Kind::kSnapshot);
  CHECK(snapshot.resync);
  CHECK(snapshot.revision == engine->revision());
  REQUIRE(snapshot.events.size() == 2);  // app-1, then its executor; the others are not visible
  CHECK(snapshot.events[0].type == Event::Type::kApplication);
  CHECK(snapshot.events[0].counts == engine->counts("app-1"));
  CHECK(snapshot.events[0].counts.at(0).at(S::kRunning) == 1);
  CHECK(snapshot.events[1].executor.id == 1);

  // From revision 0: a snapshot without RESYNC.
  WatchStart fresh = engine->watch_start(0, everything);
  CHECK(fresh.kind == WatchStart::Kind::kSnapshot);
  CHECK_FALSE(fresh.resync);
  CHECK(fresh.events.size() == 4);
}

TEST_CASE_METHOD(Fixture, "live application events carry the executor counts of their revision") {
  start();
  register_app();
  target(3);
  backend.run_all_pending();
  settle();
  Recorder recorder;
  engine->add_listener(&recorder);
  REQUIRE(engine->set_targets("app-1", {{0, 4}}).ok());
  const ProfileCounts at_change = engine->counts("app-1");
  settle();
  engine->remove_listener(&recorder);
  const auto first_app_event = std::find_if(recorder.events.begin(), recorder.events.end(),
                                            [](const Event& e) { return e.type == Event::Type::kApplication; });
  REQUIRE(first_app_event != recorder.events.end());
  CHECK(first_app_event->counts == at_change);
  CHECK(first_app_event->counts.at(0).at(S::kRunning) == 3);
}

// --- adapter contract v2: handles, adapter state, capabilities -----------------------------------

TEST_CASE_METHOD(Fixture, "an executor's handle is stored durably and given back to the backend after a restart") {
  start();
  register_app();
  target(2);
  backend.run_all_pending();
  settle();
  CHECK(backend.recovered.has_value());
  CHECK(backend.recovered->executors.empty());
  const Revision before = engine->revision();
  backend.set_handle("berth-app-1-exec-2", BackendHandle{3, "agent-7"});
  settle();
  CHECK(engine->revision() == before);  // adapter state is no change a driver sees
  CHECK(executor(2).handle == BackendHandle{3, "agent-7"});
  crash();

  backend.recovered.reset();
  start();
  REQUIRE(backend.recovered.has_value());
  REQUIRE(backend.recovered->executors.size() == 2);
  const RecoveredExecutor& second = backend.recovered->executors[1];
  CHECK(second.backend_name == "berth-app-1-exec-2");
  CHECK(second.app == "app-1");
  CHECK(second.executor == 2);
  CHECK(second.handle == BackendHandle{3, "agent-7"});
  CHECK(backend.recovered->executors[0].handle.empty());
}

TEST_CASE_METHOD(Fixture, "adapter state saved through the sink is durable before it is acknowledged and comes back on start") {
  start();
  store.hold(true);
  backend.save_state("framework_id", "fw-42");
  settle();
  CHECK(backend.saved.empty());  // not durable yet
  store.release();
  store.hold(false);
  settle();
  REQUIRE(backend.saved.size() == 1);
  CHECK(backend.saved[0].ok());
  CHECK(store.durable().meta.at("adapter/pool-a/framework_id") == "fw-42");
  crash();

  backend.recovered.reset();
  start();
  REQUIRE(backend.recovered.has_value());
  CHECK(backend.recovered->state == std::map<std::string, std::string>{{"framework_id", "fw-42"}});

  backend.save_state("framework_id", "");  // removed
  settle();
  crash();
  start();
  CHECK(backend.recovered->state.empty());
}

TEST_CASE_METHOD(Fixture, "a backend with a kill grace of its own gets a follow-up only after kill_retry_max") {
  options.kill_retry_margin = 30s;
  options.kill_retry_max = 2min;
  backend.honours_kill_grace = false;
  kill_one_that_stops_slowly();
  REQUIRE(backend.kills.size() == 1);
  clock.advance(2min + 29s);  // its own grace (counted as kill_retry_max) + margin not yet passed
  backend.observe_again("berth-app-1-exec-1");
  settle();
  CHECK(backend.kills.size() == 1);
  clock.advance(2s);
  backend.observe_again("berth-app-1-exec-1");
  settle();
  CHECK(backend.kills.size() == 2);
}

TEST_CASE_METHOD(Fixture, "launches that complete only on placement are not held to max_inflight_launches") {
  max_inflight_launches = 2;
  backend.launch_completes_on_placement = true;
  backend.hold_launch_replies = true;
  start();
  register_app();
  target(10);
  CHECK(backend.launches.size() == 10);
  backend.release_launch_replies();
  settle();
}

TEST_CASE_METHOD(Fixture, "a forgotten application's history never replays to another tenant that registers its id") {
  tenants.push_back(TenantPolicy{"team-b", {}, {"pool-a"}, {}});
  options.ended_retention = 1min;
  start();
  AppSpec secret = spec("shared-id");
  secret.launch = LaunchSpec{.command = {"executor"}, .env = {{"DB_PASSWORD", "hunter2"}}};
  REQUIRE(engine->register_app(secret).ok());
  target(1, "shared-id");
  REQUIRE(engine->unregister_app("shared-id", "done").ok());
  settle();
  advance(2min);  // team-a's app is forgotten; its events stay in the window
  REQUIRE(engine->find_app("shared-id") == nullptr);

  AppSpec other = spec("shared-id");
  other.tenant = "team-b";
  REQUIRE(engine->register_app(other).ok());
  settle();
  // What team-b's watch of its app from revision 1 is given: only team-b's own events.
  const auto team_b = [](const AppId& app, const TenantName& tenant) { return app == "shared-id" && tenant == "team-b"; };
  WatchStart replay = engine->watch_start(1, team_b);
  REQUIRE(replay.kind == WatchStart::Kind::kReplay);
  REQUIRE_FALSE(replay.events.empty());
  for (const Event& event : replay.events) {
    CHECK(event.tenant == "team-b");
    if (event.type == Event::Type::kApplication) CHECK(event.app->spec.launch->env.count("DB_PASSWORD") == 0);
  }
}

TEST_CASE_METHOD(Fixture, "a watch from a revision ahead of the engine's gets a snapshot with RESYNC") {
  start();
  register_app();
  const WatchStart ahead = engine->watch_start(engine->revision() + 100, [](const AppId&, const TenantName&) { return true; });
  CHECK(ahead.kind == WatchStart::Kind::kSnapshot);
  CHECK(ahead.resync);
  CHECK(ahead.events.size() == 1);
}

TEST_CASE_METHOD(Fixture, "a tenant's max_launch_spec_kib bounds the launch spec of its applications") {
  tenants[0].limits.max_launch_spec_kib = 1;
  start();
  AppSpec small = spec("small");
  small.launch = LaunchSpec{.command = {"executor"}, .env = {{"A", std::string(1000, 'a')}}};
  CHECK(engine->register_app(small).ok());
  AppSpec large = spec("large");
  large.launch = LaunchSpec{.command = {"executor"}, .env = {{"A", std::string(1100, 'a')}}};
  auto refused = engine->register_app(large);
  REQUIRE(refused.status().code() == StatusCode::kResourceExhausted);
  CHECK(refused.status().message() ==
        "launch: the launch spec holds 1109 bytes, more than tenant team-a's max_launch_spec_kib of 1 KiB");
  CHECK(engine->find_app("large") == nullptr);
}

TEST_CASE_METHOD(Fixture, "a tenant's max_apps bounds the applications it has registered at once") {
  tenants[0].limits.max_apps = 2;
  start();
  register_app("one");
  register_app("two");
  auto third = engine->register_app(spec("three"));
  REQUIRE_FALSE(third.ok());
  CHECK(third.status().code() == StatusCode::kResourceExhausted);
  CHECK(third.status().message() == "tenant team-a has 2 applications registered, its max_apps limit");
  CHECK(engine->register_app(spec("one")).ok());  // re-registering one it has is not a new one
  REQUIRE(engine->unregister_app("one", "done").ok());
  settle();
  CHECK(engine->register_app(spec("three")).ok());
}

TEST_CASE_METHOD(Fixture, "pool events: the first list names what was adopted; health changes once each way") {
  start();
  register_app();
  target(2);
  backend.run_all_pending();
  settle();
  crash();

  Recorder recorder;
  early_listener = &recorder;
  start();
  REQUIRE(recorder.pool_events.size() == 1);
  CHECK(recorder.pool_events[0].type == PoolEvent::Type::kSynced);
  CHECK(recorder.pool_events[0].pool == "pool-a");
  CHECK(recorder.pool_events[0].adopted == std::map<AppId, std::vector<ExecutorId>>{{"app-1", {1, 2}}});

  backend.list_error = Status::Unavailable("connection refused");
  for (int i = 0; i < 6; ++i) advance(10s);  // a minute of failed lists: one transition
  REQUIRE(recorder.pool_events.size() == 2);
  CHECK(recorder.pool_events[1].type == PoolEvent::Type::kUnhealthy);
  CHECK(recorder.pool_events[1].error == "UNAVAILABLE: connection refused");
  CHECK(engine->pools()[0].last_error == "UNAVAILABLE: connection refused");

  backend.list_error.reset();
  for (int i = 0; i < 2; ++i) advance(10s);
  REQUIRE(recorder.pool_events.size() == 3);
  CHECK(recorder.pool_events[2].type == PoolEvent::Type::kHealthy);
  CHECK(engine->pools()[0].healthy);
  CHECK(engine->pools()[0].last_error.empty());
  engine->remove_listener(&recorder);
}
