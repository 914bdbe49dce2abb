#include "core/types.h"

#include <algorithm>
#include <cmath>

namespace berth {

std::int64_t ResourceProfile::overhead_effective_mib() const {
  if (overhead_mib > 0) return overhead_mib;
  const double factor = overhead_factor > 0 ? overhead_factor : kDefaultOverheadFactor;
  return std::max<std::int64_t>(static_cast<std::int64_t>(factor * static_cast<double>(heap_mib)),
                                kMinOverheadMib);
}

std::int64_t ResourceProfile::container_memory_mib() const {
  return heap_mib + overhead_effective_mib() + offheap_mib + pyspark_mib;
}

const ResourceProfile* AppSpec::profile(ProfileId profile_id) const {
  auto it = std::find_if(profiles.begin(), profiles.end(),
                         [&](const ResourceProfile& p) { return p.id == profile_id; });
  return it == profiles.end() ? nullptr : &*it;
}

const char* to_string(AppPhase phase) {
  switch (phase) {
    case AppPhase::kActive: return "ACTIVE";
    case AppPhase::kOrphaned: return "ORPHANED";
    case AppPhase::kEnded: return "ENDED";
  }
  return "UNKNOWN";
}

const char* to_string(ExecutorState state) {
  switch (state) {
    case ExecutorState::kRequested: return "REQUESTED";
    case ExecutorState::kLaunching: return "LAUNCHING";
    case ExecutorState::kPending: return "PENDING";
    case ExecutorState::kRunning: return "RUNNING";
    case ExecutorState::kDecommissioning: return "DECOMMISSIONING";
    case ExecutorState::kSucceeded: return "SUCCEEDED";
    case ExecutorState::kFailed: return "FAILED";
    case ExecutorState::kKilled: return "KILLED";
    case ExecutorState::kLost: return "LOST";
    case ExecutorState::kLaunchFailed: return "LAUNCH_FAILED";
    case ExecutorState::kCancelled: return "CANCELLED";
  }
  return "UNKNOWN";
}

std::optional<ExecutorState> executor_state_from_string(const std::string& name) {
  for (int i = 0; i < kExecutorStateCount; ++i) {
    auto state = static_cast<ExecutorState>(i);
    if (name == to_string(state)) return state;
  }
  return std::nullopt;
}

bool is_terminal(ExecutorState state) {
  switch (state) {
    case ExecutorState::kSucceeded:
    case ExecutorState::kFailed:
    case ExecutorState::kKilled:
    case ExecutorState::kLost:
    case ExecutorState::kLaunchFailed:
    case ExecutorState::kCancelled:
      return true;
    default:
      return false;
  }
}

bool is_pending(ExecutorState state) {
  return state == ExecutorState::kRequested || state == ExecutorState::kLaunching ||
         state == ExecutorState::kPending;
}

std::size_t launch_spec_bytes(const LaunchSpec& launch) {
  std::size_t bytes = launch.image.size();
  for (const auto* words : {&launch.command, &launch.args}) {
    for (const auto& word : *words) bytes += word.size();
  }
  for (const auto* map : {&launch.env, &launch.labels, &launch.annotations}) {
    for (const auto& [key, value] : *map) bytes += key.size() + value.size();
  }
  return bytes;
}

std::size_t approximate_bytes(const LaunchSpec& launch) {
  std::size_t bytes = sizeof(LaunchSpec) + launch.image.size();
  for (const auto& part : launch.command) bytes += part.size() + 32;
  for (const auto& part : launch.args) bytes += part.size() + 32;
  for (const auto* map : {&launch.env, &launch.labels, &launch.annotations}) {
    for (const auto& [key, value] : *map) bytes += key.size() + value.size() + 64;
  }
  return bytes;
}

std::size_t approximate_bytes(const Application& app) {
  const AppSpec& spec = app.spec;
  std::size_t bytes = sizeof(Application) + spec.id.size() + spec.tenant.size() + spec.driver.url.size() +
                      app.end_reason.size();
  for (const auto& pool : spec.pools) bytes += pool.size() + 32;
  bytes += spec.profiles.size() * sizeof(ResourceProfile);
  for (const auto& condition : app.conditions) bytes += condition.size() + 32;
  bytes += app.targets.size() * 48;
  return bytes;
}

std::size_t approximate_bytes(const Executor& executor) {
  return sizeof(Executor) + executor.app.size() + executor.pool.size() + executor.backend_name.size() +
         executor.host.size() + executor.loss.reason.size() + executor.loss.message.size() + executor.handle.data.size();
}

}  // namespace berth
