#pragma once
// RequestLimiter: the gate every request of a pool passes: a client-side token bucket (qps and
// burst, as client-go's) and the pause an overloaded server asks for. pause_for() is what an
// adapter calls on a 429: nothing of the pool goes out before the server's Retry-After (1 s when
// it gives none, capped at 60 s) plus up to a fifth more at random, so core's retries wait at
// least that long. Requests leave in the order they were submitted.
//
// Thread-safety: not thread-safe; call it on the executor given (the adapter's strand), where the
// submitted functions run. A function still queued when the limiter is destroyed never runs.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>

#include "adapters/common/time_source.h"

namespace berth::adapters {

// When a pause asked for at `now` ends: `retry_after_seconds` clamped to [1, 60], plus up to a
// fifth more at random. Pure.
SteadyTime pause_end(SteadyTime now, int retry_after_seconds, const std::function<double()>& uniform);

class RequestLimiter {
 public:
  // qps <= 0: no rate limit (pauses still apply).
  RequestLimiter(boost::asio::any_io_executor executor, double qps, double burst, TimeSource time);
  ~RequestLimiter();
  RequestLimiter(const RequestLimiter&) = delete;
  RequestLimiter& operator=(const RequestLimiter&) = delete;

  // Runs `send` as soon as the bucket and any pause allow, after those submitted before it.
  void submit(std::function<void()> send);
  // The server asked to wait (a 429): `retry_after_seconds` is its Retry-After, or 1.
  void pause_for(int retry_after_seconds);
  // When requests may go again; a time in the past when they may now.
  SteadyTime paused_until() const;
  // Stops the wait under way (the adapter is stopping); queued functions stay queued.
  void cancel();

 private:
  struct State;
  static void pump(const std::shared_ptr<State>& state);
  static void arm(const std::shared_ptr<State>& state, SteadyTime when);
  std::shared_ptr<State> state_;
};

}  // namespace berth::adapters
