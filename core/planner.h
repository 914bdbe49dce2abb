#pragma once
// The planner: what one reconcile step should do for one resource profile of one application,
// given its target, what it has, and every limit in force. Pure: no state, no clock, no I/O; the
// Engine gathers the inputs, applies the plan, and reports the conditions it names.
//
// Scale-up is bounded by, in order: what is missing (target - live), the application's and the
// pool's room for executors not yet running, and the tenant's limits (pending, live executors,
// cores, memory). Scale-down only ever cancels executors not yet running: a running executor is
// never killed for a lower target (the driver kills idle ones by id).

#include <cstdint>
#include <string>

#include "core/options.h"
#include "core/types.h"

namespace berth {

// What a tenant uses right now, for its limits.
struct TenantUsage {
  std::int32_t live = 0;     // non-terminal executors, decommissioning ones excepted
  std::int32_t pending = 0;  // not yet running
  std::int64_t cores = 0;
  std::int64_t memory_mib = 0;  // container memory, Spark's formula
};

struct ProfilePlanInput {
  std::int32_t target = 0;
  std::int32_t live = 0;             // this profile's live executors (decommissioning excepted)
  std::int32_t app_pending = 0;      // the application's executors not yet running
  std::int32_t max_pending_per_app = 0;  // 0 = unlimited, as every limit here
  std::int32_t pool_pending = 0;     // the chosen pool's executors not yet running
  std::int32_t pool_max_pending = 0;
  const TenantLimits* tenant_limits = nullptr;  // null: no tenant policy
  TenantUsage tenant_usage;
  ResourceProfile profile;
};

struct ProfilePlan {
  std::int32_t cancel = 0;  // executors not yet running to cancel, newest first
  std::int32_t launch = 0;  // new executors to create
  // The tenant limit that stopped scale-up entirely ("max_executors", "max_cores",
  // "max_memory_mib", "max_pending"); empty when none did.
  std::string tenant_limit_hit;
  // Whether the driver should be told (TENANT_LIMIT): a limit other than max_pending stops it
  // while the tenant already runs something (a first executor that does not fit is a config
  // problem the launch itself reports).
  bool report_tenant_limit = false;
};

ProfilePlan plan_profile(const ProfilePlanInput& input);

}  // namespace berth
