#include "adapters/common/backoff.h"

#include <catch2/catch.hpp>
#include <vector>

#include "adapters/common/time_source.h"

namespace berth::adapters {
namespace {

using std::chrono::milliseconds;

TEST_CASE("backoff doubles from initial up to max, without jitter when the draw is 0") {
  Backoff backoff(milliseconds(250), milliseconds(2000), [] { return 0.0; });
  std::vector<Duration> delays;
  for (int i = 0; i < 6; ++i) delays.push_back(backoff.next());
  CHECK(delays == std::vector<Duration>{milliseconds(250), milliseconds(500), milliseconds(1000), milliseconds(2000),
                                        milliseconds(2000), milliseconds(2000)});
  CHECK(backoff.base() == milliseconds(2000));
}

TEST_CASE("backoff adds at most a fifth of its base") {
  Backoff backoff(milliseconds(500), milliseconds(30000), [] { return 0.9999999; });
  CHECK(backoff.next() == milliseconds(600));
  CHECK(backoff.next() == milliseconds(1200));
  CHECK(backoff.next() == milliseconds(2400));
}

TEST_CASE("reset starts again from initial") {
  Backoff backoff(milliseconds(250), milliseconds(15000), [] { return 0.0; });
  backoff.next();
  backoff.next();
  backoff.reset();
  CHECK(backoff.base() == Duration(0));
  CHECK(backoff.next() == milliseconds(250));
}

TEST_CASE("a max below initial caps from the second delay on") {
  Backoff backoff(milliseconds(500), milliseconds(300), [] { return 0.0; });
  CHECK(backoff.next() == milliseconds(500));
  CHECK(backoff.next() == milliseconds(300));
}

TEST_CASE("a seeded time source makes the jittered sequence repeatable") {
  const auto sequence = [](std::uint64_t seed) {
    TimeSource time = seeded_time_source(seed);
    Backoff backoff(milliseconds(250), milliseconds(30000), time.uniform);
    std::vector<Duration> delays;
    for (int i = 0; i < 10; ++i) delays.push_back(backoff.next());
    return delays;
  };
  const std::vector<Duration> first = sequence(2026);
  CHECK(first == sequence(2026));
  CHECK(first != sequence(2027));
  Duration base = milliseconds(250);
  for (const Duration delay : first) {
    CHECK(delay >= base);
    CHECK(delay <= base + base / 5);
    base = std::min<Duration>(milliseconds(30000), base * 2);
  }
}

}  // namespace
}  // namespace berth::adapters
