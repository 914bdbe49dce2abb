#include "adapters/nomad/job_spec.h"

#include <boost/json/array.hpp>
#include <chrono>

namespace berth::nomad {
namespace {

namespace json = boost::json;

std::int64_t nanoseconds(Duration duration) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count();
}

json::object& object_at(json::object& parent, const char* key) {
  json::value& value = parent[key];
  if (!value.is_object()) value = json::object();
  return value.as_object();
}

// A string field that is set: `nomad job run -output` writes every optional field, the unset
// ones as "" (KillSignal, Region, NodePool, ...), and an empty string means absent.
bool has_text(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_string() && !value->as_string().empty();
}

void erase_if_empty(json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  if (value != nullptr && (value->is_null() || (value->is_string() && value->as_string().empty()))) object.erase(key);
}

const json::object* meta_of(const json::object& object) {
  const auto* meta = object.if_contains("Meta");
  return meta != nullptr && meta->is_object() ? &meta->as_object() : nullptr;
}

bool is_executor_task(const json::value& task) {
  if (!task.is_object()) return false;
  const json::object* meta = meta_of(task.as_object());
  const auto* role = meta != nullptr ? meta->if_contains(kRoleMetaKey) : nullptr;
  return role != nullptr && role->is_string() && role->as_string() == "executor";
}

std::string name_of(const json::value& object) {
  if (!object.is_object()) return "";
  const auto* name = object.as_object().if_contains("Name");
  return name != nullptr && name->is_string() ? std::string(name->as_string()) : "";
}

json::array& tasks_of(json::object& group) {
  json::value& tasks = group["Tasks"];
  if (!tasks.is_array()) tasks = json::array();
  return tasks.as_array();
}

// The template's executor group and, in it, the executor task's index.
struct ExecutorGroup {
  json::object group;
  std::size_t task = 0;
};

StatusOr<ExecutorGroup> executor_group(const json::object& job, const std::string& task_name) {
  const json::array& groups = job.at("TaskGroups").as_array();
  const json::object* chosen = nullptr;
  for (const auto& group : groups) {
    if (!group.is_object()) continue;
    const auto* tasks = group.as_object().if_contains("Tasks");
    if (tasks == nullptr || !tasks->is_array()) continue;
    for (const auto& task : tasks->as_array()) {
      if (!is_executor_task(task)) continue;
      if (chosen != nullptr && chosen != &group.as_object()) {
        return Status::InvalidArgument("the job template has executor tasks (meta " + std::string(kRoleMetaKey) +
                                       " = executor) in more than one task group");
      }
      chosen = &group.as_object();
    }
  }
  if (chosen == nullptr) {
    if (groups.size() != 1 || !groups[0].is_object()) {
      return Status::InvalidArgument("the job template has " + std::to_string(groups.size()) +
                                     " task groups: mark the executor task with meta " + kRoleMetaKey + " = executor");
    }
    chosen = &groups[0].as_object();
  }
  ExecutorGroup result{*chosen, 0};
  json::array& tasks = tasks_of(result.group);
  std::optional<std::size_t> by_role, by_name;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (is_executor_task(tasks[i])) by_role = by_role.value_or(i);
    if (name_of(tasks[i]) == task_name) by_name = by_name.value_or(i);
  }
  if (by_role) {
    result.task = *by_role;
  } else if (by_name) {
    result.task = *by_name;
  } else if (tasks.size() == 1) {
    result.task = 0;
  } else {
    return Status::InvalidArgument("the job template's group " + name_of(*chosen) + " has " +
                                   std::to_string(tasks.size()) + " tasks and none is named " + task_name +
                                   " or has meta " + kRoleMetaKey + " = executor");
  }
  if (!tasks[result.task].is_object()) return Status::InvalidArgument("the job template's executor task is not an object");
  return result;
}

// "nvidia.com" + "gpu" -> "nvidia/gpu" (Nomad's device name); no vendor -> "gpu".
std::string device_name(const CustomResource& resource) {
  std::string vendor = resource.vendor;
  if (const auto dot = vendor.find('.'); dot != std::string::npos) vendor = vendor.substr(0, dot);
  return vendor.empty() ? resource.name : vendor + "/" + resource.name;
}

json::array string_array(std::vector<std::string>::const_iterator begin, std::vector<std::string>::const_iterator end) {
  json::array array;
  for (auto it = begin; it != end; ++it) array.emplace_back(*it);
  return array;
}

// The executor task's Config for `driver`: the template's, then the pool's driver_config, then
// the launch spec's image and command.
Status fill_driver_config(const LaunchRequest& request, const NomadPoolConfig& config, json::object& task) {
  task["Driver"] = to_string(config.driver);
  json::object& driver = object_at(task, "Config");
  for (const auto& [key, value] : config.driver_config) driver[key] = value;
  const LaunchSpec& spec = request.spec;
  json::array args;
  if (spec.command.size() > 1) args = string_array(spec.command.begin() + 1, spec.command.end());
  for (const auto& arg : spec.args) args.emplace_back(arg);
  switch (config.driver) {
    case NomadDriver::kDocker: {
      const std::string image = !spec.image.empty() ? spec.image : config.image;
      if (!image.empty()) driver["image"] = image;
      if (!driver.contains("image")) {
        return Status::InvalidArgument("the docker driver needs an image: the application's launch spec names none and "
                                       "the pool sets no image");
      }
      if (!spec.command.empty()) driver["command"] = spec.command.front();
      if (!args.empty()) {
        driver["args"] = std::move(args);
      } else if (spec.command.empty() && !driver.contains("command") && !driver.contains("args")) {
        driver["args"] = json::array{"executor"};  // the entrypoint of Spark's images, as on Kubernetes
      }
      break;
    }
    case NomadDriver::kExec:
    case NomadDriver::kRawExec:
      if (!spec.command.empty()) driver["command"] = spec.command.front();
      if (!driver.contains("command")) {
        return Status::InvalidArgument(std::string("the ") + to_string(config.driver) +
                                       " driver needs a command: the application's launch spec names none and the "
                                       "pool's driver_config sets none");
      }
      if (!args.empty()) driver["args"] = std::move(args);
      break;
    case NomadDriver::kJava:
      if (!driver.contains("class") && !driver.contains("jar_path")) {
        return Status::InvalidArgument("the java driver needs class or jar_path in the pool's driver_config");
      }
      if (!args.empty()) driver["args"] = std::move(args);
      break;
  }
  return Status::Ok();
}

