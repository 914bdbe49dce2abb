// The simulated Nomad client: runs each placed allocation's tasks as their Behaviour scripts
// (Received, Task Setup, Driver, Started, Terminated, Restarting / Not Restarting, Driver
// Failure), applies the restart policy on the node, kills tasks when an allocation is stopped
// (Killing, SIGTERM, exit after the shutdown delay or SIGKILL at KillTimeout, Killed) and
// reports every change as an AllocationUpdated write. Scheduled steps carry the allocation's
// epoch and are dropped once it moved on (node down).

#include <algorithm>

#include "sim/nomad/internal.h"

namespace berth::sim::nomad {
namespace {

constexpr std::size_t kMaxTaskEvents = 10;

json::object task_event_base(const std::string& type, std::int64_t time) {
  return json::object{{"Type", type},          {"Time", time},           {"Message", ""},
                      {"DisplayMessage", ""},  {"Details", json::object{}}, {"FailsTask", false},
                      {"RestartReason", ""},   {"SetupError", ""},       {"DriverError", ""},
                      {"DriverMessage", ""},   {"ExitCode", 0},          {"Signal", 0},
                      {"KillReason", ""},      {"KillTimeout", 0},       {"KillError", ""},
                      {"StartDelay", 0},       {"DownloadError", ""},    {"ValidationError", ""},
                      {"DiskLimit", 0},        {"FailedSibling", ""},    {"VaultError", ""},
                      {"TaskSignalReason", ""}, {"TaskSignal", ""},      {"GenericSource", ""}};
}

std::string driver_error(const TaskRun& task) {
  if (task.driver == "docker") {
    const std::string image = task.image.empty() ? "image" : task.image;
    return "Failed to pull `" + image + "`: Error response from daemon: manifest for " + image +
           " not found: manifest unknown: manifest unknown";
  }
  return "failed to launch command with executor: rpc error: code = Unknown desc = executable file not found in $PATH";
}

}  // namespace

void SimulatorImpl::task_event(Alloc&, TaskRun& task, const std::string& type, json::object fields) {
  json::object event = task_event_base(type, unix_nanos(now()));
  for (auto& [key, value] : fields) event[key] = std::move(value);
  task.events.push_back(std::move(event));
  if (task.events.size() > kMaxTaskEvents) task.events.erase(task.events.begin());
}

void SimulatorImpl::alloc_updated(Alloc& alloc, const std::string& type) {
  const std::uint64_t index = begin_write();
  alloc.modify_index = index;
  alloc.modify_time = unix_nanos(now());
  Changes changes;
  changes.allocs.push_back(alloc.id);
  end_write(type, std::move(changes));
}

// Nomad's client status from its tasks: any failed > any running > any pending > complete.
void SimulatorImpl::update_client_status(Alloc& alloc) {
  if (alloc.client_status == "lost") return;
  bool failed = false;
  bool running = false;
  bool pending = false;
  for (const auto& task : alloc.tasks) {
    if (task.state == "running") running = true;
    if (task.state == "pending") pending = true;
    if (task.state == "dead" && task.failed) failed = true;
  }
  const bool was_terminal = alloc.client_terminal();
  if (failed) {
    alloc.client_status = "failed";
    alloc.client_description = "Failed tasks";
  } else if (running) {
    alloc.client_status = "running";
    alloc.client_description = "Tasks are running";
  } else if (pending) {
    alloc.client_status = "pending";
    alloc.client_description = "No tasks have started";
  } else {
    alloc.client_status = "complete";
    alloc.client_description = "All tasks have completed";
  }
  if (was_terminal || !alloc.client_terminal()) return;
  // Terminal now: its resources are free, and a failure may be rescheduled after the delay.
  unblock_evals();
  if (alloc.client_status != "failed" || alloc.desired_status != "run") return;
  Job* job = find_job(alloc.namespace_name, alloc.job_id);
  if (!job || job->generation != alloc.job_generation || job->stop) return;
  const GroupSpec* group = job->group(alloc.group);
  if (!group) return;
  if (!group->reschedule_unlimited && static_cast<int>(alloc.reschedule_events.size()) >= group->reschedule_attempts) {
    return;
  }
  const std::string key = job->key();
  after(static_cast<double>(group->reschedule_delay_ns) / 1e9, [self = shared_from_this(), key] {
    auto it = self->jobs_.find(key);
    if (it == self->jobs_.end() || it->second.stop) return;
    self->begin_write();
    Changes changes;
    const std::string eval_id = self->create_eval(it->second, "alloc-failure", changes).id;
    self->end_write("EvaluationUpdated", std::move(changes));
    self->schedule_eval(eval_id);
  });
}

void SimulatorImpl::client_receive(const std::string& alloc_id) {
  Alloc* alloc = find_alloc(alloc_id);
  if (!alloc) return;
  const std::uint64_t epoch = alloc->epoch;
  after(0, [self = shared_from_this(), alloc_id, epoch] {
    Alloc* alloc = self->find_alloc(alloc_id);
    if (!alloc || alloc->epoch != epoch || alloc->terminal()) return;
    for (auto& task : alloc->tasks) {
      self->task_event(*alloc, task, "Received", {{"DisplayMessage", "Task received by client"}});
      self->task_event(*alloc, task, "Task Setup",
                       {{"DisplayMessage", "Building Task Directory"}, {"Message", "Building Task Directory"}});
      if (task.driver == "docker") {
        self->task_event(*alloc, task, "Driver",
                         {{"DisplayMessage", "Downloading image"}, {"DriverMessage", "Downloading image"}});
      }
    }
    self->alloc_updated(*alloc, "AllocationUpdated");
    for (std::size_t i = 0; i < alloc->tasks.size(); ++i) {
      self->after(alloc->tasks[i].behaviour.start_delay, [self, alloc_id, epoch, i] { self->start_task(alloc_id, epoch, i); });
    }
  });
}

void SimulatorImpl::start_task(const std::string& alloc_id, std::uint64_t epoch, std::size_t task_index) {
  Alloc* alloc = find_alloc(alloc_id);
  if (!alloc || alloc->epoch != epoch || alloc->desired_status != "run" || task_index >= alloc->tasks.size()) return;
  TaskRun& task = alloc->tasks[task_index];
  if (task.state != "pending") return;
  if (task.behaviour.driver_failure) {
    const std::string message = driver_error(task);
    task_event(*alloc, task, "Driver Failure",
               {{"DisplayMessage", message}, {"DriverError", message},
                {"Details", json::object{{"driver_error", message}}}});
    task_event(*alloc, task, "Not Restarting",
               {{"DisplayMessage", "Error was unrecoverable"}, {"RestartReason", "Error was unrecoverable"},
                {"FailsTask", true},
                {"Details", json::object{{"fails_task", "true"}, {"restart_reason", "Error was unrecoverable"}}}});
    task.state = "dead";
    task.failed = true;
    task.finished_at = rfc3339(now());
    for (std::size_t j = 0; j < alloc->tasks.size(); ++j) {
      TaskRun& sibling = alloc->tasks[j];
      if (j == task_index || sibling.state == "dead") continue;
      task_event(*alloc, sibling, "Sibling Task Failed",
                 {{"DisplayMessage", "Task's sibling \"" + task.name + "\" failed"}, {"FailedSibling", task.name}});
      task_event(*alloc, sibling, "Killed", {{"DisplayMessage", "Task successfully killed"}});
      sibling.state = "dead";
      sibling.finished_at = rfc3339(now());
    }
    update_client_status(*alloc);
    alloc_updated(*alloc, "AllocationUpdated");
    return;
  }
  task.state = "running";
  task.started_at = rfc3339(now());
  task_event(*alloc, task, "Started", {{"DisplayMessage", "Task started by client"}});
  update_client_status(*alloc);
  alloc_updated(*alloc, "AllocationUpdated");
  if (!task.behaviour.run_for) return;
  const int restarts = task.restarts;
  const Behaviour behaviour = task.behaviour;
  after(*behaviour.run_for, [self = shared_from_this(), alloc_id, epoch, task_index, restarts, behaviour] {
    Alloc* alloc = self->find_alloc(alloc_id);
    if (!alloc || alloc->epoch != epoch || alloc->tasks[task_index].restarts != restarts) return;
    self->task_exited(alloc_id, task_index, behaviour.oom ? 137 : behaviour.exit_code, behaviour.oom, false);
  });
}

void SimulatorImpl::task_exited(const std::string& alloc_id, std::size_t task_index, int code, bool oom, bool killed) {
  Alloc* alloc = find_alloc(alloc_id);
  if (!alloc || task_index >= alloc->tasks.size()) return;
  TaskRun& task = alloc->tasks[task_index];
  if (task.state != "running") return;
  const int signal = killed && code == 137 ? 9 : 0;
  std::string display = "Exit Code: " + std::to_string(code);
  if (signal != 0) display += ", Signal: " + std::to_string(signal);
  json::object details{{"exit_code", std::to_string(code)},
                       {"signal", std::to_string(signal)},
                       {"oom_killed", oom ? "true" : "false"}};
  if (oom) {
    display += ", Exit Message: \"OOM Killed\"";
    details["exit_message"] = "OOM Killed";
  }
  task_event(*alloc, task, "Terminated",
             {{"DisplayMessage", display}, {"ExitCode", code}, {"Signal", signal}, {"Details", std::move(details)}});
  task.finished_at = rfc3339(now());
  const bool batch = alloc->job_type == "batch" || alloc->job_type == "sysbatch";
  const bool success = code == 0 && !oom;
  if (killed) {
    task_event(*alloc, task, "Killed", {{"DisplayMessage", "Task successfully killed"}});
    task.state = "dead";
  } else if (success && batch) {
    task.state = "dead";
  } else if (task.restarts < alloc->restart_attempts) {
    const std::int64_t delay = alloc->restart_delay_ns;
    task_event(*alloc, task, "Restarting",
               {{"DisplayMessage", "Task restarting in " + format_go_duration(delay)},
                {"RestartReason", "Restart within policy"}, {"StartDelay", delay},
                {"Details", json::object{{"restart_reason", "Restart within policy"},
                                         {"start_delay", std::to_string(delay)}}}});
    ++task.restarts;
    task.last_restart = rfc3339(now());
    task.state = "pending";
    const std::uint64_t epoch = alloc->epoch;
    after(static_cast<double>(delay) / 1e9,
          [self = shared_from_this(), alloc_id, epoch, task_index] { self->start_task(alloc_id, epoch, task_index); });
  } else {
    const std::string reason =
        alloc->restart_attempts == 0
            ? "Policy allows no restarts"
            : "Exceeded allowed attempts " + std::to_string(alloc->restart_attempts) + " in interval " +
                  format_go_duration(alloc->restart_interval_ns) + " and mode is \"fail\"";
    task_event(*alloc, task, "Not Restarting",
               {{"DisplayMessage", reason}, {"RestartReason", reason}, {"FailsTask", true},
                {"Details", json::object{{"fails_task", "true"}, {"restart_reason", reason}}}});
    task.state = "dead";
    task.failed = true;
    for (std::size_t j = 0; j < alloc->tasks.size(); ++j) {
      TaskRun& sibling = alloc->tasks[j];
      if (j == task_index || sibling.state == "dead") continue;
      task_event(*alloc, sibling, "Sibling Task Failed",
                 {{"DisplayMessage", "Task's sibling \"" + task.name + "\" failed"}, {"FailedSibling", task.name}});
      task_event(*alloc, sibling, "Killed", {{"DisplayMessage", "Task successfully killed"}});
      sibling.state = "dead";
      sibling.finished_at = rfc3339(now());
    }
  }
  update_client_status(*alloc);
  alloc_updated(*alloc, "AllocationUpdated");
}

void SimulatorImpl::client_stop(const std::string& alloc_id) {
  Alloc* alloc = find_alloc(alloc_id);
  if (!alloc || alloc->client_terminal()) return;
  const std::uint64_t epoch = alloc->epoch;
  for (std::size_t i = 0; i < alloc->tasks.size(); ++i) {
    TaskRun& task = alloc->tasks[i];
    if (task.state == "dead") continue;
    if (task.state != "running") {
      task_event(*alloc, task, "Killed", {{"DisplayMessage", "Task successfully killed"}});
      task.state = "dead";
      task.finished_at = rfc3339(now());
      continue;
    }
    const std::string timeout = format_go_duration(task.kill_timeout_ns);
    task_event(*alloc, task, "Killing",
               {{"DisplayMessage", "Sent interrupt. Waiting " + timeout + " before force killing"},
                {"KillTimeout", task.kill_timeout_ns}, {"Details", json::object{{"kill_timeout", timeout}}}});
    // SIGTERM: the task exits after its shutdown delay (143), or is killed at KillTimeout (137).
    const double kill_timeout = static_cast<double>(task.kill_timeout_ns) / 1e9;
    const bool forced = task.behaviour.shutdown_delay >= kill_timeout;
    after(forced ? kill_timeout : task.behaviour.shutdown_delay, [self = shared_from_this(), alloc_id, epoch, i, forced] {
      Alloc* alloc = self->find_alloc(alloc_id);
      if (!alloc || alloc->epoch != epoch) return;
      self->task_exited(alloc_id, i, forced ? 137 : 143, false, true);
    });
  }
  update_client_status(*alloc);
  alloc_updated(*alloc, "AllocationUpdated");
}

Status SimulatorImpl::client_exit(const std::string& alloc_id, int code, bool oom) {
  Alloc* alloc = find_alloc(alloc_id);
  if (!alloc) return Status::NotFound("allocation " + alloc_id + " not found");
  bool any = false;
  for (std::size_t i = 0; i < alloc->tasks.size(); ++i) {
    if (find_alloc(alloc_id)->tasks[i].state != "running") continue;
    any = true;
    task_exited(alloc_id, i, oom ? 137 : code, oom, false);
  }
  if (!any) return Status::FailedPrecondition("allocation " + alloc_id + " has no running task");
  return Status::Ok();
}

}  // namespace berth::sim::nomad
