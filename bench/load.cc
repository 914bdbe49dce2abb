#include "bench/load.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace berth::bench {

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index), values.end());
  return values[index];
}

namespace {

struct LoopState {
  using Clock = std::chrono::steady_clock;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> errors{0};
  std::mutex mutex;
  std::condition_variable idle;
  int running = 0;
  std::vector<std::vector<double>> latencies;  // one vector per caller: no contention
  std::string first_error;
};

void next(const std::shared_ptr<LoopState>& state, const IssueCall& issue, int caller) {
  const auto started = LoopState::Clock::now();
  issue(caller, [state, &issue, caller, started](bool ok, const std::string& error) {
    const double ms = std::chrono::duration<double, std::milli>(LoopState::Clock::now() - started).count();
    if (ok) {
      state->latencies[static_cast<std::size_t>(caller)].push_back(ms);
    } else {
      state->errors++;
      std::lock_guard lock(state->mutex);
      if (state->first_error.empty()) state->first_error = error;
    }
    if (state->stop.load()) {
      std::lock_guard lock(state->mutex);
      if (--state->running == 0) state->idle.notify_all();
      return;
    }
    next(state, issue, caller);
  });
}

}  // namespace

LoadResult run_closed_loop(int concurrency, std::chrono::milliseconds duration, const IssueCall& issue) {
  auto state = std::make_shared<LoopState>();
  state->latencies.resize(static_cast<std::size_t>(concurrency));
  for (auto& l : state->latencies) l.reserve(1 << 16);
  state->running = concurrency;
  const auto started = LoopState::Clock::now();
  for (int caller = 0; caller < concurrency; ++caller) next(state, issue, caller);
  std::this_thread::sleep_for(duration);  // the measurement window
  state->stop = true;
  const double seconds = std::chrono::duration<double>(LoopState::Clock::now() - started).count();
  {
    std::unique_lock lock(state->mutex);
    state->idle.wait(lock, [&] { return state->running == 0; });
  }
  LoadResult result;
  std::vector<double> all;
  for (auto& l : state->latencies) all.insert(all.end(), l.begin(), l.end());
  result.calls = all.size();
  result.errors = state->errors;
  result.seconds = seconds;
  result.p50_ms = percentile(all, 0.50);
  result.p99_ms = percentile(all, 0.99);
  result.first_error = state->first_error;
  return result;
}

}  // namespace berth::bench
