#pragma once
// Deterministic fakes for driving the Engine in tests: a scheduler whose queue the test runs, a
// store that can hold commits back, and a scripted backend that records every call that reached
// it. Not thread-safe except ManualScheduler::post.

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/scheduler.h"
#include "core/store.h"

namespace berth::testing {

class ManualScheduler final : public Scheduler {
 public:
  void post(std::function<void()> task) override {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  // Runs queued tasks, including those they queue, until none is left. Returns how many ran.
  int run_all(int limit = 1'000'000) {
    int ran = 0;
    while (ran < limit) {
      std::function<void()> task;
      {
        std::lock_guard lock(mutex_);
        if (tasks_.empty()) break;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
      ++ran;
    }
    return ran;
  }

 private:
  std::mutex mutex_;
  std::deque<std::function<void()>> tasks_;
};

// Keeps the durable state in memory. With hold(true), commits wait until release() so a test can
// look at what happened before a record became durable.
class FakeStore final : public Store {
 public:
  StatusOr<StoreSnapshot> load() override { return durable_; }
  void commit(StoreBatch batch, std::function<void(Status)> done) override {
    held_.push_back({std::move(batch), std::move(done)});
    if (!hold_) release();
  }
  void flush() override { release(); }

  void hold(bool on) { hold_ = on; }
  void fail_next(Status status) { fail_next_ = std::move(status); }
  // Completes every held commit, in order.
  void release() {
    while (!held_.empty()) {
      auto [batch, done] = std::move(held_.front());
      held_.pop_front();
      if (fail_next_) {
        Status failure = *fail_next_;
        fail_next_.reset();
        done(failure);
        continue;
      }
      apply(batch);
      ++commits_;
      done(Status::Ok());
    }
  }
  const StoreSnapshot& durable() const { return durable_; }
  int commits() const { return commits_; }
  std::size_t held() const { return held_.size(); }

 private:
  void apply(const StoreBatch& batch) {
    for (const auto& app : batch.put_apps) {
      auto it = std::find_if(durable_.apps.begin(), durable_.apps.end(),
                             [&](const Application& a) { return a.spec.id == app.spec.id; });
      if (it == durable_.apps.end()) durable_.apps.push_back(app); else *it = app;
    }
    for (const auto& id : batch.delete_apps) {
      std::erase_if(durable_.apps, [&](const Application& a) { return a.spec.id == id; });
      std::erase_if(durable_.executors, [&](const Executor& e) { return e.app == id; });
    }
    for (const auto& executor : batch.put_executors) {
      auto it = std::find_if(durable_.executors.begin(), durable_.executors.end(), [&](const Executor& e) {
        return e.app == executor.app && e.id == executor.id;
      });
      if (it == durable_.executors.end()) durable_.executors.push_back(executor); else *it = executor;
    }
    for (const auto& [k, v] : batch.put_meta) durable_.meta[k] = v;
  }

  bool hold_ = false;
  std::optional<Status> fail_next_;
  std::deque<std::pair<StoreBatch, std::function<void(Status)>>> held_;
  StoreSnapshot durable_;
  int commits_ = 0;
};

// A backend whose objects are a map the test scripts. Calls are recorded; their completions are
// posted through the scheduler, as a real adapter delivers them later on the strand.
class FakeBackend final : public Backend {
 public:
  FakeBackend(PoolName pool, Scheduler& scheduler) : pool_(std::move(pool)), scheduler_(scheduler) {}

  std::string type() const override { return "fake"; }
  BackendCapabilities capabilities() const override {
    return {decommission_supported, kill_app_supported, honours_kill_grace, launch_completes_on_placement};
  }
  void recover(const BackendRecovery& recovery) override { recovered = recovery; }
  void start(BackendSink* sink) override { sink_ = sink; }
  void stop() override { sink_ = nullptr; }

  void launch(const LaunchRequest& request, Callback<Status> done) override {
    launches.push_back(request);
    Status status = Status::Ok();
    if (!launch_results.empty()) {
      status = launch_results.front();
      launch_results.pop_front();
    }
    if (status.ok()) {
      if (objects.count(request.backend_name) > 0) {
        status = Status::AlreadyExists(request.backend_name);
      } else {
        BackendObject object;
        object.backend_name = request.backend_name;
        object.daemon_id = request.daemon_id;
        object.app = request.app;
        object.executor = request.executor;
        object.profile = request.profile.id;
        object.phase = ObservedPhase::kPending;
        objects[request.backend_name] = object;
      }
    }
    if (hold_launch_replies) {
      held_replies.push_back([done, status] { done(status); });
      return;
    }
    scheduler_.post([done, status] { done(status); });
  }

  // Delivers the launch replies held back by hold_launch_replies.
  void release_launch_replies() {
    for (auto& reply : held_replies) scheduler_.post(std::move(reply));
    held_replies.clear();
  }

  void kill(const KillRequest& request, Callback<Status> done) override {
    kills.push_back(request);
    auto it = objects.find(request.backend_name);
    Status status = it == objects.end() ? Status::NotFound(request.backend_name) : Status::Ok();
    if (!kill_results.empty()) {
      status = kill_results.front();
      kill_results.pop_front();
    } else if (it != objects.end() && stop_slowly) {
      // Accepted; the object keeps running through its grace period (a Nomad job being stopped,
      // a terminating pod) until the test ends it.
    } else if (it != objects.end()) {
      BackendObject gone = it->second;
      objects.erase(it);
      gone.phase = ObservedPhase::kExited;
      gone.exit_code = 143;
      notify(gone);
    }
    scheduler_.post([done, status] { done(status); });
  }

  void kill_app(const AppId& app, Duration, Callback<Status> done) override {
    app_kills.push_back(app);
    Status status = kill_app_result;
    if (status.ok() && !stop_slowly) {
      std::vector<std::string> names;
      for (const auto& [name, object] : objects) {
        if (object.app == app) names.push_back(name);
      }
      for (const auto& name : names) {
        BackendObject gone = objects.at(name);
        objects.erase(name);
        gone.phase = ObservedPhase::kGone;
        notify(gone);
      }
    }
    scheduler_.post([done, status] { done(status); });
  }

  void decommission(const std::string& name, Callback<Status> done) override {
    decommissions.push_back(name);
    scheduler_.post([done] { done(Status::Ok()); });
  }

  void list(Callback<StatusOr<std::vector<BackendObject>>> done) override {
    ++lists;
    if (list_error) {
      Status error = *list_error;
      scheduler_.post([done, error] { done(error); });
      return;
    }
    std::vector<BackendObject> out;
    for (const auto& [name, object] : objects) out.push_back(object);
    scheduler_.post([done, out] { done(out); });
  }

  // --- scripting -------------------------------------------------------------------------
  void set_phase(const std::string& name, ObservedPhase phase, std::optional<int> exit_code = std::nullopt,
                 bool start_failed = false) {
    BackendObject& object = objects.at(name);
    object.phase = phase;
    object.exit_code = exit_code;
    object.start_failed = start_failed;
    if (start_failed) object.message = "image could not be pulled";
    object.host = "host-a";
    BackendObject copy = object;
    if (phase == ObservedPhase::kExited || phase == ObservedPhase::kLost) objects.erase(name);
    notify(copy);
  }
  // Reports a pending object with the backend's reason (e.g. kReasonUnschedulable).
  void set_pending_reason(const std::string& name, const std::string& reason, const std::string& message) {
    BackendObject& object = objects.at(name);
    object.phase = ObservedPhase::kPending;
    object.reason = reason;
    object.message = message;
    notify(object);
  }
  void run_all_pending() {
    std::vector<std::string> names;
    for (const auto& [name, object] : objects) {
      if (object.phase == ObservedPhase::kPending) names.push_back(name);
    }
    for (const auto& name : names) set_phase(name, ObservedPhase::kRunning);
  }
  // Reports the object with adapter state to keep for it (a handle).
  void set_handle(const std::string& name, BackendHandle handle) {
    BackendObject& object = objects.at(name);
    object.handle = std::move(handle);
    notify(object);
  }
  // Saves adapter state through the sink, as an adapter does; the answer lands in `saved`.
  void save_state(const std::string& key, const std::string& value) {
    sink_->save_state(pool_, key, value, [this](Status status) { saved.push_back(status); });
  }
  // Reports the object again as it is (a watch event about something else of it, a resync).
  void observe_again(const std::string& name) { notify(objects.at(name)); }
  // Ends a slowly stopping object: its process exits, then it is gone.
  void finish_stop(const std::string& name) {
    BackendObject gone = objects.at(name);
    objects.erase(name);
    gone.phase = ObservedPhase::kGone;
    notify(gone);
  }
  // Removes an object silently, as if a watch event had been lost.
  void drop_silently(const std::string& name) { objects.erase(name); }
  std::size_t count(ObservedPhase phase) const {
    std::size_t n = 0;
    for (const auto& [name, object] : objects) n += object.phase == phase ? 1 : 0;
    return n;
  }

  std::vector<LaunchRequest> launches;
  std::vector<KillRequest> kills;
  std::vector<std::string> decommissions;
  std::deque<Status> launch_results;  // statuses for the next launches (default OK)
  std::deque<Status> kill_results;    // statuses for the next kills (default: OK, object stopped)
  bool stop_slowly = false;           // accepted kills leave the object running (finish_stop ends it)
  std::optional<Status> list_error;
  std::map<std::string, BackendObject> objects;
  bool decommission_supported = true;
  bool kill_app_supported = false;
  bool honours_kill_grace = true;
  bool launch_completes_on_placement = false;
  std::optional<BackendRecovery> recovered;  // what recover() was given
  std::vector<Status> saved;                 // answers to save_state()
  Status kill_app_result;              // what kill_app answers
  std::vector<AppId> app_kills;
  bool hold_launch_replies = false;  // launch replies wait for release_launch_replies()
  std::vector<std::function<void()>> held_replies;
  int lists = 0;

 private:
  void notify(const BackendObject& object) {
    if (sink_ == nullptr) return;
    BackendSink* sink = sink_;
    PoolName pool = pool_;
    scheduler_.post([sink, pool, object] { sink->on_observed(pool, object); });
  }

  PoolName pool_;
  Scheduler& scheduler_;
  BackendSink* sink_ = nullptr;
};

}  // namespace berth::testing
