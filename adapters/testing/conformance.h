#pragma once
// The shared adapter conformance suite: what every Backend must do, checked against its backend
// (a simulator over loopback, or real processes for the local backend). A test file defines a
// fixture whose `target()` is a ConformanceTarget (how to make its backend, script its executors,
// cause an outage, count requests) and instantiates every scenario with one line:
//
//   BERTH_CONFORMANCE_SUITE("kubernetes", KubernetesConformance)
//
// so that a scenario added here runs against every adapter. What a backend cannot do is said by
// the target (a hook left empty, with its reason in `skip_reasons`, or its capabilities()), and
// the scenario is skipped visibly with a warning naming the reason, never silently.
// Backend-specific behaviour is tested beside the suite in the same file.
//
// The harness runs one io_context thread; the backend lives on a strand of it, as in berthd, and
// the test thread talks to it by posting there and waiting with a deadline. Header-only: used by
// test binaries only.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/backend.h"

namespace berth::conformance {

using namespace std::chrono_literals;

class RecordingSink final : public BackendSink {
 public:
  void on_observed(const PoolName&, const BackendObject& object) override {
    std::lock_guard lock(mutex_);
    observed_.push_back(object);
  }
  void on_health(const PoolName&, const Status& status) override {
    std::lock_guard lock(mutex_);
    health_.push_back(status);
  }
  std::vector<BackendObject> observed(const std::string& name) {
    std::lock_guard lock(mutex_);
    std::vector<BackendObject> out;
    for (const auto& object : observed_) {
      if (object.backend_name == name) out.push_back(object);
    }
    return out;
  }
  std::optional<BackendObject> latest(const std::string& name) {
    auto all = observed(name);
    if (all.empty()) return std::nullopt;
    return all.back();
  }
  std::vector<Status> health() {
    std::lock_guard lock(mutex_);
    return health_;
  }
  bool healthy() {
    std::lock_guard lock(mutex_);
    return !health_.empty() && health_.back().ok();
  }
  std::size_t count() {
    std::lock_guard lock(mutex_);
    return observed_.size();
  }
  std::vector<BackendObject> all() {
    std::lock_guard lock(mutex_);
    return observed_;
  }

 private:
  std::mutex mutex_;
  std::vector<BackendObject> observed_;
  std::vector<Status> health_;
};

// Polls `predicate` until it holds or `deadline` passes; never a fixed sleep for an outcome.
template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds deadline = 20s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (predicate()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return predicate();
}

// An io_context on its own thread, for a simulator and the test's administration client.
class IoThread {
 public:
  IoThread() : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~IoThread() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    work_.reset();
    io_.stop();
    thread_.join();
  }
  boost::asio::io_context& io() { return io_; }
  boost::asio::any_io_executor executor() { return io_.get_executor(); }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

// A backend on a strand of its own io_context thread, with a recording sink.
class BackendHarness {
 public:
  using Factory = std::function<std::unique_ptr<Backend>(boost::asio::any_io_executor strand)>;

