#include "adapters/common/request_limiter.h"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <vector>

namespace berth::adapters {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Real steady time, no jitter.
TimeSource steady_without_jitter() {
  TimeSource time = real_time_source();
  time.uniform = [] { return 0.0; };
  return time;
}

TEST_CASE("a pause honours Retry-After, capped to [1, 60] s, plus up to a fifth") {
  const SteadyTime now{seconds(1000)};
  const auto none = [] { return 0.0; };
  const auto most = [] { return 0.9999999; };
  CHECK(pause_end(now, 3, none) == now + seconds(3));
  CHECK(pause_end(now, 3, most) == now + seconds(3) + milliseconds(600));
  CHECK(pause_end(now, 0, none) == now + seconds(1));
  CHECK(pause_end(now, -5, none) == now + seconds(1));
  CHECK(pause_end(now, 3600, none) == now + seconds(60));
}

TEST_CASE("pauses only ever lengthen, on the injected clock") {
  boost::asio::io_context io;
  SteadyTime now{seconds(1000)};
  TimeSource time{[&] { return now; }, [] { return Timestamp(); }, [] { return 0.0; }};
  RequestLimiter limiter(io.get_executor(), 0, 1, time);
  limiter.pause_for(5);
  CHECK(limiter.paused_until() == now + seconds(5));
  limiter.pause_for(2);
  CHECK(limiter.paused_until() == now + seconds(5));
  now += seconds(4);
  limiter.pause_for(2);
  CHECK(limiter.paused_until() == now + seconds(2));
}

TEST_CASE("the burst goes at once; the rest waits for tokens, in order") {
  boost::asio::io_context io;
  RequestLimiter limiter(io.get_executor(), 200, 2, steady_without_jitter());
  std::vector<int> sent;
  for (int i = 0; i < 5; ++i) limiter.submit([&sent, i] { sent.push_back(i); });
  CHECK(sent == std::vector<int>{0, 1});
  io.run_for(seconds(5));
  CHECK(sent == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("nothing goes out during a pause") {
  boost::asio::io_context io;
  TimeSource time = steady_without_jitter();
  RequestLimiter limiter(io.get_executor(), 0, 1, time);
  limiter.pause_for(1);
  const SteadyTime until = limiter.paused_until();
  SteadyTime sent_at{};
  limiter.submit([&] { sent_at = time.steady_now(); });
  CHECK(sent_at == SteadyTime{});
  io.run_for(seconds(5));
  CHECK(sent_at >= until);
}

TEST_CASE("a limiter destroyed with requests queued never sends them") {
  boost::asio::io_context io;
  bool sent = false;
  {
    RequestLimiter limiter(io.get_executor(), 0, 1, steady_without_jitter());
    limiter.pause_for(1);
    limiter.submit([&] { sent = true; });
  }
  io.run_for(seconds(5));
  CHECK_FALSE(sent);
}

}  // namespace
}  // namespace berth::adapters