void fill_resources(const LaunchRequest& request, const NomadPoolConfig& config, json::object& task) {
  json::object& resources = object_at(task, "Resources");
  resources.erase("Cores");  // exclusive cores and CPU MHz cannot both be asked for
  resources["CPU"] = static_cast<std::int64_t>(request.profile.cores) * config.cpu_mhz_per_core;
  const std::int64_t memory = request.profile.container_memory_mib();
  resources["MemoryMB"] = memory;
  if (const auto* max = resources.if_contains("MemoryMaxMB"); max != nullptr && max->is_int64() && max->as_int64() <= memory) {
    resources.erase("MemoryMaxMB");
  }
  json::array devices;
  for (const auto& resource : request.profile.resources) {
    if (resource.amount <= 0) continue;
    devices.push_back(json::object{{"Name", device_name(resource)}, {"Count", resource.amount}});
  }
  if (!devices.empty()) resources["Devices"] = std::move(devices);
}

json::object run_once_restart_policy() {
  return {{"Attempts", 0},
          {"Interval", nanoseconds(std::chrono::hours(24))},
          {"Delay", nanoseconds(std::chrono::seconds(15))},
          {"Mode", "fail"}};
}

json::object never_reschedule_policy() {
  return {{"Attempts", 0},
          {"Interval", 0},
          {"Delay", nanoseconds(std::chrono::seconds(5))},
          {"DelayFunction", "constant"},
          {"MaxDelay", 0},
          {"Unlimited", false}};
}

}  // namespace

std::string executor_task_name(const NomadPoolConfig& config) {
  if (!config.job_template) return config.task_name;
  auto group = executor_group(*config.job_template, config.task_name);
  if (!group.ok()) return config.task_name;
  return name_of(tasks_of(group->group)[group->task]);
}

StatusOr<json::object> build_job(const LaunchRequest& request, const NomadPoolConfig& config) {
  json::object job;
  json::object group;
  std::size_t task_index = 0;
  if (config.job_template) {
    job = *config.job_template;
    auto chosen = executor_group(job, config.task_name);
    if (!chosen.ok()) return chosen.status();
    group = std::move(chosen->group);
    task_index = chosen->task;
    // What belongs to the template's own job, not to one executor's.
    for (const char* key : {"ParentID", "Periodic", "ParameterizedJob", "Dispatched", "DispatchIdempotencyToken",
                            "Payload", "Stop", "Status", "StatusDescription", "Stable", "Version", "SubmitTime",
                            "CreateIndex", "ModifyIndex", "JobModifyIndex", "Update", "Multiregion"}) {
      job.erase(key);
    }
    for (const char* key : {"Update", "Migrate", "Scaling"}) group.erase(key);
    for (const char* key : {"Region", "NodePool"}) erase_if_empty(job, key);  // Nomad's defaults
  } else {
    group["Name"] = "executor";
    tasks_of(group).push_back(json::object{{"Name", config.task_name}});
  }

  job["ID"] = request.backend_name;
  job["Name"] = request.backend_name;
  job["Type"] = "batch";
  job["Namespace"] = config.name_space;
  if (!config.region.empty()) job["Region"] = config.region;
  if (!config.datacenters.empty()) {
    json::array datacenters;
    for (const auto& dc : config.datacenters) datacenters.emplace_back(dc);
    job["Datacenters"] = std::move(datacenters);
  }
  if (!config.node_pool.empty()) job["NodePool"] = config.node_pool;
  job["Priority"] = config.priority;
  json::object& meta = object_at(job, "Meta");
  for (const auto& [key, value] : config.meta) meta[key] = value;
  for (const auto& [key, value] : request.spec.labels) meta[key] = value;
  for (const auto& [key, value] : request.spec.annotations) meta[key] = value;
  for (const auto& [key, value] : spark_executor_labels(request)) meta[key] = value;
  meta[kLabelDaemon] = request.daemon_id;
  meta[kLabelApp] = request.app;
  meta[kLabelExecutor] = std::to_string(request.executor);
  meta[kLabelProfile] = std::to_string(request.profile.id);
  meta[kLabelPool] = request.pool;
  if (!request.tenant.empty()) meta["berth.dev/tenant"] = request.tenant;

  group["Count"] = 1;
  group["RestartPolicy"] = run_once_restart_policy();
  group["ReschedulePolicy"] = never_reschedule_policy();

  json::object& task = tasks_of(group)[task_index].as_object();
  if (Status status = fill_driver_config(request, config, task); !status.ok()) return status;
  json::object& env = object_at(task, "Env");
  for (const auto& [key, value] : spark_executor_environment(request)) env[key] = value;
  fill_resources(request, config, task);
  object_at(task, "Meta")[kRoleMetaKey] = "executor";
  task["KillTimeout"] = nanoseconds(config.kill_timeout);
  if (!has_text(task, "KillSignal")) task["KillSignal"] = "SIGTERM";

  job["TaskGroups"] = json::array{std::move(group)};
  return job;
}

}  // namespace berth::nomad
