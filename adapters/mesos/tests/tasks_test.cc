// Task ids, TaskInfo and TaskStatus with Spark's loss reasons.

#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>

#include "adapters/mesos/tasks.h"

namespace berth::mesos {
namespace {

namespace json = boost::json;

LaunchRequest request() {
  LaunchRequest r;
  r.backend_name = "berth-app-1-exec-7";
  r.daemon_id = "edge-1";
  r.pool = "mesos";
  r.app = "app-1";
  r.executor = 7;
  r.profile.id = 0;
  r.profile.cores = 2;
  r.profile.heap_mib = 1024;
  r.spec.env = {{"FOO", "bar"}};
  r.spec.annotations = {{"sim.berth.dev/run-for", "5s"}};
  r.driver.url = "spark://CoarseGrainedScheduler@driver:7078";
  return r;
}

TaskUpdate update(const std::string& state, const std::string& reason = "", const std::string& message = "",
                  const std::string& uuid = "") {
  std::string text = R"({"task_id":{"value":"berth-app-1-exec-7"},"agent_id":{"value":"S3"},"state":")" + state + "\"";
  if (!reason.empty()) text += R"(,"reason":")" + reason + "\"";
  if (!message.empty()) text += R"(,"message":")" + message + "\"";
  if (!uuid.empty()) text += R"(,"uuid":")" + uuid + "\"";
  return parse_status(json::parse(text + "}").as_object());
}

BackendObject object(const TaskUpdate& u, bool killed = false) {
  return to_object(u, TaskName{"app-1", 7}, u.task_id, "edge-1", "host-3", killed);
}

TEST_CASE("task ids name the application and executor") {
  auto name = parse_task_id("berth-my-app-exec-12-exec-7", "berth-");
  REQUIRE(name);
  CHECK(name->app == "my-app-exec-12");
  CHECK(name->executor == 7);
  CHECK_FALSE(parse_task_id("other-app-exec-7", "berth-"));
  CHECK_FALSE(parse_task_id("berth-app-exec-x", "berth-"));
  CHECK_FALSE(parse_task_id("berth--exec-3", "berth-"));
}

TEST_CASE("TaskInfo: Spark's executor command, env, labels, image and kill policy") {
  MesosPoolConfig config;
  config.user = "spark";
  config.image = "apache/spark:3.5.1";
  config.uris = {"https://repo/spark.tgz"};
  Offer offer;
  offer.agent_id = "S3";
  offer.hostname = "host-3";
  auto task = build_task_info(request(), config, offer, json::array{}, "F-1");
  CHECK(task.at("task_id").at("value") == "berth-app-1-exec-7");
  CHECK(task.at("agent_id").at("value") == "S3");
  const auto& command = task.at("command").as_object();
  CHECK(command.at("shell") == true);
  const std::string line(command.at("value").as_string());
  // Exactly Spark's executor command (core's spark_executor_command), on the offer's host.
  CHECK(line ==
        "'/opt/spark/bin/spark-class' 'org.apache.spark.executor.CoarseGrainedExecutorBackend' "
        "'--driver-url' 'spark://CoarseGrainedScheduler@driver:7078' '--executor-id' '7' '--hostname' 'host-3' "
        "'--cores' '2' '--app-id' 'app-1' '--resourceProfileId' '0'");
  CHECK(command.at("user") == "spark");
  CHECK(command.at("uris").as_array().size() == 1);
  bool found = false;
  for (const auto& v : command.at("environment").at("variables").as_array()) {
    if (v.at("name") == "SPARK_EXECUTOR_ID") found = v.at("value") == "7";
  }
  CHECK(found);
  CHECK(task.at("container").at("type") == "MESOS");
  const json::array with_ports =
      json::parse(R"([{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31005,"end":31006}]}}])").as_array();
  auto ported = build_task_info(request(), config, offer, with_ports, "F-1");
  std::map<std::string, std::string> env;
  for (const auto& v : ported.at("command").at("environment").at("variables").as_array()) {
    env[std::string(v.at("name").as_string())] = std::string(v.at("value").as_string());
  }
  CHECK(env.at("PORT0") == "31005");
  CHECK(env.at("PORT1") == "31006");
  CHECK(env.at("BERTH_PORTS") == "31005,31006");
  CHECK(ported.at("resources").as_array().size() == 1);
  CHECK(task.at("container").at("mesos").at("image").at("docker").at("name") == "apache/spark:3.5.1");
  std::map<std::string, std::string> labels;
  for (const auto& l : task.at("labels").at("labels").as_array()) {
    labels[std::string(l.at("key").as_string())] = std::string(l.at("value").as_string());
  }
  CHECK(labels.at(kLabelDaemon) == "edge-1");
  CHECK(labels.at(kLabelApp) == "app-1");
  CHECK(labels.at(kLabelExecutor) == "7");
  CHECK(labels.at("sim.berth.dev/run-for") == "5s");
  CHECK(labels.at("spark-role") == "executor");
  CHECK(labels.at("spark-exec-id") == "7");
  CHECK(task.at("kill_policy").at("grace_period").at("nanoseconds") == std::int64_t{30'000'000'000});

}

// The command and container of a TaskInfo, without the environment (checked above).
json::object command_and_container(json::object task) {
  json::object command = task.at("command").as_object();
  command.erase("environment");
  json::object out{{"command", std::move(command)}};
  if (auto* container = task.if_contains("container")) out["container"] = *container;
  return out;
}

TEST_CASE("TaskInfo: a launch spec's command runs as its argv, argv[0] once, under either containerizer") {
  MesosPoolConfig config;
  config.user = "spark";
  Offer offer;
  offer.agent_id = "S3";
  auto r = request();
  r.spec.image = "apache/spark:3.5.1";
  r.spec.command = {"/opt/entrypoint.sh", "executor"};
  r.spec.args = {"--verbose"};

  // Mesos containerizer: the command executor execs value with arguments as the whole argv.
  config.containerizer = MesosContainerizer::kMesos;
  CHECK(json::value(command_and_container(build_task_info(r, config, offer, json::array{}, "F-1"))) ==
        json::parse(R"({"command":{"shell":false,"value":"/opt/entrypoint.sh",
                                   "arguments":["/opt/entrypoint.sh","executor","--verbose"],"user":"spark"},
                        "container":{"type":"MESOS","mesos":{"image":{"type":"DOCKER",
                                     "docker":{"name":"apache/spark:3.5.1"}}}}})"));

  // Docker containerizer: `docker run --entrypoint=/opt/entrypoint.sh ... IMAGE executor --verbose`,
  // never `docker run IMAGE /opt/entrypoint.sh /opt/entrypoint.sh executor`.
  config.containerizer = MesosContainerizer::kDocker;
  CHECK(json::value(command_and_container(build_task_info(r, config, offer, json::array{}, "F-1"))) ==
        json::parse(R"({"command":{"shell":false,"arguments":["executor","--verbose"],"user":"spark"},
                        "container":{"type":"DOCKER","docker":{"image":"apache/spark:3.5.1","network":"HOST",
                                     "parameters":[{"key":"entrypoint","value":"/opt/entrypoint.sh"}]}}})"));

  // A one-word command: the entrypoint alone, no arguments.
  r.spec.command = {"/opt/run-executor"};
  r.spec.args.clear();
  CHECK(json::value(command_and_container(build_task_info(r, config, offer, json::array{}, "F-1"))) ==
        json::parse(R"({"command":{"shell":false,"arguments":[],"user":"spark"},
                        "container":{"type":"DOCKER","docker":{"image":"apache/spark:3.5.1","network":"HOST",
                                     "parameters":[{"key":"entrypoint","value":"/opt/run-executor"}]}}})"));

  // No image: no container, so the command executor's argv rules apply even with docker configured.
  r.spec.image.clear();
  r.spec.command = {"/bin/executor", "--x"};
  CHECK(json::value(command_and_container(build_task_info(r, config, offer, json::array{}, "F-1"))) ==
        json::parse(R"({"command":{"shell":false,"value":"/bin/executor","arguments":["/bin/executor","--x"],
                                   "user":"spark"}})"));

  // Spark's own command line: a shell command, which the Docker containerizer runs with /bin/sh
  // as the entrypoint, so nothing is set for it here.
  r.spec.image = "apache/spark:3.5.1";
  r.spec.command.clear();
  auto shell = build_task_info(r, config, offer, json::array{}, "F-1");
  CHECK(shell.at("command").at("shell") == true);
  CHECK_FALSE(shell.at("container").at("docker").as_object().contains("parameters"));
}

