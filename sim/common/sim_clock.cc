#include "sim/common/sim_clock.h"

#include <algorithm>
#include <cmath>

namespace berth::sim_common {

SimClock::SimClock(double time_scale, RealNow real_now)
    : time_scale_(time_scale > 0 ? time_scale : 1.0),
      real_now_(std::move(real_now)),
      real_base_(real_now_()),
      wall_base_(std::chrono::system_clock::now()) {}

void SimClock::start() {
  real_base_ = real_now_();
  wall_base_ = std::chrono::system_clock::now();
}

double SimClock::now() const {
  const double real = std::chrono::duration<double>(real_now_() - real_base_).count();
  return offset_ + real * time_scale_;
}

void SimClock::skip(double seconds) { offset_ += std::max(0.0, seconds); }

double SimClock::unix_seconds(double sim_seconds) const {
  return std::chrono::duration<double>(wall_base_.time_since_epoch()).count() + sim_seconds;
}

std::int64_t SimClock::unix_nanos(double sim_seconds) const {
  const auto base = std::chrono::duration_cast<std::chrono::nanoseconds>(wall_base_.time_since_epoch()).count();
  return base + static_cast<std::int64_t>(std::llround(sim_seconds * 1e9));
}

Agenda::Agenda(boost::asio::any_io_executor executor, SimClock clock)
    : state_(std::make_shared<State>(std::move(executor), std::move(clock))) {}

Agenda::~Agenda() { stop(); }

void Agenda::after(double sim_delay, std::function<void()> action) {
  state_->entries.emplace(now() + std::max(0.0, sim_delay), std::move(action));
  arm(state_);
}

void Agenda::advance(double sim_seconds) {
  state_->clock.skip(sim_seconds);
  run_due(state_);
}

void Agenda::stop() {
  state_->stopped = true;
  state_->entries.clear();
  state_->timer.cancel();
}

void Agenda::arm(const std::shared_ptr<State>& state) {
  if (state->entries.empty() || state->stopped) {
    state->timer.cancel();
    return;
  }
  const double wait = std::max(0.0, (state->entries.begin()->first - state->clock.now()) / state->clock.time_scale());
  state->timer.expires_after(std::chrono::microseconds(static_cast<std::int64_t>(wait * 1e6) + 1));
  state->timer.async_wait([state](boost::system::error_code ec) {
    if (ec) return;
    run_due(state);
  });
}

void Agenda::run_due(const std::shared_ptr<State>& state) {
  while (!state->entries.empty() && state->entries.begin()->first <= state->clock.now() + 1e-9 && !state->stopped) {
    auto action = std::move(state->entries.begin()->second);
    state->entries.erase(state->entries.begin());
    action();
  }
  arm(state);
}

}  // namespace berth::sim_common
