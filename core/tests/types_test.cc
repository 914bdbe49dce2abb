#include <catch2/catch.hpp>

#include "core/app_key.h"
#include "core/types.h"

using namespace berth;

TEST_CASE("container memory follows Spark's overhead formula") {
  ResourceProfile p;
  p.heap_mib = 1024;
  CHECK(p.overhead_effective_mib() == 384);  // 10% of 1 GiB is below the 384 MiB floor
  CHECK(p.container_memory_mib() == 1408);
  p.heap_mib = 8192;
  CHECK(p.overhead_effective_mib() == 819);
  p.overhead_factor = 0.4;
  CHECK(p.overhead_effective_mib() == 3276);
  p.overhead_mib = 1000;
  p.offheap_mib = 100;
  p.pyspark_mib = 200;
  CHECK(p.container_memory_mib() == 8192 + 1000 + 100 + 200);
}

TEST_CASE("terminal and pending states") {
  CHECK(is_terminal(ExecutorState::kKilled));
  CHECK_FALSE(is_terminal(ExecutorState::kDecommissioning));
  CHECK(is_pending(ExecutorState::kLaunching));
  CHECK_FALSE(is_pending(ExecutorState::kRunning));
  for (int i = 0; i < kExecutorStateCount; ++i) {
    auto s = static_cast<ExecutorState>(i);
    CHECK(executor_state_from_string(to_string(s)) == s);
  }
}

TEST_CASE("application keys scope names by tenant, and give the name back") {
  CHECK(app_key("default", "etl", "default") == "etl");
  CHECK(app_key("", "etl", "default") == "etl");
  CHECK(app_key("team-b", "etl", "default") == "team-b.etl");
  CHECK(app_key("org.team_B", "etl", "default") == "org.team_B.etl");  // tenant names may hold dots
  CHECK(app_name("etl") == "etl");
  CHECK(app_name("team-b.etl") == "etl");
  CHECK(app_name("org.team_B.etl") == "etl");
  // Two tenants' applications of one name have two keys.
  CHECK(app_key("team-a", "etl", "default") != app_key("team-b", "etl", "default"));
}
