// Faults and Outage: fail_next counters used before rates, a key before "*", seeded draws that
// replay, POST /sim/faults bodies (reset first, partial updates, rates replaced and counters
// merged, fields of the wrong type ignored), the latency delay, and outages that go down, come
// back, are replaced by a newer one and are silenced by stop().
#include <catch2/catch.hpp>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <vector>

#include "sim/common/faults.h"

namespace berth::sim_common {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

json::object parse(const char* text) { return json::parse(text).as_object(); }

TEST_CASE("no faults: nothing fails, the default code is reported") {
  Faults faults(429);
  RandomSource random(1);
  CHECK_FALSE(faults.draw("create", random));
  CHECK(faults.error_code() == 429);
  CHECK(faults.latency() == milliseconds(0));
  CHECK(json::serialize(faults.describe()) ==
        R"({"latency_ms":0,"error_code":429,"error_rate":{},"fail_next":{}})");
}

TEST_CASE("fail_next fails exactly the next requests of its key, then those of '*'") {
  Faults faults(503);
  RandomSource random(1);
  faults.apply(parse(R"({"fail_next": {"create": 2, "*": 1}, "error_code": 500})"));
  CHECK(faults.draw("create", random) == 500);
  CHECK(faults.draw("create", random) == 500);
  CHECK(faults.draw("create", random) == 500);  // the "*" one
  CHECK_FALSE(faults.draw("create", random));
  CHECK_FALSE(faults.draw("delete", random));
  CHECK(faults.describe().at("fail_next") == json::object{{"*", 0}, {"create", 0}});
}

TEST_CASE("fail_next is used before a rate is drawn") {
  Faults faults(503);
  RandomSource random(7);
  RandomSource untouched(7);
  faults.apply(parse(R"({"fail_next": {"list": 1}, "error_rate": {"list": 0.5}})"));
  CHECK(faults.draw("list", random) == 503);
  CHECK(random() == untouched());  // no draw was taken
}

TEST_CASE("error rates: 1 always fails, 0 never draws, and one seed replays the same draws") {
  Faults faults(503);
  faults.apply(parse(R"({"error_rate": {"watch": 1.0, "get": 0, "*": 0.5}})"));
  RandomSource random(42);
  CHECK(faults.draw("watch", random) == 503);
  const auto outcomes = [&](RandomSource& source) {
    std::vector<bool> failed;
    for (int i = 0; i < 64; ++i) failed.push_back(faults.draw("get", source).has_value());
    return failed;
  };
  RandomSource first(42);
  RandomSource second(42);
  const auto a = outcomes(first);
  CHECK(a == outcomes(second));
  CHECK(std::count(a.begin(), a.end(), true) > 0);   // "*" at 0.5 fails some
  CHECK(std::count(a.begin(), a.end(), false) > 0);  // and lets some through
}

TEST_CASE("a POST body updates only what it names; error_rate replaces, fail_next merges") {
  Faults faults(500);
  faults.apply(parse(R"({"latency_ms": 20, "error_rate": {"a": 0.5}, "fail_next": {"a": 1}})"));
  faults.apply(parse(R"({"error_rate": {"b": 0.25}, "fail_next": {"b": 3}})"));
  CHECK(json::serialize(faults.describe()) ==
        R"({"latency_ms":20,"error_code":500,"error_rate":{"b":2.5E-1},"fail_next":{"a":1,"b":3}})");
  faults.apply(parse(R"({"latency_ms": "slow", "error_code": null, "error_rate": [1], "fail_next": {"c": "x"}})"));
  CHECK(faults.latency() == milliseconds(20));
  CHECK(faults.error_code() == 500);
  CHECK(faults.describe().at("fail_next").as_object().size() == 2);
}

TEST_CASE("reset comes first, so one body can reset and set") {
  Faults faults(429);
  faults.apply(parse(R"({"latency_ms": 20, "error_code": 503, "fail_next": {"a": 1}})"));
  const FaultUpdate update = faults.apply(parse(R"({"reset": true, "fail_next": {"b": 2}})"));
  CHECK(update.reset);
  CHECK_FALSE(update.down_for);
  CHECK(json::serialize(faults.describe()) ==
        R"({"latency_ms":0,"error_code":429,"error_rate":{},"fail_next":{"b":2}})");
  CHECK_FALSE(faults.apply(parse(R"({"reset": false})")).reset);
}

TEST_CASE("down_for_ms is handed back for the simulator to carry out") {
  Faults faults(500);
  CHECK(faults.apply(parse(R"({"down_for_ms": 1500})")).down_for == milliseconds(1500));
  CHECK_FALSE(faults.apply(parse(R"({"down_for_ms": "soon"})")).down_for);
}

TEST_CASE("after_latency serves at once without latency and after it otherwise") {
  boost::asio::io_context io;
  bool served = false;
  after_latency(io.get_executor(), milliseconds(0), [&] { served = true; });
  CHECK(served);
  served = false;
  const auto start = std::chrono::steady_clock::now();
  after_latency(io.get_executor(), milliseconds(20), [&] { served = true; });
  CHECK_FALSE(served);
  io.run_for(std::chrono::seconds(10));
  CHECK(served);
  CHECK(std::chrono::steady_clock::now() - start >= milliseconds(20));
}

TEST_CASE("an outage goes down after the grace and comes up after its duration") {
  boost::asio::io_context io;
  Outage outage(io.get_executor());
  std::vector<std::string> steps;
  outage.begin(milliseconds(10), [&] { steps.push_back("down"); }, [&] { steps.push_back("up"); });
  CHECK(steps.empty());  // the admin response leaves first
  io.run_for(std::chrono::seconds(10));
  CHECK(steps == std::vector<std::string>{"down", "up"});
}

TEST_CASE("a newer outage replaces one under way") {
  boost::asio::io_context io;
  Outage outage(io.get_executor());
  std::vector<std::string> steps;
  outage.begin(milliseconds(10), [&] { steps.push_back("first down"); }, [&] { steps.push_back("first up"); });
  outage.begin(milliseconds(10), [&] { steps.push_back("second down"); }, [&] { steps.push_back("second up"); });
  io.run_for(std::chrono::seconds(10));
  CHECK(steps == std::vector<std::string>{"second down", "second up"});
}

TEST_CASE("after stop an outage calls nothing more") {
  boost::asio::io_context io;
  Outage outage(io.get_executor());
  std::vector<std::string> steps;
  outage.begin(milliseconds(10), [&] {
    steps.push_back("down");
    outage.stop();
  }, [&] { steps.push_back("up"); });
  io.run_for(std::chrono::seconds(10));
  CHECK(steps == std::vector<std::string>{"down"});
}

}  // namespace
}  // namespace berth::sim_common
