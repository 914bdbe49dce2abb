#pragma once
// TimeSource: where an adapter reads the time and draws the randomness of its jitter, so that
// tests can fix both. berthd gives every adapter real_time_source(); a test gives a seeded one
// (a repeatable jitter sequence) and, where it needs to, its own clocks. Asio's steady timers stay
// what waits; adapters arm them relative to steady_now(), never at an absolute time point.
//
// Thread-safety: a TimeSource is a value holding three functions. real_time_source()'s are safe
// to call from any thread (each thread draws from its own engine). A seeded_time_source() shares
// one engine between its copies: use it from one thread (or strand) at a time.

#include <chrono>
#include <cstdint>
#include <functional>

#include "core/types.h"

namespace berth::adapters {

using SteadyTime = std::chrono::steady_clock::time_point;

struct TimeSource {
  std::function<SteadyTime()> steady_now;  // for intervals, deadlines and rate limits
  std::function<Timestamp()> wall_now;     // for what is compared with the backend's timestamps
  std::function<double()> uniform;         // a draw from [0, 1), for jitter
};

// The system's clocks and a random_device-seeded engine per thread.
TimeSource real_time_source();

// The system's clocks and one engine seeded with `seed`: the same seed draws the same sequence.
TimeSource seeded_time_source(std::uint64_t seed);

// An integer drawn uniformly from [0, max] (0 when max <= 0).
std::int64_t uniform_int(const std::function<double()>& uniform, std::int64_t max);

}  // namespace berth::adapters