  BackendHarness()
      : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }), strand_(boost::asio::make_strand(io_)) {}

  ~BackendHarness() {
    stop_backend();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  boost::asio::io_context& io() { return io_; }
  boost::asio::any_io_executor strand() { return strand_; }

  // Makes and starts the backend; waits until it reports itself healthy.
  void start_backend(const Factory& factory, bool wait_healthy = true) {
    on_strand([&] {
      backend_ = factory(strand_);
      backend_->start(&sink_);
    });
    if (wait_healthy) REQUIRE(eventually([this] { return sink_.healthy(); }));
  }

  // Stops and destroys the backend (berthd going away); what it created stays.
  void stop_backend() {
    if (!backend_) return;
    on_strand([this] {
      backend_->stop();
      backend_.reset();
    });
  }

  template <typename Fn>
  void on_strand(Fn fn) {
    std::promise<void> done;
    boost::asio::post(strand_, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  // Starts a launch; the future completes when the backend answers.
  std::shared_future<Status> launch_async(const LaunchRequest& request) {
    auto result = std::make_shared<std::promise<Status>>();
    std::shared_future<Status> future = result->get_future().share();
    on_strand([&] { backend_->launch(request, [result](Status s) { result->set_value(std::move(s)); }); });
    return future;
  }

  Status launch(const LaunchRequest& request) { return wait(launch_async(request)); }

  Status kill(const std::string& name, Duration grace = 0ms) {
    auto result = std::make_shared<std::promise<Status>>();
    std::shared_future<Status> future = result->get_future().share();
    on_strand([&] { backend_->kill(KillRequest{name, grace}, [result](Status s) { result->set_value(std::move(s)); }); });
    return wait(future);
  }

  Status kill_app(const AppId& app, Duration grace) {
    auto result = std::make_shared<std::promise<Status>>();
    std::shared_future<Status> future = result->get_future().share();
    on_strand([&] { backend_->kill_app(app, grace, [result](Status s) { result->set_value(std::move(s)); }); });
    return wait(future);
  }

  Status decommission(const std::string& name) {
    auto result = std::make_shared<std::promise<Status>>();
    std::shared_future<Status> future = result->get_future().share();
    on_strand([&] { backend_->decommission(name, [result](Status s) { result->set_value(std::move(s)); }); });
    return wait(future);
  }

  BackendCapabilities capabilities() {
    BackendCapabilities capabilities;
    on_strand([&] { capabilities = backend_->capabilities(); });
    return capabilities;
  }

  StatusOr<std::vector<BackendObject>> list() {
    auto result = std::make_shared<std::promise<StatusOr<std::vector<BackendObject>>>>();
    auto future = result->get_future();
    on_strand([&] {
      backend_->list([result](StatusOr<std::vector<BackendObject>> r) { result->set_value(std::move(r)); });
    });
    REQUIRE(future.wait_for(30s) == std::future_status::ready);
    return future.get();
  }

  static Status wait(std::shared_future<Status> future) {
    REQUIRE(future.wait_for(30s) == std::future_status::ready);
    return future.get();
  }

  bool phase_is(const std::string& name, ObservedPhase phase) {
    auto latest = sink_.latest(name);
    return latest && latest->phase == phase;
  }

  // The executor's last observation says it ended (exited or removed).
  bool ended(const std::string& name) {
    auto latest = sink_.latest(name);
    return latest && (latest->phase == ObservedPhase::kExited || latest->phase == ObservedPhase::kGone);
  }

  // How many objects called `name` a fresh list() shows, and the phase of the last one.
  std::pair<int, std::optional<ObservedPhase>> listed(const std::string& name) {
    auto objects = list();
    REQUIRE(objects.ok());
    std::pair<int, std::optional<ObservedPhase>> found{0, std::nullopt};
    for (const auto& object : *objects) {
      if (object.backend_name != name) continue;
      ++found.first;
      found.second = object.phase;
    }
    return found;
  }

  RecordingSink& sink() { return sink_; }
  Backend& backend() { return *backend_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  std::unique_ptr<Backend> backend_;
  RecordingSink sink_;
};

// What a backend's test gives the shared scenarios. Hooks left empty are what the backend (or its
// simulator) cannot do; the scenarios that need them are skipped with `skip_reasons[hook]`.
struct ConformanceTarget {
  std::string name;  // the adapter, for messages: "kubernetes"
  std::string pool;
  std::string daemon_id = "edge-1";
  std::string prefix = "berth";
  BackendHarness::Factory make_backend;
  // A backend of the same pool for another daemon id (kOtherDaemon) on the same backend: its
  // objects must never be touched by ours.
  BackendHarness::Factory make_other_backend;
  // Whether list() of one daemon's backend shows the other daemon's objects too (with their
  // own daemon id); when false they must simply not appear.
  bool lists_other_daemons = false;

  // Adapts every request of the scenarios (the local backend's executor command).
  std::function<void(LaunchRequest&)> adjust_request;
  // Whether the executor `name`, seen running, is ready for signals (its traps in place);
  // empty: running is ready.
  std::function<bool(const std::string& name)> executor_ready;
  // Makes the running executor `name` exit now with `code` (OOM when `oom`): through the
  // simulator's administration, or however the target scripts its executors. Executors the
  // target runs for real also leave with exit code 0 when decommissioned.
  std::function<void(const std::string& name, int code, bool oom)> exit_executor;
  bool reports_oom = true;  // false: exit_executor cannot OOM-kill (skip_reasons["oom"])
  // Makes the backend unreachable for `duration`, state kept (the simulator's down_for_ms).
  std::function<void(std::chrono::milliseconds duration)> outage;
  // Scripts `request`'s executor to ignore SIGTERM (it ends only when forced).
  std::function<void(LaunchRequest& request)> ignore_sigterm;
  // How long beyond a kill's grace an executor may take to be seen ended: the backend's own
  // minimum grace (Kubernetes' delete_grace_period, Nomad's KillTimeout), the watch's delay.
  std::chrono::milliseconds kill_slack = 3s;

  // Zeroes the backend's request counter; then, what reached the backend per route since, for
  // the routes that act on one executor (creates, deletes, kills; not lists, watches, streams).
  std::function<void()> reset_requests;
  std::function<std::map<std::string, int>()> executor_requests;

  // Creates a running object named `name` without Berth's labels, beside Berth's; and whether
  // it still runs.
  std::function<void(const std::string& name)> create_unlabelled;
  std::function<bool(const std::string& name)> unlabelled_running;

  // Make `request` one the backend refuses as invalid, or arm a quota that refuses it; each
  // returns a part of the backend's own message that the launch's status must carry.
  std::function<std::string(LaunchRequest& request)> make_invalid;
  std::function<std::string(LaunchRequest& request)> exceed_quota;
  // Makes the next launch meet a transient failure (429, 5xx, an outage).
  std::function<void()> fail_next_launch;

  // Why a hook above is empty, by its name ("outage", "oom", "ignore_sigterm", "requests",
  // "unlabelled", "invalid", "quota", "retryable"); reported when a scenario is skipped.
  std::map<std::string, std::string> skip_reasons;

  LaunchRequest request(ExecutorId id, const std::string& app = "app-1") const {
    LaunchRequest r;
    r.backend_name = prefix + "-" + app + "-exec-" + std::to_string(id);
    r.daemon_id = daemon_id;
    r.pool = pool;
    r.app = app;
    r.tenant = "team";
    r.executor = id;
    r.profile.cores = 1;
    r.profile.heap_mib = 512;
    r.spec.image = "apache/spark:3.5.1";
    r.spec.command = {"/opt/spark/bin/spark-class"};
    r.driver.url = "spark://CoarseGrainedScheduler@driver:7078";
    if (adjust_request) adjust_request(r);
    return r;
  }

  // The same executor as another daemon would launch it.
  LaunchRequest other_daemon_request(ExecutorId id, const std::string& app = "app-1") const {
    LaunchRequest r = request(id, app);
    r.daemon_id = kOtherDaemon;
    r.backend_name = "other-" + app + "-exec-" + std::to_string(id);
    return r;
  }

  static constexpr const char* kOtherDaemon = "edge-2";
};

// Whether `target` has what a scenario needs; when not, says so with the reason and the
// scenario is skipped (Catch2 2 has no SKIP: a warning and a success).
inline bool supports(const ConformanceTarget& target, bool has, const std::string& hook, const std::string& what) {
  if (has) return true;
  auto reason = target.skip_reasons.find(hook);
  const std::string why = reason != target.skip_reasons.end() ? reason->second : "the target gives no " + hook + " hook";
  WARN(target.name << ": skipped " << what << ": " << why);
  SUCCEED();
  return false;
}

// Waits until `name` is seen running and ready for signals.
inline void wait_running(BackendHarness& harness, const ConformanceTarget& target, const std::string& name) {
  const bool running = eventually([&] {
    return harness.phase_is(name, ObservedPhase::kRunning) && (!target.executor_ready || target.executor_ready(name));
  });
  if (!running) {
    for (const auto& object : harness.sink().observed(name)) {
      UNSCOPED_INFO(name << " was seen " << to_string(object.phase) << " " << object.reason << " " << object.message);
    }
  }
  INFO("waiting for " << name << " to run");
  REQUIRE(running);
}

// Launch, observe it run, launch it again (adopted, one object), list it, kill it (Berth's end,
// not someone else's), and a second kill is harmless.
inline void launch_run_kill(ConformanceTarget& target) {
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  const LaunchRequest request = target.request(1);
  REQUIRE(harness.launch(request).ok());
  wait_running(harness, target, request.backend_name);
  const BackendObject running = *harness.sink().latest(request.backend_name);
  CHECK(running.daemon_id == target.daemon_id);
  CHECK(running.app == "app-1");
  CHECK(running.executor == 1);
  CHECK_FALSE(running.host.empty());

  const Status again = harness.launch(request);
  CHECK((again.ok() || again.code() == StatusCode::kAlreadyExists));

  const auto [copies, phase] = harness.listed(request.backend_name);
  CHECK(copies == 1);
  CHECK(phase == ObservedPhase::kRunning);

  REQUIRE(harness.kill(request.backend_name, 1s).ok());
  REQUIRE(eventually([&] { return harness.ended(request.backend_name); }));
  CHECK_FALSE(harness.sink().latest(request.backend_name)->deleted_externally);
  const Status second = harness.kill(request.backend_name);
  CHECK((second.ok() || second.code() == StatusCode::kNotFound));
}

// The executor's own exit code, and OOM as 137 with oom_killed.
inline void exit_codes(ConformanceTarget& target) {
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  const LaunchRequest failing = target.request(1);
  REQUIRE(harness.launch(failing).ok());
  wait_running(harness, target, failing.backend_name);
  target.exit_executor(failing.backend_name, 3, false);
  REQUIRE(eventually([&] { return harness.phase_is(failing.backend_name, ObservedPhase::kExited); }));
  const BackendObject failed = *harness.sink().latest(failing.backend_name);
  CHECK(failed.exit_code == 3);
  CHECK_FALSE(failed.oom_killed);
  CHECK_FALSE(failed.deleted_externally);
  CHECK_FALSE(failed.start_failed);

  if (!supports(target, target.reports_oom, "oom", "the OOM half of exit codes")) return;
  const LaunchRequest oom = target.request(2);
  REQUIRE(harness.launch(oom).ok());
  wait_running(harness, target, oom.backend_name);
  target.exit_executor(oom.backend_name, 137, true);
  REQUIRE(eventually([&] { return harness.phase_is(oom.backend_name, ObservedPhase::kExited); }));
  const BackendObject killed = *harness.sink().latest(oom.backend_name);
  CHECK(killed.exit_code == 137);
  CHECK(killed.oom_killed);
}

// An outage freezes: the pool reports unhealthy, then healthy, and no executor is reported lost
// or gone because the backend was silent.
inline void outage_freezes(ConformanceTarget& target) {
  if (!supports(target, static_cast<bool>(target.outage), "outage", "outage freezes")) return;
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  const LaunchRequest request = target.request(1);
  REQUIRE(harness.launch(request).ok());
  wait_running(harness, target, request.backend_name);
  const std::size_t healthy_reports = harness.sink().health().size();
  target.outage(1500ms);
  REQUIRE(eventually([&] { return harness.sink().health().size() > healthy_reports && !harness.sink().healthy(); }));
  REQUIRE(eventually([&] { return harness.sink().healthy(); }, 30s));
  for (const auto& object : harness.sink().observed(request.backend_name)) {
    CHECK(object.phase != ObservedPhase::kLost);
    CHECK(object.phase != ObservedPhase::kGone);
  }
  CHECK(harness.listed(request.backend_name).first == 1);
}

// After the backend object is destroyed and made again (berthd restarting), what was running is
// listed and observed again, not launched twice; an executor that never reached the backend
// before the restart, launched (twice, as core re-issues it) after it, is one object.
inline void restart_adopts(ConformanceTarget& target) {
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  const LaunchRequest request = target.request(1);
  REQUIRE(harness.launch(request).ok());
  wait_running(harness, target, request.backend_name);
  harness.stop_backend();
  const std::size_t seen = harness.sink().observed(request.backend_name).size();
  harness.start_backend(target.make_backend);
  const auto [copies, phase] = harness.listed(request.backend_name);
  CHECK(copies == 1);
  CHECK(phase == ObservedPhase::kRunning);
  const Status again = harness.launch(request);
  CHECK((again.ok() || again.code() == StatusCode::kAlreadyExists));
  CHECK(eventually([&] { return harness.sink().observed(request.backend_name).size() > seen; }));
  CHECK(harness.phase_is(request.backend_name, ObservedPhase::kRunning));

  const LaunchRequest never_launched = target.request(2);
  CHECK(harness.listed(never_launched.backend_name).first == 0);
  CHECK(harness.launch(never_launched).ok());
  const Status relaunched = harness.launch(never_launched);
  CHECK((relaunched.ok() || relaunched.code() == StatusCode::kAlreadyExists));
  wait_running(harness, target, never_launched.backend_name);
  CHECK(harness.listed(never_launched.backend_name).first == 1);
  CHECK(harness.listed(request.backend_name).first == 1);
}

// Launch -> running -> kill -> ended costs at most three requests per executor on the routes that
// act on executors (core sends each kill once and the adapter must not add retries or re-reads).
inline void request_budget(ConformanceTarget& target) {
  if (!supports(target, target.reset_requests && target.executor_requests, "requests", "the request budget")) return;
  constexpr int kExecutors = 3;
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  target.reset_requests();
  std::vector<LaunchRequest> requests;
  for (int i = 1; i <= kExecutors; ++i) requests.push_back(target.request(i));
  for (const auto& request : requests) REQUIRE(harness.launch(request).ok());
  for (const auto& request : requests) wait_running(harness, target, request.backend_name);
  for (const auto& request : requests) REQUIRE(harness.kill(request.backend_name, 1s).ok());
  for (const auto& request : requests) {
    INFO("waiting for " << request.backend_name << " to end");
    REQUIRE(eventually([&] { return harness.ended(request.backend_name); }));
  }
  // One more full list, as core's resync makes: it must not add requests per executor either.
  REQUIRE(harness.list().ok());
  int total = 0;
  for (const auto& [route, count] : target.executor_requests()) {
    INFO(route << ": " << count);
    total += count;
    CHECK(count > 0);
  }
  INFO(target.name << ": " << total << " requests on executor routes for " << kExecutors << " executors");
  CHECK(total > 0);
  CHECK(total <= 3 * kExecutors);
}

// Objects of another daemon id (and, where the backend lets us make them, objects without Berth's
// labels) are seen only with their own daemon id, and neither kill nor kill_app of this daemon's
// application of the same name touches them.
inline void other_daemons_untouched(ConformanceTarget& target) {
  REQUIRE(target.make_other_backend);
  BackendHarness ours;
  BackendHarness theirs;
  ours.start_backend(target.make_backend);
  theirs.start_backend(target.make_other_backend);
  const LaunchRequest mine = target.request(1);
  const LaunchRequest foreign = target.other_daemon_request(1);
  REQUIRE(ours.launch(mine).ok());
  REQUIRE(theirs.launch(foreign).ok());
  const std::string stray = target.prefix + "-stray-1";
  const bool unlabelled = supports(target, target.create_unlabelled && target.unlabelled_running, "unlabelled",
                                   "objects without Berth's labels");
  if (unlabelled) target.create_unlabelled(stray);
  wait_running(ours, target, mine.backend_name);
  wait_running(theirs, target, foreign.backend_name);
  if (unlabelled) REQUIRE(eventually([&] { return target.unlabelled_running(stray); }));

  auto listed = ours.list();
  REQUIRE(listed.ok());
  bool foreign_listed = false;
  for (const auto& object : *listed) {
    INFO(object.backend_name);
    CHECK(object.backend_name != stray);
    if (object.backend_name == foreign.backend_name) {
      foreign_listed = true;
      CHECK(object.daemon_id == ConformanceTarget::kOtherDaemon);
    } else {
      CHECK(object.daemon_id == target.daemon_id);
    }
  }
  CHECK(foreign_listed == target.lists_other_daemons);

  REQUIRE(ours.kill(mine.backend_name, 1s).ok());
  if (ours.capabilities().kill_app) REQUIRE(ours.kill_app(mine.app, 1s).ok());
  REQUIRE(eventually([&] { return ours.ended(mine.backend_name); }));
  // A second executor of ours, launched and ended after the kills, bounds the wait: whatever the
  // kills did to other objects has been observed by then.
  const LaunchRequest later = target.request(2);
  REQUIRE(ours.launch(later).ok());
  wait_running(ours, target, later.backend_name);
  REQUIRE(ours.kill(later.backend_name, 0s).ok());
  REQUIRE(eventually([&] { return ours.ended(later.backend_name); }));

  CHECK(theirs.phase_is(foreign.backend_name, ObservedPhase::kRunning));
  CHECK(theirs.listed(foreign.backend_name).second == ObservedPhase::kRunning);
  if (unlabelled) CHECK(target.unlabelled_running(stray));
  for (const auto& object : ours.sink().all()) {
    INFO(object.backend_name);
    CHECK(object.backend_name != stray);
    if (object.backend_name == foreign.backend_name) CHECK(object.daemon_id == ConformanceTarget::kOtherDaemon);
  }
  (void)theirs.kill(foreign.backend_name, 0s);
}

// An executor that ignores SIGTERM ends promptly when killed with grace 0, and within its grace
// (plus the backend's slack) when killed gracefully: the force comes without another request.
inline void kill_grace_and_force(ConformanceTarget& target) {
  if (!supports(target, static_cast<bool>(target.ignore_sigterm), "ignore_sigterm", "kill grace and force")) return;
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  LaunchRequest forced = target.request(1);
  LaunchRequest graceful = target.request(2);
  target.ignore_sigterm(forced);
  target.ignore_sigterm(graceful);
  REQUIRE(harness.launch(forced).ok());
  REQUIRE(harness.launch(graceful).ok());
  wait_running(harness, target, forced.backend_name);
  wait_running(harness, target, graceful.backend_name);

  auto time_to_end = [&](const std::string& name, Duration grace) {
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(harness.kill(name, grace).ok());
    const auto bound = std::chrono::duration_cast<std::chrono::milliseconds>(grace) + target.kill_slack;
    INFO(name << " killed with grace " << std::chrono::duration_cast<std::chrono::milliseconds>(grace).count()
              << "ms must end within " << bound.count() << "ms");
    REQUIRE(eventually([&] { return harness.ended(name); }, bound + 5s));
    const auto took = std::chrono::steady_clock::now() - started;
    CHECK(took <= bound);
    CHECK_FALSE(harness.sink().latest(name)->deleted_externally);
  };
  time_to_end(forced.backend_name, 0s);
  time_to_end(graceful.backend_name, 1s);
}

// kill_app ends every object of the application and no other application's.
inline void kill_app(ConformanceTarget& target) {
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  if (!harness.capabilities().kill_app) {
    WARN(target.name << ": skipped kill_app: capabilities().kill_app is false (core kills per executor)");
    SUCCEED();
    return;
  }
  const std::vector<LaunchRequest> doomed{target.request(1), target.request(2)};
  const LaunchRequest bystander = target.request(1, "app-2");
  for (const auto& request : doomed) REQUIRE(harness.launch(request).ok());
  REQUIRE(harness.launch(bystander).ok());
  for (const auto& request : doomed) wait_running(harness, target, request.backend_name);
  wait_running(harness, target, bystander.backend_name);
  REQUIRE(harness.kill_app("app-1", 1s).ok());
  for (const auto& request : doomed) {
    INFO("waiting for " << request.backend_name << " to end");
    REQUIRE(eventually([&] { return harness.ended(request.backend_name); }));
    CHECK_FALSE(harness.sink().latest(request.backend_name)->deleted_externally);
  }
  CHECK(harness.phase_is(bystander.backend_name, ObservedPhase::kRunning));
  CHECK(harness.listed(bystander.backend_name).second == ObservedPhase::kRunning);
}

// Decommission reaches the executor (the scripted executors leave with exit code 0 when asked),
// is Berth's doing, and is kNotFound for an executor that does not exist.
inline void decommission(ConformanceTarget& target) {
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  if (!harness.capabilities().decommission) {
    WARN(target.name << ": skipped decommission: capabilities().decommission is false");
    SUCCEED();
    const Status refused = harness.decommission(target.request(1).backend_name);
    CHECK_FALSE(refused.ok());
    CHECK_FALSE(refused.retryable());
    return;
  }
  const LaunchRequest request = target.request(1);
  REQUIRE(harness.launch(request).ok());
  wait_running(harness, target, request.backend_name);
  REQUIRE(harness.decommission(request.backend_name).ok());
  REQUIRE(eventually([&] { return harness.phase_is(request.backend_name, ObservedPhase::kExited); }));
  const BackendObject left = *harness.sink().latest(request.backend_name);
  CHECK(left.exit_code == 0);
  CHECK_FALSE(left.deleted_externally);
  CHECK(harness.decommission(target.request(9).backend_name).code() == StatusCode::kNotFound);
}

// A launch the backend refuses for its spec or a quota is not retryable and carries the backend's
// own message; a transient failure is retryable, and the launch core then repeats makes one
// object.
inline void refused_launches(ConformanceTarget& target) {
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  if (supports(target, static_cast<bool>(target.make_invalid), "invalid", "an invalid launch")) {
    LaunchRequest invalid = target.request(1);
    const std::string said = target.make_invalid(invalid);
    const Status status = harness.launch(invalid);
    INFO(status.to_string());
    CHECK_FALSE(status.ok());
    CHECK_FALSE(status.retryable());
    CHECK(status.code() != StatusCode::kAlreadyExists);
    CHECK_THAT(status.message(), Catch::Contains(said));
  }
  if (supports(target, static_cast<bool>(target.exceed_quota), "quota", "a quota refusal")) {
    LaunchRequest over = target.request(2);
    const std::string said = target.exceed_quota(over);
    const Status status = harness.launch(over);
    INFO(status.to_string());
    CHECK(status.code() == StatusCode::kResourceExhausted);
    CHECK_FALSE(status.retryable());
    CHECK_THAT(status.message(), Catch::Contains(said));
  }
  if (supports(target, static_cast<bool>(target.fail_next_launch), "retryable", "a retryable launch failure")) {
    const LaunchRequest request = target.request(3);
    target.fail_next_launch();
    const Status status = harness.launch(request);
    INFO(status.to_string());
    CHECK(status.retryable());
    CHECK_FALSE(status.message().empty());
    REQUIRE(eventually([&] {
      const Status again = harness.launch(request);
      return again.ok() || again.code() == StatusCode::kAlreadyExists;
    }));
    wait_running(harness, target, request.backend_name);
    CHECK(harness.listed(request.backend_name).first == 1);
  }
}

}  // namespace berth::conformance

#define BERTH_CONFORMANCE_SCENARIO_(adapter, Fixture, scenario, title) \
  TEST_CASE(adapter " conformance: " title, "[conformance]") {          \
    Fixture fixture;                                                    \
    ::berth::conformance::scenario(fixture.target());                   \
  }

// Instantiates every scenario above as a Catch2 TEST_CASE named "<adapter> conformance: ...".
// `Fixture` is default-constructible (it starts the simulator, or makes the temporary work
// directory) and has `ConformanceTarget& target()`; one is made per test case.
#define BERTH_CONFORMANCE_SUITE(adapter, Fixture)                                                             \
  BERTH_CONFORMANCE_SCENARIO_(adapter, Fixture, launch_run_kill, "launch, run, adopt, list, kill")            \
  BERTH_CONFORMANCE_SCENARIO_(adapter, Fixture, exit_codes, "exit codes and OOM")                           \
  BERTH_CONFORMANCE_SCENARIO_(adapter, Fixture, outage_freezes, "an outage freezes the pool")               \
  BERTH_CONFORMANCE_SCENARIO_(adapter, Fixture, restart_adopts, "a restarted backend adopts, never doubles") \
  BERTH_CONFORMANCE_SCENARIO_(adapter, Fixture, request_budget, "at most three requests per executor")      \
  BERTH_CONFORMANCE_SCENARIO_(adapter, Fixture, other_daemons_untouched,                                    \
                              "another daemon's and unlabelled objects are never touched")                  \
  BERTH_CONFORMANCE_SCENARIO_(adapter, Fixture, kill_grace_and_force, "kill grace and force")               \
  BERTH_CONFORMANCE_SCENARIO_(adapter, Fixture, kill_app, "kill_app ends one application")                  \
  BERTH_CONFORMANCE_SCENARIO_(adapter, Fixture, decommission, "decommission")                               \
  BERTH_CONFORMANCE_SCENARIO_(adapter, Fixture, refused_launches, "refused launches' codes and messages")