TEST_CASE("status updates map to phases with Spark's loss reasons") {
  CHECK(update("TASK_STAGING").phase == ObservedPhase::kPending);
  CHECK(update("TASK_RUNNING", "", "", "dXVpZA==").uuid == "dXVpZA==");
  CHECK(object(update("TASK_RUNNING")).phase == ObservedPhase::kRunning);
  CHECK(object(update("TASK_KILLING")).phase == ObservedPhase::kRunning);

  auto finished = object(update("TASK_FINISHED"));
  CHECK(finished.phase == ObservedPhase::kExited);
  CHECK(finished.exit_code == 0);

  auto failed = object(update("TASK_FAILED", "REASON_COMMAND_EXECUTOR_FAILED", "Command exited with status 3"));
  CHECK(failed.phase == ObservedPhase::kExited);
  CHECK(failed.exit_code == 3);
  CHECK_FALSE(failed.start_failed);
  CHECK(failed.host == "host-3");
  CHECK(failed.reason == "TASK_FAILED/REASON_COMMAND_EXECUTOR_FAILED");
  CHECK(failed.message == "Command exited with status 3");

  auto oom = object(update("TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", "Memory limit exceeded"));
  CHECK(oom.exit_code == 137);
  CHECK(oom.oom_killed);

  auto signalled = object(update("TASK_FAILED", "REASON_COMMAND_EXECUTOR_FAILED", "Command terminated with signal Killed"));
  CHECK(signalled.exit_code == 137);

  auto launch = object(update("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", "Failed to fetch image"));
  CHECK(launch.start_failed);
  CHECK(object(update("TASK_ERROR", "REASON_TASK_INVALID", "bad")).start_failed);
  CHECK(object(update("TASK_DROPPED", "REASON_INVALID_OFFERS")).start_failed);

  auto killed_by_us = object(update("TASK_KILLED"), true);
  CHECK(killed_by_us.phase == ObservedPhase::kExited);
  CHECK_FALSE(killed_by_us.deleted_externally);
  CHECK(object(update("TASK_KILLED"), false).deleted_externally);

  for (const char* state : {"TASK_LOST", "TASK_UNREACHABLE", "TASK_GONE", "TASK_GONE_BY_OPERATOR"}) {
    auto lost = object(update(state, "REASON_AGENT_REMOVED"));
    INFO(state);
    CHECK(lost.phase == ObservedPhase::kLost);
    CHECK(lost.host == "host-3");
  }
  CHECK(object(update("TASK_UNKNOWN", "REASON_RECONCILIATION")).phase == ObservedPhase::kGone);
}

}  // namespace
}  // namespace berth::mesos
