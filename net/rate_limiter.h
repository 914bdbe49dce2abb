#pragma once
// Client-side token bucket, as client-go's QPS/burst limiter: `qps` tokens per second, at most
// `burst` stored. Pure arithmetic on times given by the caller, so it is tested without sleeping.

#include <algorithm>
#include <chrono>

namespace berth::net {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(double qps, double burst) : qps_(qps), burst_(std::max(1.0, burst)), tokens_(burst_) {}

  // Takes a token if one is available at `now`; otherwise returns how long until one is.
  // qps <= 0 means unlimited.
  std::chrono::nanoseconds take(Clock::time_point now) {
    if (qps_ <= 0) return std::chrono::nanoseconds(0);
    refill(now);
    if (tokens_ >= 1.0) {
      tokens_ -= 1.0;
      return std::chrono::nanoseconds(0);
    }
    const double wait_seconds = (1.0 - tokens_) / qps_;
    return std::chrono::nanoseconds(static_cast<std::int64_t>(wait_seconds * 1e9) + 1);
  }

 private:
  void refill(Clock::time_point now) {
    if (last_ == Clock::time_point{}) last_ = now;
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }

  double qps_;
  double burst_;
  double tokens_;
  Clock::time_point last_{};
};

}  // namespace berth::net
