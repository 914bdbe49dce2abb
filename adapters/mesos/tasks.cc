#include "adapters/mesos/tasks.h"

#include <charconv>
#include <chrono>

namespace berth::mesos {
namespace {

namespace json = boost::json;

std::string string_field(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : "";
}

std::string id_value(const json::object& object, const char* key) {
  const auto* id = object.if_contains(key);
  return id != nullptr && id->is_object() ? string_field(id->as_object(), "value") : "";
}

json::object id(const std::string& value) { return json::object{{"value", value}}; }

json::object label(const std::string& key, const std::string& value) {
  return json::object{{"key", key}, {"value", value}};
}

// "Command exited with status 2" (the command executor's only record of the code).
std::optional<std::int32_t> exit_status_in(const std::string& message) {
  static constexpr std::string_view kMarker = "exited with status ";
  const auto at = message.find(kMarker);
  if (at == std::string::npos) return std::nullopt;
  const char* begin = message.data() + at + kMarker.size();
  std::int32_t code = 0;
  const auto [end, ec] = std::from_chars(begin, message.data() + message.size(), code);
  if (ec != std::errc() || end == begin) return std::nullopt;
  return code;
}

std::optional<std::int32_t> signal_in(const std::string& message) {
  static constexpr std::string_view kMarker = "terminated with signal ";
  const auto at = message.find(kMarker);
  if (at == std::string::npos) return std::nullopt;
  // "Command terminated with signal Killed" carries the name; the common ones are enough.
  const std::string name = message.substr(at + kMarker.size());
  if (name.rfind("Killed", 0) == 0) return 9;
  if (name.rfind("Terminated", 0) == 0) return 15;
  return std::nullopt;
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted.push_back(c);
    }
  }
  return quoted + "'";
}

}  // namespace

std::optional<TaskName> parse_task_id(const std::string& task_id, const std::string& prefix) {
  if (task_id.rfind(prefix, 0) != 0) return std::nullopt;
  static constexpr std::string_view kExec = "-exec-";
  const auto at = task_id.rfind(kExec);
  if (at == std::string::npos || at <= prefix.size()) return std::nullopt;
  TaskName name;
  name.app = task_id.substr(prefix.size(), at - prefix.size());
  const char* begin = task_id.data() + at + kExec.size();
  const char* end = task_id.data() + task_id.size();
  const auto [parsed_end, ec] = std::from_chars(begin, end, name.executor);
  if (ec != std::errc() || parsed_end != end || name.executor <= 0) return std::nullopt;
  return name;
}

json::object build_task_info(const LaunchRequest& request, const MesosPoolConfig& config, const Offer& offer,
                             json::array resources, const std::string& framework_id) {
  json::object task;
  task["name"] = request.app + " " + std::to_string(request.executor);
  task["task_id"] = id(request.backend_name);
  task["agent_id"] = id(offer.agent_id);

  json::array variables;
  auto env = spark_executor_environment(request);
  env["SPARK_EXECUTOR_POD_NAME"] = request.backend_name;
  const auto ports = ports_of(resources);
  std::string port_list;
  for (std::size_t i = 0; i < ports.size(); ++i) {
    env["PORT" + std::to_string(i)] = std::to_string(ports[i]);
    port_list += (i ? "," : "") + std::to_string(ports[i]);
  }
  if (!ports.empty()) env["BERTH_PORTS"] = port_list;
  for (const auto& [name, value] : env) variables.push_back(json::object{{"name", name}, {"value", value}});
  const std::string image = !request.spec.image.empty() ? request.spec.image : config.image;
  const bool docker = !image.empty() && config.containerizer == MesosContainerizer::kDocker;
  json::object command;
  std::string entrypoint;  // Docker only: replaces the image's ENTRYPOINT
  if (!request.spec.command.empty()) {
    command["shell"] = false;
    json::array arguments;
    if (docker) {
      // The Docker containerizer runs `docker run ... IMAGE [value] [arguments...]`: value and
      // arguments are the container's CMD, handed to the image's ENTRYPOINT. The launch spec's
      // command replaces the ENTRYPOINT (as a pod's command does), so argv[0] goes to
      // --entrypoint, no value is set, and the arguments are argv without argv[0].
      entrypoint = request.spec.command.front();
      const auto& argv = request.spec.command;
      for (auto it = argv.begin() + 1; it != argv.end(); ++it) arguments.emplace_back(*it);
    } else {
      // The command executor execs value with arguments as argv, argv[0] included.
      command["value"] = request.spec.command.front();
      for (const auto& part : request.spec.command) arguments.emplace_back(part);
    }
    for (const auto& arg : request.spec.args) arguments.emplace_back(arg);
    command["arguments"] = std::move(arguments);
  } else {
    // Spark's executor command (core's definition), as a shell line like Spark's own Mesos backend's.
    std::string line;
    for (const std::string& word : spark_executor_command(request, config.spark_home, offer.hostname)) {
      line += (line.empty() ? "" : " ") + shell_quote(word);
    }
    command["shell"] = true;
    command["value"] = std::move(line);
  }
  command["environment"] = json::object{{"variables", std::move(variables)}};
  task["resources"] = std::move(resources);
  if (!config.uris.empty()) {
    json::array uris;
    for (const auto& uri : config.uris) uris.push_back(json::object{{"value", uri}, {"extract", true}, {"cache", false}});
    command["uris"] = std::move(uris);
  }
  command["user"] = config.user;
  task["command"] = std::move(command);

  if (!image.empty()) {
    if (docker) {
      json::object info{{"image", image}, {"network", "HOST"}};
      if (!entrypoint.empty()) {
        info["parameters"] = json::array{json::object{{"key", "entrypoint"}, {"value", entrypoint}}};
      }
      task["container"] = json::object{{"type", "DOCKER"}, {"docker", std::move(info)}};
    } else {
      task["container"] = json::object{
          {"type", "MESOS"},
          {"mesos", json::object{{"image", json::object{{"type", "DOCKER"}, {"docker", json::object{{"name", image}}}}}}}};
    }
  }

  json::array labels;
  for (const auto& [key, value] : config.labels) labels.push_back(label(key, value));
  for (const auto& [key, value] : request.spec.labels) labels.push_back(label(key, value));
  for (const auto& [key, value] : request.spec.annotations) labels.push_back(label(key, value));
  for (const auto& [key, value] : spark_executor_labels(request)) labels.push_back(label(key, value));
  labels.push_back(label(kLabelDaemon, request.daemon_id));
  labels.push_back(label(kLabelApp, request.app));
  labels.push_back(label(kLabelExecutor, std::to_string(request.executor)));
  labels.push_back(label(kLabelProfile, std::to_string(request.profile.id)));
  labels.push_back(label(kLabelPool, request.pool));
  labels.push_back(label("berth.dev/framework", framework_id));
  task["labels"] = json::object{{"labels", std::move(labels)}};
  const auto grace = std::chrono::duration_cast<std::chrono::nanoseconds>(config.kill_grace).count();
  task["kill_policy"] = json::object{{"grace_period", json::object{{"nanoseconds", grace}}}};
  return task;
}

