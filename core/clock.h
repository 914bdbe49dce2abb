#pragma once
// Clock: where core reads the time. The daemon uses SystemClock; tests use FakeClock and move
// time forward explicitly, so timeouts, leases and backoff are tested without sleeping.

#include <atomic>

#include "core/types.h"

namespace berth {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Timestamp now() const override {
    return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  }
};

// Thread-safe so a test thread may advance it while another reads it.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Timestamp start = Timestamp(Duration(1'700'000'000'000))) : now_(start.time_since_epoch().count()) {}
  Timestamp now() const override { return Timestamp(Duration(now_.load())); }
  void advance(Duration d) { now_ += d.count(); }
  void set(Timestamp t) { now_ = t.time_since_epoch().count(); }

 private:
  std::atomic<Duration::rep> now_;
};

}  // namespace berth
