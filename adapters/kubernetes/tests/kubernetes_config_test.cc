// kubeconfig and in-cluster loading, the pool section, pod templates.

#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "adapters/kubernetes/kubernetes_config.h"
#include "config/section.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/berth-k8s-config-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path write(const std::string& name, const std::string& text) const {
    fs::create_directories((path_ / name).parent_path());
    std::ofstream(path_ / name) << text;
    return path_ / name;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const std::string kCaPem = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
// base64 of kCaPem
const std::string kCaBase64 = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";

std::string kubeconfig_text() {
  return R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c-data
  cluster:
    server: https://10.0.0.10:6443/
    certificate-authority-data: )" + kCaBase64 + R"(
    tls-server-name: kubernetes.default.svc
- name: c-file
  cluster:
    server: https://127.0.0.1:7443
    certificate-authority: certs/ca.pem
- name: c-insecure
  cluster:
    server: https://lab:6443
    insecure-skip-tls-verify: true
users:
- name: u-token
  user: {token: abc123}
- name: u-file
  user:
    tokenFile: token
    client-certificate: certs/client.pem
    client-key: certs/client-key.pem
- name: u-exec
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: aws, interactiveMode: Never}
contexts:
- name: dev
  context: {cluster: c-data, user: u-token, namespace: jobs}
- name: files
  context: {cluster: c-file, user: u-file}
- name: lab
  context: {cluster: c-insecure, user: u-token}
- name: eks
  context: {cluster: c-data, user: u-exec}
)";
}

TEST_CASE("kubeconfig: current context with inline data") {
  TempDir dir;
  auto path = dir.write("config", kubeconfig_text());
  auto connection = load_kubeconfig(path.string(), "");
  REQUIRE(connection.ok());
  CHECK(connection->server == "https://10.0.0.10:6443");
  CHECK(connection->ca_pem == kCaPem);
  CHECK(connection->token == "abc123");
  CHECK(connection->server_name == "kubernetes.default.svc");
  CHECK(connection->name_space == "jobs");
  CHECK_FALSE(connection->insecure_skip_verify);
}

TEST_CASE("kubeconfig: a named context with files relative to the kubeconfig") {
  TempDir dir;
  auto path = dir.write("kube/config", kubeconfig_text());
  dir.write("kube/certs/ca.pem", "CA-PEM");
  dir.write("kube/certs/client.pem", "CLIENT-PEM");
  dir.write("kube/certs/client-key.pem", "KEY-PEM");
  dir.write("kube/token", "rotating\n");
  auto connection = load_kubeconfig(path.string(), "files");
  REQUIRE(connection.ok());
  CHECK(connection->server == "https://127.0.0.1:7443");
  CHECK(connection->ca_pem == "CA-PEM");
  CHECK(connection->client_cert_pem == "CLIENT-PEM");
  CHECK(connection->client_key_pem == "KEY-PEM");
  CHECK(connection->token_file == (dir.path() / "kube/token").string());
  CHECK(connection->name_space.empty());

  auto lab = load_kubeconfig(path.string(), "lab");
  REQUIRE(lab.ok());
  CHECK(lab->insecure_skip_verify);
}

