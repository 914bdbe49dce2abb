// build_pod: the executor pod as Spark builds it, from a bare request and from a template.

#include <catch2/catch.hpp>

#include "adapters/kubernetes/kubernetes_config.h"
#include "adapters/kubernetes/pod_spec.h"

namespace berth::kubernetes {
namespace {

namespace json = boost::json;

LaunchRequest request() {
  LaunchRequest r;
  r.backend_name = "berth-app-1-exec-7";
  r.daemon_id = "edge-1";
  r.pool = "k8s";
  r.app = "app-1";
  r.tenant = "team-a";
  r.executor = 7;
  r.profile.id = 0;
  r.profile.cores = 2;
  r.profile.heap_mib = 1024;  // + 384 MiB overhead
  r.spec.image = "apache/spark:3.5.1";
  r.spec.env = {{"FOO", "bar"}};
  r.driver.url = "spark://CoarseGrainedScheduler@driver:7078";
  return r;
}

const json::object& container(const json::object& pod, std::size_t index = 0) {
  return pod.at("spec").at("containers").as_array().at(index).as_object();
}

std::map<std::string, json::value> env_of(const json::object& c) {
  std::map<std::string, json::value> env;
  for (const auto& entry : c.at("env").as_array()) {
    const auto& e = entry.as_object();
    env[std::string(e.at("name").as_string())] = e.contains("value") ? e.at("value") : e.at("valueFrom");
  }
  return env;
}

TEST_CASE("a bare executor pod carries Spark's labels, env, resources and restartPolicy Never") {
  KubernetesPoolConfig config;
  config.name_space = "spark";
  auto pod = build_pod(request(), config);
  REQUIRE(pod.ok());
  const auto& metadata = pod->at("metadata").as_object();
  CHECK(metadata.at("name") == "berth-app-1-exec-7");
  CHECK(metadata.at("namespace") == "spark");
  const auto& labels = metadata.at("labels").as_object();
  CHECK(labels.at("spark-app-selector") == "app-1");
  CHECK(labels.at("spark-role") == "executor");
  CHECK(labels.at("spark-exec-id") == "7");
  CHECK(labels.at("spark-exec-resourceprofile-id") == "0");
  CHECK(labels.at(kLabelDaemon) == "edge-1");
  CHECK(labels.at(kLabelApp) == "app-1");
  CHECK(labels.at(kLabelExecutor) == "7");
  CHECK(labels.at(kLabelProfile) == "0");
  CHECK(labels.at(kLabelPool) == "k8s");
  CHECK(metadata.at("annotations").at(kAnnotationBackendName) == "berth-app-1-exec-7");
  CHECK_FALSE(metadata.contains("ownerReferences"));

  const auto& spec = pod->at("spec").as_object();
  CHECK(spec.at("restartPolicy") == "Never");
  const auto& c = container(*pod);
  CHECK(c.at("name") == "spark-kubernetes-executor");
  CHECK(c.at("image") == "apache/spark:3.5.1");
  CHECK(c.at("args") == json::array{"executor"});
  auto env = env_of(c);
  CHECK(env.at("SPARK_EXECUTOR_ID") == "7");
  CHECK(env.at("SPARK_EXECUTOR_CORES") == "2");
  CHECK(env.at("SPARK_EXECUTOR_MEMORY") == "1024m");
  CHECK(env.at("SPARK_APPLICATION_ID") == "app-1");
  CHECK(env.at("SPARK_RESOURCE_PROFILE_ID") == "0");
  CHECK(env.at("SPARK_DRIVER_URL") == "spark://CoarseGrainedScheduler@driver:7078");
  CHECK(env.at("SPARK_EXECUTOR_POD_NAME") == "berth-app-1-exec-7");
  CHECK(env.at("FOO") == "bar");
  CHECK(env.at("SPARK_EXECUTOR_POD_IP").at("fieldRef").at("fieldPath") == "status.podIP");
  const auto& resources = c.at("resources").as_object();
  CHECK(resources.at("requests").at("memory") == "1408Mi");
  CHECK(resources.at("limits").at("memory") == "1408Mi");
  CHECK(resources.at("requests").at("cpu") == "2");
  CHECK_FALSE(resources.at("limits").as_object().contains("cpu"));
}

TEST_CASE("cpu limit policies, GPUs as vendor limits, pool settings") {
  KubernetesPoolConfig config;
  config.node_selector = {{"disktype", "ssd"}};
  config.tolerations.push_back(json::object{{"key", "dedicated"}, {"operator", "Exists"}});
  config.priority_class_name = "batch";
  config.service_account_name = "spark";
  config.scheduler_name = "volcano";
  config.image_pull_secrets = {"cred"};
  config.image_pull_policy = "Always";
  config.termination_grace_period_seconds = 45;
  LaunchRequest r = request();
  r.profile.id = 3;
  r.profile.heap_mib = 8192;
  r.profile.overhead_mib = 1024;
  r.profile.offheap_mib = 512;
  r.profile.pyspark_mib = 256;
  r.profile.resources = {{"gpu", "nvidia.com", 2}};

  SECTION("cores") {
    config.cpu_limit = CpuLimitPolicy::kCores;
    auto pod = build_pod(r, config);
    REQUIRE(pod.ok());
    const auto& resources = container(*pod).at("resources").as_object();
    CHECK(resources.at("limits").at("cpu") == "2");
    CHECK(resources.at("limits").at("memory") == "9984Mi");
    CHECK(resources.at("limits").at("nvidia.com/gpu") == "2");
    CHECK_FALSE(resources.at("requests").as_object().contains("nvidia.com/gpu"));
    const auto& spec = pod->at("spec").as_object();
    CHECK(spec.at("nodeSelector").at("disktype") == "ssd");
    CHECK(spec.at("tolerations").as_array().size() == 1);
    CHECK(spec.at("priorityClassName") == "batch");
    CHECK(spec.at("serviceAccountName") == "spark");
    CHECK(spec.at("schedulerName") == "volcano");
    CHECK(spec.at("imagePullSecrets") == json::array{json::object{{"name", "cred"}}});
    CHECK(spec.at("terminationGracePeriodSeconds") == 45);
    CHECK(container(*pod).at("imagePullPolicy") == "Always");
    CHECK(pod->at("metadata").at("labels").at("spark-exec-resourceprofile-id") == "3");
  }
  SECTION("fixed") {
    config.cpu_limit = CpuLimitPolicy::kFixed;
    config.cpu_limit_millicores = 1500;
    auto pod = build_pod(r, config);
    REQUIRE(pod.ok());
    CHECK(container(*pod).at("resources").at("limits").at("cpu") == "1500m");
  }
  SECTION("a custom resource without vendor is refused") {
    r.profile.resources = {{"gpu", "", 1}};
    auto pod = build_pod(r, config);
    REQUIRE_FALSE(pod.ok());
    CHECK(pod.status().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(pod.status().message(), Catch::Contains("vendor"));
  }
}

TEST_CASE("the driver pod owns its executors, only in the same namespace") {
  KubernetesPoolConfig config;
  config.name_space = "spark";
  LaunchRequest r = request();
  r.driver.pod = DriverPod{"spark", "driver-0", "uid-123"};
  auto pod = build_pod(r, config);
  REQUIRE(pod.ok());
  const auto& owner = pod->at("metadata").at("ownerReferences").as_array().at(0).as_object();
  CHECK(owner.at("kind") == "Pod");
  CHECK(owner.at("apiVersion") == "v1");
  CHECK(owner.at("name") == "driver-0");
  CHECK(owner.at("uid") == "uid-123");
  CHECK(owner.at("controller") == true);

  r.driver.pod = DriverPod{"elsewhere", "driver-0", "uid-123"};
  pod = build_pod(r, config);
  REQUIRE(pod.ok());
  CHECK_FALSE(pod->at("metadata").as_object().contains("ownerReferences"));
}

TEST_CASE("no image anywhere is refused; the pool's default image applies") {
  KubernetesPoolConfig config;
  LaunchRequest r = request();
  r.spec.image.clear();
  auto pod = build_pod(r, config);
  REQUIRE_FALSE(pod.ok());
  CHECK(pod.status().code() == StatusCode::kInvalidArgument);
  config.image = "registry/spark:pool";
  pod = build_pod(r, config);
  REQUIRE(pod.ok());
  CHECK(container(*pod).at("image") == "registry/spark:pool");
}

TEST_CASE("the template is the starting point: sidecars kept, executor container found by name, Berth overrides") {
  auto parsed = yaml_to_json(R"(
apiVersion: v1
kind: Pod
metadata:
  generateName: ignored-
  labels: {team: data, spark-role: driver}
  annotations: {note: kept}
spec:
  restartPolicy: Always
  nodeSelector: {zone: a}
  imagePullSecrets: [{name: cred}]
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
    - name: log-shipper
      image: fluent-bit:2
      ports: [{containerPort: 2020}]
    - name: spark-kubernetes-executor
      image: template/image:1
      env:
        - {name: KEEP_ME, value: "1"}
        - {name: SPARK_EXECUTOR_ID, value: "wrong"}
      resources:
        requests: {ephemeral-storage: 10Gi, memory: 1Gi}
        limits: {cpu: "8"}
      volumeMounts: [{name: scratch, mountPath: /tmp}]
)");
  REQUIRE(parsed.ok());
  KubernetesPoolConfig config;
  config.pod_template = parsed->as_object();
  config.node_selector = {{"disk", "ssd"}};
  config.image_pull_secrets = {"cred", "other"};
  auto pod = build_pod(request(), config);
  REQUIRE(pod.ok());
  const auto& metadata = pod->at("metadata").as_object();
  CHECK_FALSE(metadata.contains("generateName"));
  CHECK(metadata.at("labels").at("team") == "data");
  CHECK(metadata.at("labels").at("spark-role") == "executor");
  CHECK(metadata.at("annotations").at("note") == "kept");
  CHECK(metadata.at("annotations").at(kAnnotationExecutorContainer) == "spark-kubernetes-executor");
  const auto& spec = pod->at("spec").as_object();
  CHECK(spec.at("restartPolicy") == "Never");
  CHECK(spec.at("nodeSelector").at("zone") == "a");
  CHECK(spec.at("nodeSelector").at("disk") == "ssd");
  CHECK(spec.at("imagePullSecrets").as_array().size() == 2);
  CHECK(spec.at("volumes").as_array().size() == 1);
  REQUIRE(spec.at("containers").as_array().size() == 2);
  const auto& sidecar = container(*pod, 0);
  CHECK(sidecar.at("name") == "log-shipper");
  CHECK(sidecar.at("image") == "fluent-bit:2");
  CHECK(sidecar.at("ports").at(0).at("containerPort") == 2020);  // integers stay integers
  CHECK_FALSE(sidecar.contains("env"));
  const auto& executor = container(*pod, 1);
  CHECK(executor.at("image") == "apache/spark:3.5.1");
  CHECK(executor.at("volumeMounts").as_array().size() == 1);
  auto env = env_of(executor);
  CHECK(env.at("KEEP_ME") == "1");  // quoted in YAML: a string
  CHECK(env.at("SPARK_EXECUTOR_ID") == "7");
  const auto& resources = executor.at("resources").as_object();
  CHECK(resources.at("requests").at("ephemeral-storage") == "10Gi");
  CHECK(resources.at("requests").at("memory") == "1408Mi");
  CHECK_FALSE(resources.at("limits").as_object().contains("cpu"));  // cpu_limit: none
}

TEST_CASE("without a container of the configured name, the template's first container is the executor") {
  auto parsed = yaml_to_json("spec: {containers: [{name: main, image: x}, {name: side, image: y}]}");
  REQUIRE(parsed.ok());
  KubernetesPoolConfig config;
  config.pod_template = parsed->as_object();
  auto pod = build_pod(request(), config);
  REQUIRE(pod.ok());
  CHECK(container(*pod, 0).at("name") == "main");
  CHECK(container(*pod, 0).at("image") == "apache/spark:3.5.1");
  CHECK(container(*pod, 1).at("image") == "y");
  CHECK(pod->at("metadata").at("annotations").at(kAnnotationExecutorContainer) == "main");
}

TEST_CASE("label values and pod names are made valid, deterministically") {
  CHECK(label_value("app-1") == "app-1");
  CHECK(label_value("") == "");
  const std::string odd = label_value("App With Spaces/and:colons");
  CHECK(odd.size() <= 63);
  CHECK(odd.rfind("App-With-Spaces-and-colons-", 0) == 0);
  CHECK(odd == label_value("App With Spaces/and:colons"));
  CHECK(label_value(std::string(100, 'a')).size() <= 63);
  CHECK(label_value(std::string(100, 'a')) != label_value(std::string(101, 'a')));
  CHECK(label_value("-_-").size() > 1);

  CHECK(pod_name("berth-app-exec-1") == "berth-app-exec-1");
  const std::string name = pod_name("berth-MyApp_2-exec-1");
  CHECK(name.rfind("berth-myapp-2-exec-1-", 0) == 0);
  CHECK(name != pod_name("berth-myapp-2-exec-1"));

  KubernetesPoolConfig config;
  LaunchRequest r = request();
  r.app = "Spark App #1";
  r.daemon_id = "Edge Node";
  r.backend_name = "berth-Spark App #1-exec-7";
  auto pod = build_pod(r, config);
  REQUIRE(pod.ok());
  const auto& metadata = pod->at("metadata").as_object();
  CHECK(metadata.at("name").as_string() == pod_name(r.backend_name));
  CHECK(metadata.at("labels").at(kLabelApp).as_string() == label_value("Spark App #1"));
  CHECK(metadata.at("annotations").at(kLabelApp) == "Spark App #1");
  CHECK(metadata.at("annotations").at(kLabelDaemon) == "Edge Node");
  CHECK(metadata.at("annotations").at(kAnnotationBackendName) == "berth-Spark App #1-exec-7");
}

}  // namespace
}  // namespace berth::kubernetes
