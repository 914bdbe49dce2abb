// build_job: one batch job per executor, from a bare request and from an operator's template.

#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>

#include "adapters/nomad/job_spec.h"

namespace berth::nomad {
namespace {

namespace json = boost::json;

LaunchRequest request() {
  LaunchRequest r;
  r.backend_name = "berth-app-1-exec-7";
  r.daemon_id = "edge-1";
  r.pool = "nomad";
  r.app = "app-1";
  r.tenant = "team-a";
  r.executor = 7;
  r.profile.id = 2;
  r.profile.cores = 2;
  r.profile.heap_mib = 1024;  // + 384 MiB overhead
  r.spec.image = "apache/spark:3.5.1";
  r.spec.env = {{"FOO", "bar"}};
  r.spec.annotations = {{"sim.berth.dev/run-for", "10s"}};
  r.driver.url = "spark://CoarseGrainedScheduler@driver:7078";
  return r;
}

const json::object& group_of(const json::object& job) { return job.at("TaskGroups").as_array().at(0).as_object(); }

const json::object& task_of(const json::object& job, std::size_t index = 0) {
  return group_of(job).at("Tasks").as_array().at(index).as_object();
}

TEST_CASE("a bare executor job is a batch job of one group that Nomad never restarts or reschedules") {
  NomadPoolConfig config;
  config.name_space = "spark";
  config.datacenters = {"dc1", "dc2"};
  config.node_pool = "spark";
  config.priority = 70;
  config.meta = {{"team", "data"}};
  auto job = build_job(request(), config);
  REQUIRE(job.ok());
  CHECK(job->at("ID") == "berth-app-1-exec-7");
  CHECK(job->at("Name") == "berth-app-1-exec-7");
  CHECK(job->at("Type") == "batch");
  CHECK(job->at("Namespace") == "spark");
  CHECK(job->at("NodePool") == "spark");
  CHECK(job->at("Priority") == 70);
  CHECK(job->at("Datacenters").as_array().size() == 2);
  CHECK_FALSE(job->contains("Region"));
  const auto& meta = job->at("Meta").as_object();
  CHECK(meta.at(kLabelDaemon) == "edge-1");
  CHECK(meta.at(kLabelApp) == "app-1");
  CHECK(meta.at(kLabelExecutor) == "7");
  CHECK(meta.at(kLabelProfile) == "2");
  CHECK(meta.at(kLabelPool) == "nomad");
  CHECK(meta.at("team") == "data");
  CHECK(meta.at("spark-app-selector") == "app-1");
  CHECK(meta.at("spark-role") == "executor");
  CHECK(meta.at("spark-exec-id") == "7");
  CHECK(meta.at("sim.berth.dev/run-for") == "10s");

  const auto& group = group_of(*job);
  CHECK(group.at("Count") == 1);
  CHECK(group.at("RestartPolicy").at("Attempts") == 0);
  CHECK(group.at("RestartPolicy").at("Mode") == "fail");
  CHECK(group.at("ReschedulePolicy").at("Attempts") == 0);
  CHECK(group.at("ReschedulePolicy").at("Unlimited") == false);

  const auto& task = task_of(*job);
  CHECK(task.at("Name") == "executor");
  CHECK(task.at("Driver") == "docker");
  CHECK(task.at("Config").at("image") == "apache/spark:3.5.1");
  // No command in the launch spec: the image's entrypoint runs as Spark's executor.
  CHECK_FALSE(task.at("Config").as_object().contains("command"));
  CHECK(task.at("Config").at("args") == json::array{"executor"});
  CHECK(task.at("Resources").at("CPU") == 2000);
  CHECK(task.at("Resources").at("MemoryMB") == 1408);
  CHECK(task.at("KillTimeout") == std::int64_t{30'000'000'000});
  CHECK(task.at("KillSignal") == "SIGTERM");
  CHECK(task.at("Meta").at(kRoleMetaKey) == "executor");
  const auto& env = task.at("Env").as_object();
  CHECK(env.at("SPARK_DRIVER_URL") == "spark://CoarseGrainedScheduler@driver:7078");
  CHECK(env.at("SPARK_EXECUTOR_ID") == "7");
  CHECK(env.at("SPARK_EXECUTOR_CORES") == "2");
  CHECK(env.at("SPARK_EXECUTOR_MEMORY") == "1024m");
  CHECK(env.at("FOO") == "bar");
}

TEST_CASE("GPUs become a device request; cpu MHz per core and the memory formula are Spark's") {
  NomadPoolConfig config;
  config.cpu_mhz_per_core = 2400;
  auto r = request();
  r.profile.cores = 4;
  r.profile.heap_mib = 8192;  // overhead 10% = 819
  r.profile.resources = {CustomResource{"gpu", "nvidia.com", 2}};
  auto job = build_job(r, config);
  REQUIRE(job.ok());
  const auto& resources = task_of(*job).at("Resources").as_object();
  CHECK(resources.at("CPU") == 9600);
  CHECK(resources.at("MemoryMB") == 8192 + 819);
  const auto& device = resources.at("Devices").as_array().at(0).as_object();
  CHECK(device.at("Name") == "nvidia/gpu");
  CHECK(device.at("Count") == 2);
}

TEST_CASE("the command and args go to the driver's config; exec without a command is refused") {
  NomadPoolConfig config;
  config.driver = NomadDriver::kExec;
  auto r = request();
  r.spec.command = {"/opt/spark/bin/spark-class", "org.apache.spark.executor.CoarseGrainedExecutorBackend"};
  r.spec.args = {"--cores", "2"};
  auto job = build_job(r, config);
  REQUIRE(job.ok());
  const auto& driver = task_of(*job).at("Config").as_object();
  CHECK(task_of(*job).at("Driver") == "exec");
  CHECK(driver.at("command") == "/opt/spark/bin/spark-class");
  CHECK(driver.at("args").as_array().size() == 3);
  CHECK_FALSE(driver.contains("image"));

  r.spec.command.clear();
  auto refused = build_job(r, config);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(refused.status().message(), Catch::Contains("exec driver needs a command"));

  config.driver = NomadDriver::kDocker;
  r.spec.image.clear();
  auto no_image = build_job(r, config);
  REQUIRE_FALSE(no_image.ok());
  CHECK_THAT(no_image.status().message(), Catch::Contains("needs an image"));
  config.image = "registry/spark:3.5";
  auto pool_image = build_job(r, config);
  REQUIRE(pool_image.ok());
  CHECK(task_of(*pool_image).at("Config").at("image") == "registry/spark:3.5");
}

TEST_CASE("driver_config is merged into the task's config under the launch spec's image") {
  NomadPoolConfig config;
  config.driver_config = json::object{{"network_mode", "host"}, {"image", "ignored"}};
  auto job = build_job(request(), config);
  REQUIRE(job.ok());
  const auto& driver = task_of(*job).at("Config").as_object();
  CHECK(driver.at("network_mode") == "host");
  CHECK(driver.at("image") == "apache/spark:3.5.1");
}

json::object template_job() {
  return json::parse(R"({
    "ID": "spark-executor-template", "Type": "service", "Periodic": {"Enabled": true},
    "Datacenters": ["dc9"], "Constraints": [{"LTarget": "${attr.kernel.name}", "Operand": "=", "RTarget": "linux"}],
    "Meta": {"owner": "platform"},
    "TaskGroups": [
      {"Name": "other", "Tasks": [{"Name": "x", "Driver": "docker"}]},
      {"Name": "spark", "Count": 5, "Update": {"MaxParallel": 1},
       "Networks": [{"Mode": "host", "DynamicPorts": [{"Label": "blockmanager"}]}],
       "Tasks": [
         {"Name": "log-shipper", "Driver": "docker", "Config": {"image": "fluent-bit"}, "Lifecycle": {"Hook": "prestart", "Sidecar": true}},
         {"Name": "spark-executor", "Driver": "docker", "Meta": {"spark.nomad.role": "executor"},
          "Config": {"image": "old", "volumes": ["/data:/data"]},
          "Env": {"FROM_TEMPLATE": "1"},
          "Resources": {"CPU": 100, "Cores": 2, "MemoryMB": 300, "MemoryMaxMB": 400},
          "Templates": [{"EmbeddedTmpl": "x", "DestPath": "local/x"}],
          "Vault": {"Policies": ["spark"]}}]}]})")
      .as_object();
}

TEST_CASE("a template's executor group is kept with its sidecars; Berth's fields override") {
  NomadPoolConfig config;
  config.job_template = template_job();
  CHECK(executor_task_name(config) == "spark-executor");
  auto job = build_job(request(), config);
  REQUIRE(job.ok());
  CHECK(job->at("Type") == "batch");
  CHECK(job->at("ID") == "berth-app-1-exec-7");
  CHECK_FALSE(job->contains("Periodic"));
  CHECK(job->at("Datacenters").as_array().at(0) == "dc9");  // the template's, as the pool sets none
  CHECK(job->at("Constraints").as_array().size() == 1);
  CHECK(job->at("Meta").at("owner") == "platform");
  CHECK(job->at("Meta").at(kLabelApp) == "app-1");
  REQUIRE(job->at("TaskGroups").as_array().size() == 1);
  const auto& group = group_of(*job);
  CHECK(group.at("Name") == "spark");
  CHECK(group.at("Count") == 1);
  CHECK_FALSE(group.contains("Update"));
  CHECK(group.at("Networks").as_array().size() == 1);
  REQUIRE(group.at("Tasks").as_array().size() == 2);
  CHECK(task_of(*job, 0).at("Name") == "log-shipper");
  CHECK(task_of(*job, 0).at("Config").at("image") == "fluent-bit");
  const auto& executor = task_of(*job, 1);
  CHECK(executor.at("Config").at("image") == "apache/spark:3.5.1");
  CHECK(executor.at("Config").at("volumes").as_array().size() == 1);
  CHECK(executor.at("Env").at("FROM_TEMPLATE") == "1");
  CHECK(executor.at("Env").at("SPARK_EXECUTOR_ID") == "7");
  CHECK(executor.contains("Templates"));
  CHECK(executor.contains("Vault"));
  const auto& resources = executor.at("Resources").as_object();
  CHECK_FALSE(resources.contains("Cores"));
  CHECK_FALSE(resources.contains("MemoryMaxMB"));  // below the executor's memory
  CHECK(resources.at("MemoryMB") == 1408);
}

TEST_CASE("a template's empty strings, as `nomad job run -output` writes them, are absent fields") {
  auto written = template_job();
  written["Region"] = "";
  written["NodePool"] = "";
  auto& tasks = written.at("TaskGroups").as_array().at(1).as_object().at("Tasks").as_array();
  tasks.at(1).as_object()["KillSignal"] = "";
  tasks.at(0).as_object()["KillSignal"] = "";  // a sidecar's is the template's business
  NomadPoolConfig config;
  config.job_template = written;
  auto job = build_job(request(), config);
  REQUIRE(job.ok());
  CHECK(task_of(*job, 1).at("KillSignal") == "SIGTERM");
  CHECK(task_of(*job, 0).at("KillSignal") == "");
  CHECK_FALSE(job->contains("Region"));
  CHECK_FALSE(job->contains("NodePool"));

  // A signal the template does set is kept, and the pool's settings still win.
  tasks.at(1).as_object()["KillSignal"] = "SIGINT";
  config.job_template = written;
  config.region = "eu";
  config.node_pool = "spark";
  job = build_job(request(), config);
  REQUIRE(job.ok());
  CHECK(task_of(*job, 1).at("KillSignal") == "SIGINT");
  CHECK(job->at("Region") == "eu");
  CHECK(job->at("NodePool") == "spark");
}

TEST_CASE("a template with several groups and no marked executor task is refused with what to do") {
  auto job = template_job();
  auto& tasks = job.at("TaskGroups").as_array().at(1).as_object().at("Tasks").as_array();
  tasks.at(1).as_object().erase("Meta");
  NomadPoolConfig config;
  config.job_template = job;
  auto built = build_job(request(), config);
  REQUIRE_FALSE(built.ok());
  CHECK_THAT(built.status().message(), Catch::Contains("mark the executor task with meta spark.nomad.role"));
}

}  // namespace
}  // namespace berth::nomad
