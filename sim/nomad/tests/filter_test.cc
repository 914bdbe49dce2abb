// The go-bexpr subset of ?filter= over JSON list items.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "sim/nomad/filter.h"

using berth::sim::nomad::Filter;
namespace json = boost::json;

namespace {

bool matches(const std::string& expression, const json::value& item) {
  std::string error;
  auto filter = Filter::parse(expression, error);
  INFO(expression << ": " << error);
  REQUIRE(filter);
  return filter->matches(item);
}

}  // namespace

TEST_CASE("filter: comparisons, contains, in, empty, boolean operators") {
  const json::value job = json::parse(R"({"ID":"spark-exec-7","Status":"running","Priority":50,"Stop":false,
      "Datacenters":["dc1","dc2"],"Meta":{"owner":"exec-adapter","sim.berth.dev/run-for":"2s"},"Empty":""})");
  CHECK(matches(R"(Meta.owner == "exec-adapter")", job));
  CHECK_FALSE(matches(R"(Meta.owner == "someone")", job));
  CHECK(matches(R"(Meta.missing != "x")", job));
  CHECK_FALSE(matches(R"(Meta.missing == "x")", job));
  CHECK(matches(R"(Meta["sim.berth.dev/run-for"] == "2s")", job));
  CHECK(matches(R"(ID contains "exec")", job));
  CHECK(matches(R"(ID not contains "driver")", job));
  CHECK(matches(R"("dc2" in Datacenters)", job));
  CHECK(matches(R"("dc3" not in Datacenters)", job));
  CHECK(matches(R"(Meta contains "owner")", job));
  CHECK(matches("Priority == 50", job));
  CHECK(matches("Stop == false", job));
  CHECK(matches("Empty is empty and Missing is empty and ID is not empty", job));
  CHECK(matches(R"(ID matches "^spark-exec-[0-9]+$")", job));
  CHECK(matches(R"(Status == `running` and (Meta.owner == "x" or not Stop == true))", job));
  CHECK_FALSE(matches(R"(not (Status == "running"))", job));
}

TEST_CASE("filter: syntax errors are reported") {
  std::string error;
  CHECK_FALSE(Filter::parse(R"(Meta.owner == )", error));
  CHECK_FALSE(error.empty());
  CHECK_FALSE(Filter::parse(R"(Meta.owner === "x")", error));
  CHECK_FALSE(Filter::parse(R"(ID == "unterminated)", error));
  CHECK_FALSE(Filter::parse(R"((ID == "x")", error));
  CHECK_FALSE(Filter::parse(R"(ID matches "(")", error));
}
