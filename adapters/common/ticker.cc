#include "adapters/common/ticker.h"

#include <boost/asio/steady_timer.hpp>
#include <cstdint>

namespace berth::adapters {

struct Ticker::State {
  explicit State(boost::asio::any_io_executor executor) : timer(std::move(executor)) {}
  boost::asio::steady_timer timer;
  Duration interval{0};
  std::function<void()> tick;
  bool running = false;
  std::uint64_t generation = 0;  // of start(): a tick that restarted the ticker does not re-arm it
};

Ticker::Ticker(boost::asio::any_io_executor executor) : state_(std::make_shared<State>(std::move(executor))) {}

Ticker::~Ticker() { stop(); }

void Ticker::start(Duration interval, std::function<void()> tick) {
  state_->interval = interval;
  state_->tick = std::move(tick);
  state_->running = true;
  ++state_->generation;
  arm(state_);
}

void Ticker::stop() {
  state_->running = false;
  state_->timer.cancel();
}

void Ticker::arm(const std::shared_ptr<State>& state) {
  state->timer.expires_after(state->interval);
  state->timer.async_wait([weak = std::weak_ptr<State>(state)](const boost::system::error_code& ec) {
    auto state = weak.lock();
    if (ec || !state || !state->running) return;
    const std::uint64_t generation = state->generation;
    auto tick = state->tick;  // the tick may stop or restart the ticker
    tick();
    if (state->running && generation == state->generation) arm(state);
  });
}

}  // namespace berth::adapters