TEST_CASE("kubeconfig: errors name the file and context") {
  TempDir dir;
  auto path = dir.write("config", kubeconfig_text());
  auto missing = load_kubeconfig(path.string(), "nope");
  CHECK(missing.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(missing.status().message(), Catch::Contains("no context nope"));
  auto exec = load_kubeconfig(path.string(), "eks");
  CHECK_THAT(exec.status().message(), Catch::Contains("exec credential plugin"));
  auto files = load_kubeconfig(path.string(), "files");  // its files are missing here
  CHECK_FALSE(files.ok());
  CHECK(load_kubeconfig((dir.path() / "absent").string(), "").status().code() == StatusCode::kInvalidArgument);
  auto broken = dir.write("broken", "clusters: [");
  CHECK_THAT(load_kubeconfig(broken.string(), "").status().message(), Catch::Contains(broken.string() + ":"));
}

TEST_CASE("in-cluster: the service account's token file, CA and namespace") {
  TempDir dir;
  dir.write("sa/token", "jwt\n");
  dir.write("sa/ca.crt", "CA");
  dir.write("sa/namespace", "spark\n");
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  CHECK(load_in_cluster((dir.path() / "sa").string()).status().code() == StatusCode::kFailedPrecondition);
  ::setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto connection = load_in_cluster((dir.path() / "sa").string());
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  REQUIRE(connection.ok());
  CHECK(connection->server == "https://[fd00::1]:443");
  CHECK(connection->token_file == (dir.path() / "sa/token").string());
  CHECK(connection->ca_pem == "CA");
  CHECK(connection->name_space == "spark");
}

Status parse(const std::string& yaml, KubernetesPoolConfig* out) {
  config::Section section(YAML::Load(yaml), "berthd.yaml", "pools[0].kubernetes");
  return parse_kubernetes_pool(section, "/var/lib/berth", "k8s", out);
}

TEST_CASE("the pool section: every key") {
  TempDir dir;
  auto kubeconfig = dir.write("config", kubeconfig_text());
  auto pod_template = dir.write("pod.yaml", "kind: Pod\nspec:\n  containers:\n  - {name: spark-kubernetes-executor}\n");
  KubernetesPoolConfig config;
  Status status = parse("kubeconfig: " + kubeconfig.string() + R"(
context: dev
namespace: spark
qps: 50
burst: 100
max_connections: 8
request_timeout: 10s
pod_template_file: )" + pod_template.string() + R"(
executor_container: exec
image: apache/spark:3.5.1
image_pull_policy: Always
node_selector: {disk: ssd}
tolerations:
  - {key: dedicated, operator: Equal, value: spark, effect: NoSchedule, toleration_seconds: 60}
priority_class_name: batch
service_account_name: spark
scheduler_name: volcano
image_pull_secrets: [cred]
labels: {team: data}
annotations: {owner: me}
cpu_limit: "1.5"
termination_grace_period: 45s
delete_grace_period: 0s
delete_terminated_pods: false
image_pull_failure_timeout: 90s
watch_timeout: 2m
token_refresh_interval: 30s
retry_max_backoff: 10s
)",
                        &config);
  REQUIRE(status.ok());
  CHECK(config.connection.token == "abc123");
  CHECK(config.name_space == "spark");
  CHECK(config.qps == 50);
  CHECK(config.burst == 100);
  CHECK(config.max_connections == 8);
  REQUIRE(config.pod_template);
  CHECK(config.executor_container == "exec");
  CHECK(config.image == "apache/spark:3.5.1");
  CHECK(config.image_pull_policy == "Always");
  CHECK(config.node_selector.at("disk") == "ssd");
  REQUIRE(config.tolerations.size() == 1);
  CHECK(config.tolerations[0].at("tolerationSeconds") == 60);
  CHECK(config.tolerations[0].at("effect") == "NoSchedule");
  CHECK(config.priority_class_name == "batch");
  CHECK(config.service_account_name == "spark");
  CHECK(config.scheduler_name == "volcano");
  CHECK(config.image_pull_secrets == std::vector<std::string>{"cred"});
  CHECK(config.labels.at("team") == "data");
  CHECK(config.cpu_limit == CpuLimitPolicy::kFixed);
  CHECK(config.cpu_limit_millicores == 1500);
  CHECK(config.termination_grace_period_seconds == 45);
  CHECK(config.delete_grace_period == Duration(0));
  CHECK_FALSE(config.delete_terminated_pods);
  CHECK(config.image_pull_failure_timeout == std::chrono::seconds(90));
  CHECK(config.watch_timeout == std::chrono::minutes(2));
}

TEST_CASE("the pool section: defaults and errors") {
  TempDir dir;
  auto kubeconfig = dir.write("config", kubeconfig_text());
  KubernetesPoolConfig config;
  REQUIRE(parse("kubeconfig: " + kubeconfig.string(), &config).ok());
  CHECK(config.name_space == "jobs");  // the context's
  CHECK(config.cpu_limit == CpuLimitPolicy::kNone);
  CHECK(config.executor_container == "spark-kubernetes-executor");

  KubernetesPoolConfig cores;
  REQUIRE(parse("kubeconfig: " + kubeconfig.string() + "\ncpu_limit: cores", &cores).ok());
  CHECK(cores.cpu_limit == CpuLimitPolicy::kCores);

  KubernetesPoolConfig unused;
  CHECK_THAT(parse("namespace: x", &unused).message(), Catch::Contains("kubeconfig: is required"));
  CHECK_THAT(parse("kubeconfig: " + kubeconfig.string() + "\nin_cluster: true", &unused).message(),
             Catch::Contains("not both"));
  CHECK_THAT(parse("kubeconfig: " + kubeconfig.string() + "\nbogus: 1", &unused).message(),
             Catch::Contains("unknown key"));
  CHECK_THAT(parse("kubeconfig: " + kubeconfig.string() + "\ncpu_limit: lots", &unused).message(),
             Catch::Contains("cpu_limit"));
  CHECK_THAT(parse("kubeconfig: " + kubeconfig.string() + "\nimage_pull_policy: Sometimes", &unused).message(),
             Catch::Contains("image_pull_policy"));
  CHECK_THAT(parse("kubeconfig: " + kubeconfig.string() + "\ntolerations: [{key: a, operator: Maybe}]", &unused)
                 .message(),
             Catch::Contains("operator"));
  CHECK_THAT(parse("kubeconfig: " + kubeconfig.string() + "\npod_template_file: /nonexistent.yaml", &unused)
                 .message(),
             Catch::Contains("pod_template_file"));
  CHECK_THAT(parse("kubeconfig: " + kubeconfig.string() + "\ncontext: nope", &unused).message(),
             Catch::Contains("berthd.yaml:"));
}

