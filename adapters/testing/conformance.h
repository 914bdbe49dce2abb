#pragma once
// The shared adapter conformance suite: what every Backend must do, checked against its backend's
// simulator over loopback. A test file gives a ConformanceTarget (how to make its backend, start
// or script the simulator, cause an outage) and calls the scenarios below from its TEST_CASEs;
// backend-specific behaviour is tested beside them in the same file.
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

// What a backend's test gives the shared scenarios.
struct ConformanceTarget {
  std::string pool;
  std::string daemon_id = "edge-1";
  std::string prefix = "berth";
  BackendHarness::Factory make_backend;
  // Makes the running executor `name` exit now with `code` (OOM when `oom`), through the
  // simulator's administration.
  std::function<void(const std::string& name, int code, bool oom)> exit_executor;
  // Makes the backend unreachable for `duration`, state kept (the simulator's down_for_ms).
  std::function<void(std::chrono::milliseconds duration)> outage;

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
    return r;
  }
};

// Launch, observe it run, launch it again (adopted, one object), list it, kill it (Berth's end,
// not someone else's), and a second kill is harmless.
inline void launch_run_kill(ConformanceTarget& target) {
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  const LaunchRequest request = target.request(1);
  REQUIRE(harness.launch(request).ok());
  REQUIRE(eventually([&] { return harness.phase_is(request.backend_name, ObservedPhase::kRunning); }));
  const BackendObject running = *harness.sink().latest(request.backend_name);
  CHECK(running.daemon_id == target.daemon_id);
  CHECK(running.app == "app-1");
  CHECK(running.executor == 1);
  CHECK_FALSE(running.host.empty());

  const Status again = harness.launch(request);
  CHECK((again.ok() || again.code() == StatusCode::kAlreadyExists));

  auto listed = harness.list();
  REQUIRE(listed.ok());
  int copies = 0;
  for (const auto& object : *listed) {
    if (object.backend_name == request.backend_name) {
      ++copies;
      CHECK(object.phase == ObservedPhase::kRunning);
    }
  }
  CHECK(copies == 1);

  REQUIRE(harness.kill(request.backend_name, 1s).ok());
  REQUIRE(eventually([&] {
    auto latest = harness.sink().latest(request.backend_name);
    return latest && (latest->phase == ObservedPhase::kExited || latest->phase == ObservedPhase::kGone);
  }));
  CHECK_FALSE(harness.sink().latest(request.backend_name)->deleted_externally);
  const Status second = harness.kill(request.backend_name);
  CHECK((second.ok() || second.code() == StatusCode::kNotFound));
}

// The executor's own exit code, and OOM as 137 with oom_killed.
inline void exit_codes(ConformanceTarget& target) {
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  const LaunchRequest failing = target.request(1);
  const LaunchRequest oom = target.request(2);
  REQUIRE(harness.launch(failing).ok());
  REQUIRE(harness.launch(oom).ok());
  REQUIRE(eventually([&] {
    return harness.phase_is(failing.backend_name, ObservedPhase::kRunning) &&
           harness.phase_is(oom.backend_name, ObservedPhase::kRunning);
  }));
  target.exit_executor(failing.backend_name, 3, false);
  target.exit_executor(oom.backend_name, 137, true);
  REQUIRE(eventually([&] {
    return harness.phase_is(failing.backend_name, ObservedPhase::kExited) &&
           harness.phase_is(oom.backend_name, ObservedPhase::kExited);
  }));
  const BackendObject failed = *harness.sink().latest(failing.backend_name);
  CHECK(failed.exit_code == 3);
  CHECK_FALSE(failed.oom_killed);
  CHECK_FALSE(failed.deleted_externally);
  CHECK_FALSE(failed.start_failed);
  const BackendObject killed = *harness.sink().latest(oom.backend_name);
  CHECK(killed.exit_code == 137);
  CHECK(killed.oom_killed);
}

// An outage freezes: the pool reports unhealthy, then healthy, and no executor is reported lost
// or gone because the backend was silent.
inline void outage_freezes(ConformanceTarget& target) {
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  const LaunchRequest request = target.request(1);
  REQUIRE(harness.launch(request).ok());
  REQUIRE(eventually([&] { return harness.phase_is(request.backend_name, ObservedPhase::kRunning); }));
  const std::size_t healthy_reports = harness.sink().health().size();
  target.outage(1500ms);
  REQUIRE(eventually([&] { return harness.sink().health().size() > healthy_reports && !harness.sink().healthy(); }));
  REQUIRE(eventually([&] { return harness.sink().healthy(); }, 30s));
  for (const auto& object : harness.sink().observed(request.backend_name)) {
    CHECK(object.phase != ObservedPhase::kLost);
    CHECK(object.phase != ObservedPhase::kGone);
  }
  auto listed = harness.list();
  REQUIRE(listed.ok());
  bool present = false;
  for (const auto& object : *listed) present = present || object.backend_name == request.backend_name;
  CHECK(present);
}

// After the backend object is destroyed and made again (berthd restarting), what was running is
// listed and observed again, not launched twice.
inline void restart_adopts(ConformanceTarget& target) {
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  const LaunchRequest request = target.request(1);
  REQUIRE(harness.launch(request).ok());
  REQUIRE(eventually([&] { return harness.phase_is(request.backend_name, ObservedPhase::kRunning); }));
  harness.stop_backend();
  const std::size_t seen = harness.sink().observed(request.backend_name).size();
  harness.start_backend(target.make_backend);
  auto listed = harness.list();
  REQUIRE(listed.ok());
  bool running = false;
  for (const auto& object : *listed) {
    if (object.backend_name == request.backend_name) running = object.phase == ObservedPhase::kRunning;
  }
  CHECK(running);
  const Status again = harness.launch(request);
  CHECK((again.ok() || again.code() == StatusCode::kAlreadyExists));
  CHECK(eventually([&] { return harness.sink().observed(request.backend_name).size() > seen; }));
  CHECK(harness.phase_is(request.backend_name, ObservedPhase::kRunning));
}

}  // namespace berth::conformance
