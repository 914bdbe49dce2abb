#include <catch2/catch.hpp>

#include "sim/mesos/resources.h"

using namespace berth::sim::mesos;

TEST_CASE("ranges parse, normalise and subtract") {
  auto ranges = parse_ranges("31000-31010, 31005-31020,40000-40000");
  REQUIRE(ranges);
  CHECK(format_ranges(*ranges) == "[31000-31020, 40000-40000]");
  CHECK_FALSE(parse_ranges("5-1"));
  CHECK_FALSE(parse_ranges("abc"));

  Resources agent;
  agent.add_ranges("*", "ports", *ranges);
  Resources taken;
  taken.add_ranges("*", "ports", {{31005, 31006}});
  REQUIRE(agent.contains(taken));
  agent.subtract(taken);
  CHECK(agent.describe() == "ports(*):[31000-31004, 31007-31020, 40000-40000]");
  CHECK_FALSE(agent.contains(taken));
}

TEST_CASE("scalars are exact to three decimals and kept per role") {
  Resources agent;
  agent.add_scalar("*", "cpus", to_milli(4));
  agent.add_scalar("batch", "cpus", to_milli(2));
  agent.add_scalar("*", "mem", to_milli(1024));
  CHECK(agent.scalar("cpus") == 6);
  CHECK(agent.offerable_to("other").scalar("cpus") == 4);
  CHECK(agent.offerable_to("batch").scalar("cpus") == 6);

  Resources task;
  task.add_scalar("*", "cpus", to_milli(0.1));
  for (int i = 0; i < 10; ++i) agent.subtract(task);
  CHECK(agent.scalar("cpus") == 5);  // no floating-point drift

  Resources too_much;
  too_much.add_scalar("*", "cpus", to_milli(3.001));
  CHECK_FALSE(agent.contains(too_much));
}

TEST_CASE("TaskInfo resources parse with roles and allocation_info, gpus must be whole") {
  auto value = boost::json::parse(R"([
    {"name":"cpus","type":"SCALAR","scalar":{"value":1.5},"allocation_info":{"role":"batch"}},
    {"name":"mem","type":"SCALAR","scalar":{"value":"256"},"role":"batch"},
    {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":31001}]},
     "reservations":[{"type":"STATIC","role":"batch"}]}])");
  Resources out;
  std::vector<ParsedResource> parsed;
  REQUIRE_FALSE(parse_resources(value, out, parsed));
  REQUIRE(parsed.size() == 3);
  CHECK(parsed[0].role == "*");
  CHECK(parsed[0].allocation_role == "batch");
  CHECK(parsed[1].role == "batch");
  CHECK_FALSE(parsed[1].allocation_role);
  CHECK(parsed[2].role == "batch");
  CHECK(out.describe() == "cpus(*):1.5; mem(batch):256; ports(batch):[31000-31001]");

  auto gpus = boost::json::parse(R"([{"name":"gpus","type":"SCALAR","scalar":{"value":0.5}}])");
  Resources none;
  parsed.clear();
  auto error = parse_resources(gpus, none, parsed);
  REQUIRE(error);
  CHECK(*error == "The 'gpus' resource must be an unsigned integer");
}
