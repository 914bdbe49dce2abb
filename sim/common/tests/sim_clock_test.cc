// SimClock and Agenda: scaled and skipped time, wall-clock stamps, entries run in order of their
// instant (ties in the order added) by advance() or by the timer, entries added while running,
// and stop() dropping everything.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "sim/common/sim_clock.h"

namespace berth::sim_common {
namespace {

using std::chrono::steady_clock;

// A real clock that moves only when the test moves it.
struct FakeRealClock {
  std::shared_ptr<steady_clock::time_point> now = std::make_shared<steady_clock::time_point>();
  SimClock::RealNow source() const {
    return [now = now] { return *now; };
  }
  void pass(std::chrono::milliseconds elapsed) { *now += elapsed; }
};

TEST_CASE("simulated time runs time_scale times real time, plus what was skipped") {
  FakeRealClock real;
  SimClock clock(2.0, real.source());
  clock.start();
  CHECK(clock.now() == Approx(0.0));
  real.pass(std::chrono::milliseconds(1500));
  CHECK(clock.now() == Approx(3.0));
  clock.skip(10);
  CHECK(clock.now() == Approx(13.0));
  clock.skip(-5);  // time never goes back
  CHECK(clock.now() == Approx(13.0));
}

TEST_CASE("a time_scale that is not positive counts as 1") {
  FakeRealClock real;
  SimClock clock(0, real.source());
  clock.start();
  real.pass(std::chrono::milliseconds(2000));
  CHECK(clock.time_scale() == 1.0);
  CHECK(clock.now() == Approx(2.0));
}

TEST_CASE("wall-clock stamps of simulated instants count from start") {
  SimClock clock;
  clock.start();
  CHECK(clock.unix_nanos(1.5) - clock.unix_nanos(0) == 1'500'000'000);
  CHECK(clock.unix_seconds(60) - clock.unix_seconds(0) == Approx(60.0));
  CHECK(clock.unix_seconds(0) == Approx(static_cast<double>(clock.unix_nanos(0)) / 1e9));
}

struct AgendaFixture {
  boost::asio::io_context io;
  FakeRealClock real;
  Agenda agenda{io.get_executor(), SimClock(1.0, real.source())};
  std::vector<std::string> ran;
  AgendaFixture() { agenda.clock().start(); }
  std::function<void()> record(std::string name) {
    return [this, name] { ran.push_back(name); };
  }
};

TEST_CASE_METHOD(AgendaFixture, "advance runs what came due in order of instant, ties in the order added") {
  agenda.after(30, record("at 30"));
  agenda.after(10, record("at 10"));
  agenda.after(20, record("at 20 first"));
  agenda.after(20, record("at 20 second"));
  agenda.advance(25);
  CHECK(ran == std::vector<std::string>{"at 10", "at 20 first", "at 20 second"});
  CHECK(agenda.size() == 1);
  CHECK(agenda.now() == Approx(25.0));
  agenda.advance(5);
  CHECK(ran.back() == "at 30");
  CHECK(agenda.size() == 0);
}

TEST_CASE_METHOD(AgendaFixture, "an entry added while running runs in the same pass when already due") {
  agenda.after(10, [this] {
    ran.push_back("parent");
    agenda.after(0, record("child now"));
    agenda.after(5, record("child later"));
  });
  agenda.advance(12);
  CHECK(ran == std::vector<std::string>{"parent", "child now"});
  // Delays count from the clock when the entry is added (12, after the skip), not from the
  // instant its parent was due (10).
  agenda.advance(3);
  CHECK(ran.size() == 2);
  agenda.advance(2);
  CHECK(ran == std::vector<std::string>{"parent", "child now", "child later"});
}

TEST_CASE_METHOD(AgendaFixture, "a negative delay counts as now and a negative advance as nothing") {
  agenda.after(-5, record("due"));
  agenda.after(1, record("later"));
  agenda.advance(-10);
  CHECK(ran == std::vector<std::string>{"due"});
  CHECK(agenda.now() == Approx(0.0));
}

TEST_CASE_METHOD(AgendaFixture, "stop drops every entry and runs nothing afterwards") {
  auto held = std::make_shared<int>(0);
  agenda.after(1, [this, held] { ran.push_back("dropped"); });
  agenda.stop();
  CHECK(agenda.size() == 0);
  CHECK(held.use_count() == 1);  // what the actions held is released
  agenda.after(0, record("after stop"));
  agenda.advance(10);
  io.poll();
  CHECK(ran.empty());
}

TEST_CASE("the timer runs an entry once its simulated instant comes") {
  boost::asio::io_context io;
  Agenda agenda(io.get_executor(), SimClock(1000.0));  // one simulated second is a real millisecond
  agenda.clock().start();
  bool ran = false;
  agenda.after(2, [&] { ran = true; });
  io.run_for(std::chrono::seconds(10));  // returns as soon as no timer is left
  CHECK(ran);
  CHECK(agenda.now() >= 2.0);
}

TEST_CASE("the timer's handler outlives a destroyed agenda") {
  boost::asio::io_context io;
  bool ran = false;
  {
    Agenda agenda(io.get_executor(), SimClock(1000.0));
    agenda.clock().start();
    agenda.after(1, [&] { ran = true; });
  }
  io.run_for(std::chrono::seconds(10));
  CHECK_FALSE(ran);
}

}  // namespace
}  // namespace berth::sim_common
