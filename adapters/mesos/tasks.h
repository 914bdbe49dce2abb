#pragma once
// Mesos tasks as Berth executors: the task id is the executor's backend name
// ("<prefix>-<app>-exec-<id>"), so a task reported by reconciliation after a restart names its
// application and executor; the TaskInfo Berth launches (Spark's CoarseGrainedExecutorBackend
// command or the launch spec's, a container image, env, URIs, labels with Berth's ids, a kill
// policy); and TaskStatus updates read with Spark's loss reasons.
//
// Pure; thread-safe.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "adapters/mesos/mesos_config.h"
#include "adapters/mesos/offers.h"
#include "core/backend.h"

namespace berth::mesos {

struct TaskName {
  AppId app;
  ExecutorId executor = 0;
};
// "<prefix>-<app>-exec-<id>" with prefix "<name_prefix>-"; nullopt for any other id.
std::optional<TaskName> parse_task_id(const std::string& task_id, const std::string& prefix);

boost::json::object build_task_info(const LaunchRequest& request, const MesosPoolConfig& config, const Offer& offer,
                                    boost::json::array resources, const std::string& framework_id);

enum class TaskEnd { kNone, kFinished, kFailed, kKilled, kLaunchFailed, kLost, kUnknown };

// One TaskStatus as far as Berth cares.
struct TaskUpdate {
  std::string task_id;
  std::string agent_id;
  std::string state;    // "TASK_RUNNING" ...
  std::string reason;   // "REASON_..."
  std::string message;
  std::string uuid;     // base64; empty: master-generated, never acknowledged
  ObservedPhase phase = ObservedPhase::kPending;
  TaskEnd end = TaskEnd::kNone;
  std::optional<std::int32_t> exit_code;
  bool oom_killed = false;
};
TaskUpdate parse_status(const boost::json::object& status);

// The update as an observation of executor `name`, on `host`. `killed_by_berth`: Berth sent the
// KILL (a TASK_KILLED is then not someone else's doing).
BackendObject to_object(const TaskUpdate& update, const TaskName& name, const std::string& task_id,
                        const std::string& daemon_id, const std::string& host, bool killed_by_berth);

}  // namespace berth::mesos
