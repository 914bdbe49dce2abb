#pragma once
// The Engine's private per-application and per-pool state, shared by the files that implement the
// Engine (engine.cc, engine_invariants.cc). Nothing outside core/engine*.cc includes this.

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/engine.h"
#include "core/pool_sync.h"

namespace berth {

// Per-application state: the record, its executors and the bookkeeping of timers and calls in
// flight. The counters are maintained incrementally by account() so that a reconcile pass costs
// O(apps), not O(executors).
struct Engine::AppState {
  Application app;
  std::map<ExecutorId, Executor> executors;
  std::map<ProfileId, std::int32_t> live_by_profile;  // non-terminal, not decommissioning
  ProfileCounts counts;                                // every executor, by profile and state
  std::int32_t pending = 0;                            // REQUESTED, LAUNCHING, PENDING
  std::set<ExecutorId> unobserved;                     // REQUESTED or LAUNCHING: the launch timeout runs
  std::map<ExecutorId, Timestamp> missing_since;       // absent from a full list since
  std::map<ExecutorId, Timestamp> decommission_deadline;
  std::set<ExecutorId> launch_inflight;
  std::deque<Timestamp> recent_failures;  // refused launches within failure_window (memory only)
};

struct Engine::PoolState {
  PoolPolicy policy;
  Backend* backend = nullptr;
  std::unique_ptr<Backend> stand_in;  // a removed pool's backend (answers every call unavailable)
  PoolSync sync;
  bool draining = false;
  bool removed = false;
  std::int32_t pending = 0;
  std::map<ExecutorState, std::int32_t> counts;
  KillTracker kills;
  LaunchQueue launch_queue;
  std::int32_t launches_inflight = 0;
  std::uint64_t kills_sent = 0;
  std::uint64_t launches_sent = 0;
};

// A lifecycle event with only a type and a message (what core itself decides).
inline LifecycleEvent event_of(LifecycleEventType type, std::string message = "") {
  return LifecycleEvent{type, std::nullopt, false, "", std::move(message), ""};
}

// Whether `app` has `condition` ("NAME" or "NAME: message").
inline bool has_condition(const Application& app, const std::string& condition) {
  return std::any_of(app.conditions.begin(), app.conditions.end(), [&](const std::string& c) {
    return c == condition || c.rfind(condition + ":", 0) == 0;
  });
}

}  // namespace berth