TEST_CASE("pod templates: YAML or JSON, Pod or PodTemplate") {
  TempDir dir;
  auto yaml = dir.write("a.yaml", "apiVersion: v1\nkind: Pod\nspec: {containers: [{name: c, image: x}]}\n");
  auto json = dir.write("b.json", R"({"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"c"}]}})");
  auto pod_template = dir.write("c.yaml", "kind: PodTemplate\ntemplate: {spec: {containers: [{name: t}]}}\n");
  auto wrong = dir.write("d.yaml", "kind: Deployment\n");
  CHECK(load_pod_template(yaml.string()).ok());
  CHECK(load_pod_template(json.string()).ok());
  auto from_template = load_pod_template(pod_template.string());
  REQUIRE(from_template.ok());
  CHECK(from_template->at("spec").at("containers").at(0).at("name") == "t");
  CHECK_FALSE(load_pod_template(wrong.string()).ok());
}

// Issue 11: `pod_template_file: /dev/urandom` aborted berthd with an uncaught bad_alloc. Every
// file a pool names must be a regular file within its cap; the error points at the key.
TEST_CASE("the files a pool names must be regular files within their caps") {
  TempDir dir;
  auto kubeconfig = dir.write("config", kubeconfig_text());
  KubernetesPoolConfig unused;
  CHECK(parse("kubeconfig: " + kubeconfig.string() + "\npod_template_file: /dev/urandom", &unused).message() ==
        "berthd.yaml:2:20: pools[0].kubernetes.pod_template_file: cannot read pod template /dev/urandom: "
        "not a regular file (a character device)");
  auto huge = dir.write("huge.yaml", "kind: Pod\n" + std::string(1024 * 1024, '#'));
  CHECK(parse("kubeconfig: " + kubeconfig.string() + "\npod_template_file: " + huge.string(), &unused).message() ==
        "berthd.yaml:2:20: pools[0].kubernetes.pod_template_file: cannot read pod template " + huge.string() +
            ": larger than 1 MiB");
  // Random bytes within the cap: a parse error, not a crash.
  std::string noise(512 * 1024, '\0');
  std::uint32_t state = 12345;
  for (char& c : noise) {
    state = state * 1664525 + 1013904223;
    c = static_cast<char>(state >> 24);
  }
  auto random = dir.write("random.yaml", noise);
  CHECK_FALSE(parse("kubeconfig: " + kubeconfig.string() + "\npod_template_file: " + random.string(), &unused).ok());

  CHECK(parse("kubeconfig: /dev/zero", &unused).message() ==
        "berthd.yaml:1:13: pools[0].kubernetes.kubeconfig: cannot read kubeconfig /dev/zero: "
        "not a regular file (a character device)");
  CHECK(load_kubeconfig(dir.path().string(), "").status().message() ==
        "cannot read kubeconfig " + dir.path().string() + ": not a regular file (a directory)");

  // Files the kubeconfig names.
  auto with_devices = dir.write("devices", R"(current-context: c
clusters:
- {name: k, cluster: {server: "https://k:6443", certificate-authority: /dev/zero}}
- {name: t, cluster: {server: "https://t:6443"}}
users: [{name: u, user: {tokenFile: /dev/zero}}]
contexts: [{name: c, context: {cluster: k, user: u}}, {name: t, context: {cluster: t, user: u}}]
)");
  CHECK(load_kubeconfig(with_devices.string(), "").status().message() ==
        "cannot read kubeconfig " + with_devices.string() +
            " context c: certificate-authority /dev/zero: not a regular file (a character device)");
  CHECK(load_kubeconfig(with_devices.string(), "t").status().message() ==
        "cannot read kubeconfig " + with_devices.string() +
            " context t: tokenFile /dev/zero: not a regular file (a character device)");

  // The service account's files.
  fs::create_directories(dir.path() / "sa");
  fs::create_symlink("/dev/zero", dir.path() / "sa" / "token");
  ::setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto in_cluster = load_in_cluster((dir.path() / "sa").string());
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  CHECK(in_cluster.status().message() == "cannot read service account token " + (dir.path() / "sa/token").string() +
                                             ": not a regular file (a character device)");
}

TEST_CASE("yaml_to_json types plain scalars and keeps quoted ones as strings") {
  auto value = yaml_to_json("a: 1\nb: '1'\nc: true\nd: 'true'\ne: 1.5\nf: null\ng: 500m\nh: 0x10\n");
  REQUIRE(value.ok());
  const auto& o = value->as_object();
  CHECK(o.at("a").is_int64());
  CHECK(o.at("b").is_string());
  CHECK(o.at("c").is_bool());
  CHECK(o.at("d").is_string());
  CHECK(o.at("e").is_double());
  CHECK(o.at("f").is_null());
  CHECK(o.at("g") == "500m");
  CHECK(o.at("h").is_string());
  CHECK_FALSE(yaml_to_json("a: [").ok());
}

}  // namespace
}  // namespace berth
