#include "adapters/common/request_limiter.h"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <deque>

#include "net/rate_limiter.h"

namespace berth::adapters {

SteadyTime pause_end(SteadyTime now, int retry_after_seconds, const std::function<double()>& uniform) {
  const int capped = std::clamp(retry_after_seconds, 1, 60);
  return now + std::chrono::seconds(capped) + std::chrono::milliseconds(uniform_int(uniform, capped * 200));
}

struct RequestLimiter::State {
  State(boost::asio::any_io_executor executor, double qps, double burst, TimeSource time)
      : bucket(qps, burst), timer(std::move(executor)), time(std::move(time)) {}
  net::TokenBucket bucket;
  std::deque<std::function<void()>> queue;
  SteadyTime paused_until{};
  boost::asio::steady_timer timer;
  bool armed = false;
  SteadyTime armed_for{};  // when the armed timer fires, on time's clock
  TimeSource time;
};

RequestLimiter::RequestLimiter(boost::asio::any_io_executor executor, double qps, double burst, TimeSource time)
    : state_(std::make_shared<State>(std::move(executor), qps, burst, std::move(time))) {}

RequestLimiter::~RequestLimiter() { state_->timer.cancel(); }

void RequestLimiter::submit(std::function<void()> send) {
  state_->queue.push_back(std::move(send));
  pump(state_);
}

void RequestLimiter::pause_for(int retry_after_seconds) {
  state_->paused_until = std::max(state_->paused_until,
                                  pause_end(state_->time.steady_now(), retry_after_seconds, state_->time.uniform));
}

SteadyTime RequestLimiter::paused_until() const { return state_->paused_until; }

void RequestLimiter::cancel() { state_->timer.cancel(); }

void RequestLimiter::pump(const std::shared_ptr<State>& state) {
  while (!state->queue.empty()) {
    const SteadyTime now = state->time.steady_now();
    if (now < state->paused_until) return arm(state, state->paused_until);
    const auto wait = state->bucket.take(now);
    if (wait.count() > 0) return arm(state, now + wait);
    auto send = std::move(state->queue.front());
    state->queue.pop_front();
    send();
  }
}

void RequestLimiter::arm(const std::shared_ptr<State>& state, SteadyTime when) {
  if (state->armed && state->armed_for <= when) return;
  state->armed = true;
  state->armed_for = when;
  state->timer.expires_after(when - state->time.steady_now());
  state->timer.async_wait([weak = std::weak_ptr<State>(state)](const boost::system::error_code& ec) {
    auto state = weak.lock();
    if (!state) return;
    if (ec == boost::asio::error::operation_aborted && state->armed) return;  // re-armed earlier, or cancelled
    state->armed = false;
    pump(state);
  });
}

}  // namespace berth::adapters
