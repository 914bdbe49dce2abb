#include <catch2/catch.hpp>

#include "sim/kubernetes/quantity.h"
#include "sim/kubernetes/selector.h"

using namespace berth::sim::kubernetes;

TEST_CASE("quantities parse to milli-units and print canonically") {
  struct Row {
    const char* text;
    std::int64_t milli;
    const char* canonical;
  };
  const Row rows[] = {
      {"500m", 500, "500m"},      {"2", 2000, "2"},
      {"1000m", 1000, "1"},       {"0.5", 500, "500m"},
      {"1.5", 1500, "1500m"},     {"4Gi", 4LL * 1024 * 1024 * 1024 * 1000, "4Gi"},
      {"1.5Gi", 1536LL * 1024 * 1024 * 1000, "1536Mi"}, {"1024Mi", 1024LL * 1024 * 1024 * 1000, "1Gi"},
      {"1000", 1000 * 1000, "1k"}, {"1e3", 1000 * 1000, "1k"},
      {"1M", 1000LL * 1000 * 1000, "1M"}, {"0", 0, "0"},
  };
  for (const auto& row : rows) {
    INFO(row.text);
    auto q = parse_quantity(row.text);
    REQUIRE(q);
    CHECK(q->milli == row.milli);
    CHECK(canonical(*q) == row.canonical);
  }
  for (const char* bad : {"", "abc", "1.2.3", "5Xi", "m", "1 Gi"}) {
    INFO(bad);
    CHECK_FALSE(parse_quantity(bad));
  }
}

TEST_CASE("label selectors: equality and set syntax") {
  std::string error;
  const Labels labels{{"app", "spark"}, {"role", "executor"}, {"tier", "a"}};
  struct Row {
    const char* selector;
    bool matches;
  };
  const Row rows[] = {
      {"", true},
      {"app=spark", true},
      {"app==spark", true},
      {"app!=spark", false},
      {"app=other", false},
      {"app=spark,role=executor", true},
      {"app=spark,role=driver", false},
      {"role in (driver, executor)", true},
      {"role notin (driver,executor)", false},
      {"missing notin (x)", true},
      {"missing!=x", true},
      {"tier", true},
      {"!tier", false},
      {"!missing", true},
      {"role in (executor),tier in (a,b),app", true},
  };
  for (const auto& row : rows) {
    INFO(row.selector);
    auto selector = LabelSelector::parse(row.selector, error);
    REQUIRE(selector);
    CHECK(selector->matches(labels) == row.matches);
  }
  for (const char* bad : {"role in ()", "role in (a", "a b c", "=x", "role zz (a)"}) {
    INFO(bad);
    CHECK_FALSE(LabelSelector::parse(bad, error));
  }
}

TEST_CASE("field selectors: supported pod fields only") {
  std::string error;
  auto selector = FieldSelector::parse("metadata.name=a,status.phase!=Failed", error);
  REQUIRE(selector);
  CHECK(selector->matches({{"metadata.name", "a"}, {"status.phase", "Running"}}));
  CHECK_FALSE(selector->matches({{"metadata.name", "a"}, {"status.phase", "Failed"}}));
  CHECK_FALSE(selector->matches({{"metadata.name", "b"}, {"status.phase", "Running"}}));
  auto unscheduled = FieldSelector::parse("spec.nodeName=", error);
  REQUIRE(unscheduled);
  CHECK(unscheduled->matches({{"spec.nodeName", ""}}));
  CHECK_FALSE(FieldSelector::parse("spec.foo=bar", error));
  CHECK(error == "field label not supported: spec.foo");
  CHECK_FALSE(FieldSelector::parse("metadata.name", error));
}
