// Engine::check_invariants(): every counter and index the Engine keeps incrementally, recounted
// from the executors themselves. Slow (O(executors)); for tests and fuzzers only.

#include "core/engine.h"
#include "core/engine_state.h"

namespace berth {

std::vector<std::string> Engine::check_invariants() const {
  std::vector<std::string> broken;
  auto expect = [&](bool ok, const std::string& what) {
    if (!ok) broken.push_back(what);
  };
  const std::set<ExecutorKey> awaiting_commit = commits_.created_not_durable();
  std::map<PoolName, std::map<ExecutorState, std::int32_t>> pool_counts;
  std::map<PoolName, std::int32_t> pool_pending;
  std::map<TenantName, TenantUsage> tenant_usage;
  for (const auto& [app_id, app] : apps_) {
    std::map<ProfileId, std::int32_t> live_by_profile;
    std::int32_t pending = 0;
    std::set<ExecutorId> unobserved;
    TenantUsage& usage = tenant_usage[app->app.spec.tenant];
    for (const auto& [id, executor] : app->executors) {
      const std::string who = "executor " + app_id + "/" + std::to_string(id);
      expect(executor.app == app_id && executor.id == id, who + ": keyed under another id");
      expect(executor.id < app->app.next_executor_id, who + ": id not below the app's next id");
      expect(pools_.count(executor.pool) > 0, who + ": pool " + executor.pool + " unknown");
      pool_counts[executor.pool][executor.state]++;
      const ExecutorKey key{app_id, id};
      const PoolState* pool = pools_.count(executor.pool) > 0 ? pools_.at(executor.pool).get() : nullptr;
      const bool queued = pool != nullptr && pool->launch_queue.contains(key);
      if (executor.state == ExecutorState::kRequested) {
        const int places = int(queued) + int(app->launch_inflight.count(id) > 0) + int(awaiting_commit.count(key) > 0);
        expect(places == 1, who + ": REQUESTED but in " + std::to_string(places) +
                                " of (launch queue, launch in flight, awaiting commit)");
      } else {
        expect(!queued, who + ": queued for launch in state " + to_string(executor.state));
      }
      expect(executor.state == ExecutorState::kDecommissioning || app->decommission_deadline.count(id) == 0,
             who + ": decommission deadline in state " + to_string(executor.state));
      if (is_terminal(executor.state)) continue;
      if (executor.state != ExecutorState::kDecommissioning) {
        live_by_profile[executor.profile]++;
        usage.live++;
        if (const ResourceProfile* profile = app->app.spec.profile(executor.profile)) {
          usage.cores += profile->cores;
          usage.memory_mib += profile->container_memory_mib();
        }
      }
      if (is_pending(executor.state)) {
        pending++;
        usage.pending++;
        pool_pending[executor.pool]++;
      }
      if (executor.state == ExecutorState::kRequested || executor.state == ExecutorState::kLaunching) {
        unobserved.insert(id);
      }
    }
    for (const auto& [profile, count] : app->live_by_profile) {
      const std::int32_t expected = live_by_profile.count(profile) ? live_by_profile.at(profile) : 0;
      expect(count == expected, "app " + app_id + ": live executors of profile " + std::to_string(profile) +
                                    " counted " + std::to_string(count) + ", are " + std::to_string(expected));
    }
    for (const auto& [profile, count] : live_by_profile) {
      expect(app->live_by_profile.count(profile) > 0, "app " + app_id + ": profile " + std::to_string(profile) +
                                                          " has live executors but no count");
    }
    expect(app->pending == pending, "app " + app_id + ": pending counted " + std::to_string(app->pending) +
                                        ", are " + std::to_string(pending));
    expect(app->unobserved == unobserved, "app " + app_id + ": unobserved set differs from the executors");
    ProfileCounts recount;
    for (const auto& [id, executor] : app->executors) recount[executor.profile][executor.state]++;
    for (const auto& [profile, states] : app->counts) {
      for (const auto& [state, count] : states) {
        const std::int32_t want = recount[profile].count(state) ? recount[profile].at(state) : 0;
        expect(count == want, "app " + app_id + ": " + to_string(state) + " executors of profile " +
                                  std::to_string(profile) + " counted " + std::to_string(count) + ", are " +
                                  std::to_string(want));
      }
    }
  }
  for (const auto& [name, pool] : pools_) {
    for (const auto& [state, count] : pool->counts) {
      const auto& expected = pool_counts[name];
      const std::int32_t want = expected.count(state) ? expected.at(state) : 0;
      expect(count == want, "pool " + name + ": " + to_string(state) + " counted " + std::to_string(count) +
                                ", are " + std::to_string(want));
    }
    for (const auto& [state, count] : pool_counts[name]) {
      expect(pool->counts.count(state) > 0, "pool " + name + ": " + to_string(state) + " not counted");
    }
    expect(pool->pending == pool_pending[name], "pool " + name + ": pending counted " +
                                                   std::to_string(pool->pending) + ", are " +
                                                   std::to_string(pool_pending[name]));
    expect(pool->launches_inflight >= 0, "pool " + name + ": negative launches in flight");
    const PoolName& pool_name = name;
    pool->launch_queue.for_each([&](const ExecutorKey& key) {
      auto app = apps_.find(key.app);
      const bool known = app != apps_.end() && app->second->executors.count(key.id) > 0 &&
                         app->second->executors.at(key.id).pool == pool_name;
      expect(known, "pool " + pool_name + ": queued executor " + key.app + "/" + std::to_string(key.id) +
                        " is not one of its executors");
    });
  }
  for (const auto& [tenant, usage] : tenant_usage_) {
    const TenantUsage& want = tenant_usage[tenant];
    expect(usage.live == want.live && usage.pending == want.pending && usage.cores == want.cores &&
               usage.memory_mib == want.memory_mib,
           "tenant " + tenant + ": usage counted (live " + std::to_string(usage.live) + ", pending " +
               std::to_string(usage.pending) + ", cores " + std::to_string(usage.cores) + ") differs from (" +
               std::to_string(want.live) + ", " + std::to_string(want.pending) + ", " + std::to_string(want.cores) + ")");
  }
  return broken;
}

}  // namespace berth
