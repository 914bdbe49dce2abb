#include "adapters/nomad/alloc_status.h"

#include <algorithm>
#include <boost/json/array.hpp>
#include <charconv>

namespace berth::nomad {
namespace {

namespace json = boost::json;

std::string string_field(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : "";
}

std::int64_t int_field(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  if (value == nullptr) return 0;
  if (value->is_int64()) return value->as_int64();
  if (value->is_uint64()) return static_cast<std::int64_t>(value->as_uint64());
  if (value->is_double()) return static_cast<std::int64_t>(value->as_double());
  return 0;
}

std::uint64_t index_field(const json::object& object, const char* key) {
  const std::int64_t value = int_field(object, key);
  return value > 0 ? static_cast<std::uint64_t>(value) : 0;
}

std::optional<std::int64_t> parse_int(const std::string& text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

const json::object* object_field(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_object() ? &value->as_object() : nullptr;
}

// The task state that speaks for the executor: the named task, else the only (or first) one.
const json::object* executor_task_state(const json::object& alloc, const std::string& task) {
  const json::object* states = object_field(alloc, "TaskStates");
  if (states == nullptr || states->empty()) return nullptr;
  if (const json::object* named = object_field(*states, task.c_str())) return named;
  const auto& first = states->begin()->value();
  return first.is_object() ? &first.as_object() : nullptr;
}

bool is_start_failure(const std::string& type) {
  return type == "Driver Failure" || type == "Setup Failure" || type == "Failed Validation" ||
         type == "Failed Artifact Download" || type == "Task hook failed";
}

std::string event_text(const json::object& event) {
  for (const char* key : {"DriverError", "SetupError", "ValidationError", "DownloadError", "Message", "DisplayMessage"}) {
    std::string text = string_field(event, key);
    if (!text.empty()) return text;
  }
  return string_field(event, "Type");
}

// What the executor task's events tell: started or not, its end, a start failure.
struct TaskStory {
  bool started = false;
  std::optional<std::int32_t> exit_code;
  bool oom_killed = false;
  std::string failure_type;     // the last start failure event's type
  std::string failure_message;
  std::string progress;         // the last Driver event (e.g. "Downloading image")
  std::string end_message;      // the Terminated event's text
};

TaskStory read_events(const json::object* task_state) {
  TaskStory story;
  if (task_state == nullptr) return story;
  const auto* events = task_state->if_contains("Events");
  if (events == nullptr || !events->is_array()) return story;
  for (const auto& item : events->as_array()) {
    if (!item.is_object()) continue;
    const json::object& event = item.as_object();
    const std::string type = string_field(event, "Type");
    if (type == "Started") {
      story.started = true;
    } else if (type == "Driver") {
      story.progress = string_field(event, "DriverMessage");
      if (story.progress.empty()) story.progress = event_text(event);
    } else if (is_start_failure(type)) {
      story.failure_type = type;
      story.failure_message = event_text(event);
    } else if (type == "Terminated") {
      // Details (strings) are current; the numeric fields are deprecated but still filled.
      std::int64_t code = int_field(event, "ExitCode");
      std::int64_t signal = int_field(event, "Signal");
      bool oom = false;
      if (const json::object* details = object_field(event, "Details")) {
        if (auto parsed = parse_int(string_field(*details, "exit_code"))) code = *parsed;
        if (auto parsed = parse_int(string_field(*details, "signal"))) signal = *parsed;
        oom = string_field(*details, "oom_killed") == "true";
      }
      if (code == 0 && signal > 0) code = 128 + signal;  // as a shell reports a signalled process
      if (oom && code == 0) code = 137;
      story.exit_code = static_cast<std::int32_t>(code);
      story.oom_killed = oom;
      story.end_message = string_field(event, "DisplayMessage");
    }
  }
  return story;
}

}  // namespace

std::optional<JobIdentity> identity_of(const json::object& job) {
  const json::object* meta = object_field(job, "Meta");
  if (meta == nullptr || !meta->contains(kLabelDaemon)) return std::nullopt;
  JobIdentity identity;
  identity.job_id = string_field(job, "ID");
  identity.daemon_id = string_field(*meta, kLabelDaemon);
  identity.app = string_field(*meta, kLabelApp);
  identity.pool = string_field(*meta, kLabelPool);
  const auto executor = parse_int(string_field(*meta, kLabelExecutor));
  const auto profile = parse_int(string_field(*meta, kLabelProfile));
  if (identity.job_id.empty() || identity.app.empty() || !executor || *executor <= 0) return std::nullopt;
  identity.executor = static_cast<ExecutorId>(*executor);
  identity.profile = static_cast<ProfileId>(profile.value_or(0));
  return identity;
}

AllocState alloc_state(const json::object& alloc, const std::string& executor_task) {
  AllocState state;
  state.id = string_field(alloc, "ID");
  state.create_index = index_field(alloc, "CreateIndex");
  state.modify_index = index_field(alloc, "ModifyIndex");
  state.host = string_field(alloc, "NodeName");
  const std::string desired = string_field(alloc, "DesiredStatus");
  state.stop_desired = desired == "stop" || desired == "evict";
  const std::string client = string_field(alloc, "ClientStatus");
  const TaskStory story = read_events(executor_task_state(alloc, executor_task));

  if (client == "running") {
    state.phase = ObservedPhase::kRunning;
  } else if (client == "complete" || client == "failed") {
    state.phase = ObservedPhase::kExited;
    state.exit_code = story.exit_code.value_or(client == "complete" ? 0 : 1);
    state.oom_killed = story.oom_killed;
    if (client == "failed" && !story.started && !story.failure_type.empty()) {
      // The task never ran: its image, artifacts or driver config are wrong.
      state.start_failed = true;
      state.exit_code.reset();
      state.reason = "DriverFailure";
      state.message = story.failure_type + ": " + story.failure_message;
    } else {
      state.reason = story.oom_killed ? "OOMKilled" : client == "complete" ? "Completed" : "Error";
      state.message = !story.end_message.empty() ? story.end_message : string_field(alloc, "ClientDescription");
    }
  } else if (client == "lost") {
    state.phase = ObservedPhase::kLost;
    state.reason = "NodeLost";
    state.message = "allocation " + state.id + " lost with node " + state.host;
    if (std::string description = string_field(alloc, "ClientDescription"); !description.empty()) {
      state.message += ": " + description;
    }
  } else if (client == "unknown") {
    // Its node is disconnected but may come back: not lost yet.
    state.phase = story.started ? ObservedPhase::kRunning : ObservedPhase::kPending;
    state.reason = "NodeDisconnected";
  } else {
    state.phase = ObservedPhase::kPending;
    state.reason = story.progress.empty() ? "Pending" : "Starting";
    state.message = story.progress;
  }
  return state;
}

BackendObject to_object(const JobState& job, bool killed_by_berth) {
  BackendObject object;
  object.backend_name = job.identity.job_id;
  object.daemon_id = job.identity.daemon_id;
  object.app = job.identity.app;
  object.executor = job.identity.executor;
  object.profile = job.identity.profile;
  if (!job.alloc) {
    if (job.stopped) return gone_object(job, killed_by_berth);
    object.phase = ObservedPhase::kPending;
    if (!job.placement_failure.empty()) {
      object.reason = kReasonUnschedulable;
      object.message = job.placement_failure;
    }
    return object;
  }
  const AllocState& alloc = *job.alloc;
  object.phase = alloc.phase;
  object.exit_code = alloc.exit_code;
  object.oom_killed = alloc.oom_killed;
  object.start_failed = alloc.start_failed;
  object.host = alloc.host;
  object.reason = alloc.reason;
  object.message = alloc.message;
  if (killed_by_berth) return object;
  const bool stopped_by_others = job.stopped || job.alloc_stopped_by_others;
  if (stopped_by_others && !alloc.start_failed && alloc.phase != ObservedPhase::kLost) {
    // `nomad job stop`, `nomad alloc stop` or a preemption: not the executor's own end, and
    // Nomad's replacement allocation (if any) is not this executor any more.
    object.phase = ObservedPhase::kExited;
    object.deleted_externally = true;
    object.reason = job.stopped ? "JobStopped" : "AllocationStopped";
    object.message = job.stopped ? "job " + job.identity.job_id + " was stopped outside Berth"
                                 : "allocation of job " + job.identity.job_id + " was stopped or preempted outside Berth";
  }
  return object;
}

bool reported_ended(const JobState& job, bool killed_by_berth) {
  const ObservedPhase phase = to_object(job, killed_by_berth).phase;
  if (phase == ObservedPhase::kPending || phase == ObservedPhase::kRunning) return false;
  return !replacement_object(job);
}

bool settled(const JobState& job) {
  const auto ended = [](const std::optional<AllocState>& alloc) {
    return !alloc || alloc->phase == ObservedPhase::kExited || alloc->phase == ObservedPhase::kLost;
  };
  return (job.dead || job.stopped) && ended(job.alloc) && ended(job.replacement);
}

std::uint64_t last_index(const JobState& job) {
  std::uint64_t index = std::max(job.create_index, job.modify_index);
  if (job.alloc) index = std::max(index, job.alloc->modify_index);
  if (job.replacement) index = std::max(index, job.replacement->modify_index);
  return index;
}

std::optional<BackendObject> replacement_object(const JobState& job) {
  if (!job.replacement || !job.alloc || job.stopped) return std::nullopt;
  const bool executor_ended = job.alloc->phase == ObservedPhase::kExited || job.alloc->phase == ObservedPhase::kLost ||
                              job.alloc_stopped_by_others;
  if (!executor_ended) return std::nullopt;  // to_object has not reported its end
  const AllocState& alloc = *job.replacement;
  if (alloc.stop_desired || (alloc.phase != ObservedPhase::kPending && alloc.phase != ObservedPhase::kRunning)) {
    return std::nullopt;
  }
  BackendObject object;
  object.backend_name = job.identity.job_id;
  object.daemon_id = job.identity.daemon_id;
  object.app = job.identity.app;
  object.executor = job.identity.executor;
  object.profile = job.identity.profile;
  object.phase = alloc.phase;
  object.host = alloc.host;
  object.reason = "Replacement";
  object.message = "allocation " + alloc.id + " of job " + job.identity.job_id + " replaces the executor's " +
                   job.alloc->id;
  return object;
}

BackendObject gone_object(const JobState& job, bool killed_by_berth) {
  BackendObject object;
  object.backend_name = job.identity.job_id;
  object.daemon_id = job.identity.daemon_id;
  object.app = job.identity.app;
  object.executor = job.identity.executor;
  object.profile = job.identity.profile;
  if (job.alloc) object.host = job.alloc->host;
  if (killed_by_berth) {
    // The end of Berth's own kill (as a Mesos TASK_KILLED is), so that core keeps the reason it
    // recorded (killed, decommissioned): never someone else's deletion.
    object.phase = ObservedPhase::kExited;
    if (job.alloc && job.alloc->phase == ObservedPhase::kExited) object.exit_code = job.alloc->exit_code;
    object.reason = "Deregistered";
    object.message = "job " + job.identity.job_id + " deregistered by Berth";
    return object;
  }
  object.phase = ObservedPhase::kGone;
  object.deleted_externally = true;
  object.reason = "JobRemoved";
  object.message = "job " + job.identity.job_id + " was removed outside Berth";
  return object;
}

std::string placement_failure_text(const json::object& metric) {
  const std::int64_t evaluated = int_field(metric, "NodesEvaluated");
  const std::int64_t exhausted = int_field(metric, "NodesExhausted");
  const std::int64_t filtered = int_field(metric, "NodesFiltered");
  std::string text = "0 of " + std::to_string(evaluated) + " nodes fit";
  const auto counts = [](const json::object* map) {
    std::string list;
    if (map == nullptr) return list;
    for (const auto& [key, value] : *map) {
      if (!list.empty()) list += ", ";
      list += std::string(key) + ": " + std::to_string(value.is_int64() ? value.as_int64() : 0);
    }
    return list;
  };
  std::string parts;
  if (exhausted > 0) {
    parts += std::to_string(exhausted) + " exhausted";
    if (auto dims = counts(object_field(metric, "DimensionExhausted")); !dims.empty()) parts += " (" + dims + ")";
  }
  if (filtered > 0) {
    if (!parts.empty()) parts += ", ";
    parts += std::to_string(filtered) + " filtered";
    if (auto constraints = counts(object_field(metric, "ConstraintFiltered")); !constraints.empty()) {
      parts += " (" + constraints + ")";
    }
  }
  if (evaluated == 0) {
    parts = "no node is eligible in the job's datacenters and node pool";
  }
  if (!parts.empty()) text += ": " + parts;
  if (const std::int64_t coalesced = int_field(metric, "CoalescedFailures"); coalesced > 0) {
    text += " (and " + std::to_string(coalesced) + " more placements failed the same way)";
  }
  return text;
}

}  // namespace berth::nomad
