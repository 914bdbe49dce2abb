#include "adapters/common/time_source.h"

#include <algorithm>
#include <memory>
#include <random>

namespace berth::adapters {
namespace {

SteadyTime system_steady_now() { return std::chrono::steady_clock::now(); }

Timestamp system_wall_now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace

TimeSource real_time_source() {
  return TimeSource{system_steady_now, system_wall_now, [] {
                      thread_local std::mt19937_64 engine(std::random_device{}());
                      return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
                    }};
}

TimeSource seeded_time_source(std::uint64_t seed) {
  auto engine = std::make_shared<std::mt19937_64>(seed);
  return TimeSource{system_steady_now, system_wall_now,
                    [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); }};
}

std::int64_t uniform_int(const std::function<double()>& uniform, std::int64_t max) {
  if (max <= 0) return 0;
  const auto drawn = static_cast<std::int64_t>(uniform() * static_cast<double>(max + 1));
  return std::clamp<std::int64_t>(drawn, 0, max);
}

}  // namespace berth::adapters
