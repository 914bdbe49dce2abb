#include "core/planner.h"

#include <algorithm>
#include <limits>

namespace berth {
namespace {

std::int64_t room(std::int64_t limit, std::int64_t used) {
  if (limit <= 0) return std::numeric_limits<std::int32_t>::max();
  return std::max<std::int64_t>(0, limit - used);
}

}  // namespace

ProfilePlan plan_profile(const ProfilePlanInput& in) {
  ProfilePlan plan;
  if (in.live > in.target) {
    plan.cancel = in.live - in.target;
    return plan;
  }
  std::int64_t allowed = in.target - in.live;
  allowed = std::min(allowed, room(in.max_pending_per_app, in.app_pending));
  allowed = std::min(allowed, room(in.pool_max_pending, in.pool_pending));
  if (in.tenant_limits != nullptr && allowed > 0) {
    const TenantLimits& limits = *in.tenant_limits;
    const TenantUsage& usage = in.tenant_usage;
    auto cap = [&](std::int64_t room_left, const char* limit) {
      if (room_left >= allowed) return;
      allowed = room_left;
      if (room_left == 0) plan.tenant_limit_hit = limit;
    };
    cap(room(limits.max_pending, usage.pending), "max_pending");
    cap(room(limits.max_executors, usage.live), "max_executors");
    if (limits.max_cores > 0) {
      cap(room(limits.max_cores, usage.cores) / std::max(1, in.profile.cores), "max_cores");
    }
    if (limits.max_memory_mib > 0) {
      cap(room(limits.max_memory_mib, usage.memory_mib) /
              std::max<std::int64_t>(1, in.profile.container_memory_mib()),
          "max_memory_mib");
    }
  }
  plan.launch = static_cast<std::int32_t>(allowed);
  plan.report_tenant_limit =
      !plan.tenant_limit_hit.empty() && plan.tenant_limit_hit != "max_pending" && in.tenant_usage.live > 0;
  return plan;
}

}  // namespace berth
