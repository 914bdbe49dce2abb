#include "adapters/common/time_source.h"

#include <catch2/catch.hpp>
#include <vector>

namespace berth::adapters {
namespace {

TEST_CASE("a seeded time source draws the same sequence for the same seed") {
  TimeSource a = seeded_time_source(42);
  TimeSource b = seeded_time_source(42);
  TimeSource c = seeded_time_source(43);
  std::vector<double> drawn_a, drawn_b, drawn_c;
  for (int i = 0; i < 8; ++i) {
    drawn_a.push_back(a.uniform());
    drawn_b.push_back(b.uniform());
    drawn_c.push_back(c.uniform());
  }
  CHECK(drawn_a == drawn_b);
  CHECK(drawn_a != drawn_c);
  for (double x : drawn_a) {
    CHECK(x >= 0.0);
    CHECK(x < 1.0);
  }
}

TEST_CASE("copies of a seeded time source share its engine") {
  TimeSource a = seeded_time_source(7);
  TimeSource copy = a;
  TimeSource fresh = seeded_time_source(7);
  const double first = fresh.uniform();
  const double second = fresh.uniform();
  CHECK(a.uniform() == first);
  CHECK(copy.uniform() == second);
}

TEST_CASE("the real time source reads the system's clocks") {
  TimeSource real = real_time_source();
  const auto steady_before = std::chrono::steady_clock::now();
  CHECK(real.steady_now() >= steady_before);
  const auto wall = real.wall_now();
  CHECK(std::chrono::abs(wall.time_since_epoch() - std::chrono::duration_cast<std::chrono::milliseconds>(
                                                        std::chrono::system_clock::now().time_since_epoch())) <
        std::chrono::seconds(5));
  const double x = real.uniform();
  CHECK(x >= 0.0);
  CHECK(x < 1.0);
}

TEST_CASE("uniform_int covers [0, max] and nothing else") {
  CHECK(uniform_int([] { return 0.0; }, 10) == 0);
  CHECK(uniform_int([] { return 0.999999; }, 10) == 10);
  CHECK(uniform_int([] { return 0.5; }, 10) == 5);
  CHECK(uniform_int([] { return 0.7; }, 0) == 0);
  CHECK(uniform_int([] { return 0.7; }, -3) == 0);
}

}  // namespace
}  // namespace berth::adapters
