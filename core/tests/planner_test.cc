#include <catch2/catch.hpp>

#include "core/planner.h"

using namespace berth;

namespace {

struct Row {
  const char* what;
  std::int32_t target, live, app_pending, max_pending_per_app, pool_pending, pool_max_pending;
  std::optional<TenantLimits> limits;
  TenantUsage usage;
  // expected
  std::int32_t cancel, launch;
  const char* limit_hit;
  bool report;
};

}  // namespace

TEST_CASE("plan_profile: one row per rule") {
  // A profile of 2 cores, 1024 MiB heap: 1408 MiB of container memory (384 MiB overhead).
  ResourceProfile profile{0, 2, 1024, 0, 0, 0, 0, {}};
  const std::vector<Row> rows = {
      {"at target: nothing", 3, 3, 0, 100, 0, 1000, std::nullopt, {}, 0, 0, "", false},
      {"missing executors are launched", 5, 2, 0, 100, 0, 1000, std::nullopt, {}, 0, 3, "", false},
      {"above target: cancel the excess", 1, 4, 2, 100, 2, 1000, std::nullopt, {}, 3, 0, "", false},
      {"the app's room for pending bounds it", 50, 0, 8, 10, 8, 1000, std::nullopt, {}, 0, 2, "", false},
      {"the pool's room for pending bounds it", 50, 0, 0, 100, 995, 1000, std::nullopt, {}, 0, 5, "", false},
      {"0 is unlimited", 500, 0, 0, 0, 0, 0, std::nullopt, {}, 0, 500, "", false},
      {"tenant max_executors, partly", 10, 0, 0, 100, 0, 1000, TenantLimits{8, 0, 0, 0, 0}, {5, 0, 10, 0}, 0, 3, "", false},
      {"tenant max_executors reached while running: reported", 10, 5, 0, 100, 0, 1000, TenantLimits{5, 0, 0, 0, 0},
       {5, 0, 10, 0}, 0, 0, "max_executors", true},
      {"tenant max_cores in whole executors", 10, 0, 0, 100, 0, 1000, TenantLimits{0, 7, 0, 0, 0}, {1, 0, 2, 0}, 0, 2, "",
       false},
      {"tenant max_memory_mib", 10, 0, 0, 100, 0, 1000, TenantLimits{0, 0, 3000, 0, 0}, {}, 0, 2, "", false},
      {"tenant max_pending reached: not reported", 10, 2, 2, 100, 2, 1000, TenantLimits{0, 0, 0, 2, 0}, {2, 2, 4, 0}, 0, 0,
       "max_pending", false},
      {"a first executor that does not fit: not reported", 1, 0, 0, 100, 0, 1000, TenantLimits{0, 1, 0, 0, 0}, {}, 0, 0,
       "max_cores", false},
      {"no room anyway: no tenant limit named", 10, 0, 10, 10, 10, 1000, TenantLimits{1, 0, 0, 0, 0}, {1, 0, 2, 0}, 0, 0,
       "", false},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    ProfilePlanInput input;
    input.target = row.target;
    input.live = row.live;
    input.app_pending = row.app_pending;
    input.max_pending_per_app = row.max_pending_per_app;
    input.pool_pending = row.pool_pending;
    input.pool_max_pending = row.pool_max_pending;
    input.tenant_limits = row.limits ? &*row.limits : nullptr;
    input.tenant_usage = row.usage;
    input.profile = profile;
    const ProfilePlan plan = plan_profile(input);
    CHECK(plan.cancel == row.cancel);
    CHECK(plan.launch == row.launch);
    CHECK(plan.tenant_limit_hit == row.limit_hit);
    CHECK(plan.report_tenant_limit == row.report);
  }
}