TaskUpdate parse_status(const json::object& status) {
  TaskUpdate update;
  update.task_id = id_value(status, "task_id");
  update.agent_id = id_value(status, "agent_id");
  update.state = string_field(status, "state");
  update.reason = string_field(status, "reason");
  update.message = string_field(status, "message");
  update.uuid = string_field(status, "uuid");
  const std::string& state = update.state;
  if (state == "TASK_STAGING" || state == "TASK_STARTING") {
    update.phase = ObservedPhase::kPending;
  } else if (state == "TASK_RUNNING" || state == "TASK_KILLING") {
    update.phase = ObservedPhase::kRunning;
  } else if (state == "TASK_FINISHED") {
    update.phase = ObservedPhase::kExited;
    update.end = TaskEnd::kFinished;
    update.exit_code = 0;
  } else if (state == "TASK_FAILED") {
    update.phase = ObservedPhase::kExited;
    const bool memory = update.reason == "REASON_CONTAINER_LIMITATION_MEMORY";
    const bool never_started = update.reason == "REASON_CONTAINER_LAUNCH_FAILED" ||
                               update.reason == "REASON_EXECUTOR_REGISTRATION_TIMEOUT" ||
                               update.reason == "REASON_TASK_INVALID";
    update.end = never_started ? TaskEnd::kLaunchFailed : TaskEnd::kFailed;
    update.oom_killed = memory;
    if (!never_started) {
      update.exit_code = exit_status_in(update.message);
      if (!update.exit_code) {
        if (auto signal = signal_in(update.message)) update.exit_code = 128 + *signal;
      }
      if (memory) update.exit_code = 137;
      if (!update.exit_code) update.exit_code = 1;
    }
  } else if (state == "TASK_KILLED") {
    update.phase = ObservedPhase::kExited;
    update.end = TaskEnd::kKilled;
    update.exit_code = 143;
  } else if (state == "TASK_ERROR" || state == "TASK_DROPPED") {
    update.phase = ObservedPhase::kExited;
    update.end = TaskEnd::kLaunchFailed;
  } else if (state == "TASK_LOST" || state == "TASK_UNREACHABLE" || state == "TASK_GONE" ||
             state == "TASK_GONE_BY_OPERATOR") {
    update.phase = ObservedPhase::kLost;
    update.end = TaskEnd::kLost;
  } else {  // TASK_UNKNOWN: the master has no record of it
    update.phase = ObservedPhase::kGone;
    update.end = TaskEnd::kUnknown;
  }
  return update;
}

BackendObject to_object(const TaskUpdate& update, const TaskName& name, const std::string& task_id,
                        const std::string& daemon_id, const std::string& host, bool killed_by_berth) {
  BackendObject object;
  object.backend_name = task_id;
  object.daemon_id = daemon_id;
  object.app = name.app;
  object.executor = name.executor;
  object.phase = update.phase;
  object.exit_code = update.exit_code;
  object.oom_killed = update.oom_killed;
  object.host = host;
  object.reason = update.state + (update.reason.empty() ? "" : "/" + update.reason);
  object.message = update.message;
  switch (update.end) {
    case TaskEnd::kLaunchFailed:
      object.start_failed = true;
      object.exit_code.reset();
      if (object.message.empty()) object.message = update.state;
      break;
    case TaskEnd::kKilled:
      object.deleted_externally = !killed_by_berth;
      break;
    case TaskEnd::kUnknown:
      object.deleted_externally = !killed_by_berth;
      break;
    default:
      break;
  }
  return object;
}

}  // namespace berth::mesos
