#pragma once
// Policies core enforces: daemon-wide reconciler options, per-pool and per-tenant limits.
// config/ fills these from YAML; tests build them directly.

#include <string>
#include <vector>

#include "core/types.h"

namespace berth {

// 0 means unlimited for every field.
struct TenantLimits {
  std::int32_t max_executors = 0;   // live (non-terminal) executors across the tenant's apps
  std::int32_t max_cores = 0;
  std::int64_t max_memory_mib = 0;  // container memory, Spark's formula
  std::int32_t max_pending = 0;     // executors not yet running
  std::int32_t max_apps = 0;        // applications not ended, registered at once
  std::int32_t max_watchers = 0;    // WatchEvents streams open at once
  std::int32_t max_launch_spec_kib = 0;  // one application's launch spec (launch_spec_bytes)
  bool operator==(const TenantLimits&) const = default;
};

struct TenantPolicy {
  TenantName name;
  TenantLimits limits;
  std::vector<PoolName> default_pools;   // used when an app names no pools
  std::vector<PoolName> allowed_pools;   // empty = every pool
  bool operator==(const TenantPolicy&) const = default;
};

struct PoolPolicy {
  PoolName name;
  std::string type;                  // local, kubernetes, nomad, mesos
  std::int32_t max_pending = 1000;   // executors not yet running in this pool
  // Launch calls outstanding at the backend at once. More only queue inside the adapter (behind
  // its connections and rate limiter) where they would time out and trigger back-off.
  std::int32_t max_inflight_launches = 64;
  bool operator==(const PoolPolicy&) const = default;
};

struct EngineOptions {
  std::string name_prefix = "berth";          // backend names: <prefix>-<app>-exec-<id>
  std::int32_t max_pending_per_app = 100;     // executors not yet running, per application
  std::int32_t failure_budget = 10;           // non-retryable launch failures and quick failures
                                              // within failure_window before an app stops scaling up
  Duration failure_window{std::chrono::minutes(10)};  // failures older than this no longer count
  // An executor that fails (by its own doing: a non-zero exit, OOM) within this long of starting
  // counts against the failure budget like a refused launch: a command that cannot start would
  // otherwise be relaunched for ever, every launch accepted and every executor dead at once.
  Duration quick_failure{std::chrono::minutes(1)};
  Duration launch_timeout{std::chrono::minutes(10)};  // requested but never observed
  Duration missing_grace{std::chrono::seconds(30)};   // absent from a full list this long = LOST
  Duration orphan_grace{std::chrono::seconds(30)};    // lease lapsed this long = executors killed
  Duration resync_interval{std::chrono::seconds(60)}; // full list of each pool
  Duration backoff_initial{std::chrono::seconds(1)};
  Duration backoff_max{std::chrono::seconds(60)};
  Duration kill_grace{std::chrono::seconds(5)};
  // A kill the backend accepted is sent again only if its object is still seen alive after its
  // grace plus this margin (doubled per attempt, up to kill_retry_max).
  Duration kill_retry_margin{std::chrono::seconds(30)};
  Duration kill_retry_max{std::chrono::minutes(5)};
  Duration decommission_grace{std::chrono::seconds(60)};
  Duration ended_retention{std::chrono::hours(1)};    // ended apps and their executors are forgotten after this
  std::size_t event_window = 100'000;                 // events kept in memory for WatchEvents resume
  std::size_t event_window_bytes = 64u << 20;         // ... and at most this much of them
};

}  // namespace berth
