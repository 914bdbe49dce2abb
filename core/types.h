#pragma once
// The vocabulary of Berth's executor-lifecycle model: applications, resource profiles,
// executors and their states. Plain values, no I/O; every other component speaks these types.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/shared_value.h"

namespace berth {

using AppId = std::string;
using ExecutorId = std::int64_t;   // 1, 2, 3 ... per application, never reused
using ProfileId = std::int32_t;    // Spark's resource profile id (0 = default profile)
using PoolName = std::string;
using TenantName = std::string;
using Revision = std::uint64_t;    // monotonic per daemon
using Duration = std::chrono::milliseconds;
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

inline constexpr std::int64_t kMinOverheadMib = 384;
inline constexpr double kDefaultOverheadFactor = 0.10;

struct CustomResource {
  std::string name;    // "gpu"
  std::string vendor;  // "nvidia.com"
  std::int64_t amount = 0;
  bool operator==(const CustomResource&) const = default;
};

struct ResourceProfile {
  ProfileId id = 0;
  std::int32_t cores = 1;
  std::int64_t heap_mib = 1024;
  std::int64_t overhead_mib = 0;  // 0 = derive from overhead_factor
  double overhead_factor = 0;     // 0 = kDefaultOverheadFactor
  std::int64_t offheap_mib = 0;
  std::int64_t pyspark_mib = 0;
  std::vector<CustomResource> resources;

  // Spark's container-memory formula: heap + overhead + off-heap + pyspark, where the overhead is
  // overhead_mib when given, else max(factor x heap, 384 MiB).
  std::int64_t overhead_effective_mib() const;
  std::int64_t container_memory_mib() const;
  bool operator==(const ResourceProfile&) const = default;
};

struct LaunchSpec {
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  bool operator==(const LaunchSpec&) const = default;
};

struct DriverPod {
  std::string name_space;
  std::string name;
  std::string uid;
  bool operator==(const DriverPod&) const = default;
};

struct DriverRef {
  std::string url;
  std::optional<DriverPod> pod;
  bool operator==(const DriverRef&) const = default;
};

// What a driver registers. Two registrations of the same app id are the same application exactly
// when their specs compare equal.
struct AppSpec {
  AppId id;
  TenantName tenant;
  std::vector<PoolName> pools;  // ordered by preference
  std::vector<ResourceProfile> profiles;
  SharedValue<LaunchSpec> launch;  // never edited in place: events and snapshots share it
  DriverRef driver;
  Duration lease_ttl{0};        // 0 = no lease

  const ResourceProfile* profile(ProfileId id) const;
  bool operator==(const AppSpec&) const = default;
};

enum class AppPhase { kActive, kOrphaned, kEnded };
const char* to_string(AppPhase phase);

struct Application {
  AppSpec spec;
  AppPhase phase = AppPhase::kActive;
  std::map<ProfileId, std::int32_t> targets;
  ExecutorId next_executor_id = 1;  // the next id to issue; persisted so ids survive restarts
  Timestamp created{};
  Timestamp lease_deadline{};       // meaningful when spec.lease_ttl > 0
  Timestamp orphaned_at{};
  Timestamp ended_at{};
  std::int32_t launch_failures = 0; // refused launches and quick failures, against the failure budget
  std::vector<std::string> conditions;
  std::string end_reason;
  Revision revision = 0;
};

enum class ExecutorState {
  kRequested,
  kLaunching,
  kPending,
  kRunning,
  kDecommissioning,
  kSucceeded,
  kFailed,
  kKilled,
  kLost,
  kLaunchFailed,
  kCancelled,
};
inline constexpr int kExecutorStateCount = 11;
const char* to_string(ExecutorState state);
std::optional<ExecutorState> executor_state_from_string(const std::string& name);
bool is_terminal(ExecutorState state);
// Not yet running: REQUESTED, LAUNCHING or PENDING.
bool is_pending(ExecutorState state);

// Why an executor ended, in Spark's loss taxonomy.
struct Loss {
  std::string reason;        // "exited", "oom_killed", "killed_by_driver", "lease_expired" ...
  bool caused_by_app = false;
  std::string message;
  bool host_lost = false;
  bool operator==(const Loss&) const = default;
};

// Opaque state an adapter keeps for one executor across restarts (a Mesos agent id, a process's
// identity), in the manner of Nomad's TaskHandle: core stores it with the executor, durably, and
// gives it back through Backend::recover() without reading it. `version` lets an adapter read
// handles an older berthd wrote.
struct BackendHandle {
  std::int32_t version = 0;
  std::string data;  // at most kMaxBackendHandleBytes
  bool empty() const { return version == 0 && data.empty(); }
  bool operator==(const BackendHandle&) const = default;
};
inline constexpr std::size_t kMaxBackendHandleBytes = 4096;

struct Executor {
  AppId app;
  ExecutorId id = 0;
  ProfileId profile = 0;
  PoolName pool;
  std::string backend_name;  // deterministic: <prefix>-<app>-exec-<id>
  ExecutorState state = ExecutorState::kRequested;
  std::string host;
  std::optional<std::int32_t> exit_code;
  Loss loss;
  Timestamp requested{};
  Timestamp launched{};
  Timestamp running{};
  Timestamp ended{};
  std::int32_t attempt = 0;  // launch attempts sent
  Revision revision = 0;
  BackendHandle handle;      // the adapter's, for recovery (never shown to drivers)
  bool operator==(const Executor&) const = default;
};

// The approximate memory a record holds (strings and containers), for byte bounds.
std::size_t approximate_bytes(const LaunchSpec& launch);
// The bytes of a launch spec's strings (image, command, args, env, labels, annotations): what a
// driver sent, as tenant limits count it.
std::size_t launch_spec_bytes(const LaunchSpec& launch);
// Without its launch spec, which copies of the record share (AppSpec::launch).
std::size_t approximate_bytes(const Application& app);
std::size_t approximate_bytes(const Executor& executor);

struct ExecutorKey {
  AppId app;
  ExecutorId id = 0;
  auto operator<=>(const ExecutorKey&) const = default;
};

}  // namespace berth
