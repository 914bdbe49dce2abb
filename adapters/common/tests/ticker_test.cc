#include "adapters/common/ticker.h"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

namespace berth::adapters {
namespace {

using std::chrono::milliseconds;

TEST_CASE("a ticker ticks until stopped") {
  boost::asio::io_context io;
  Ticker ticker(io.get_executor());
  int ticks = 0;
  ticker.start(milliseconds(1), [&] {
    if (++ticks == 3) ticker.stop();
  });
  io.run_for(std::chrono::seconds(5));  // returns once nothing is pending
  CHECK(ticks == 3);
}

TEST_CASE("a ticker destroyed while armed never ticks") {
  boost::asio::io_context io;
  int ticks = 0;
  {
    Ticker ticker(io.get_executor());
    ticker.start(milliseconds(1), [&] { ++ticks; });
  }
  io.run_for(std::chrono::seconds(5));
  CHECK(ticks == 0);
}

TEST_CASE("a tick may restart its ticker without doubling it") {
  boost::asio::io_context io;
  Ticker ticker(io.get_executor());
  int ticks = 0;
  std::function<void()> tick = [&] {
    ++ticks;
    if (ticks < 4) {
      ticker.start(milliseconds(1), tick);
    } else {
      ticker.stop();
    }
  };
  ticker.start(milliseconds(1), tick);
  io.run_for(std::chrono::seconds(5));
  CHECK(ticks == 4);
}

}  // namespace
}  // namespace berth::adapters
