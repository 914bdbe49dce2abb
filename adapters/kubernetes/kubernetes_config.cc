// The `kubernetes:` section of a pool (berthd.yaml copies this block):
//
//   kubernetes:
//     # Connection: exactly one of kubeconfig or in_cluster.
//     kubeconfig: /etc/berth/kubeconfig   # a kubeconfig file (YAML or JSON); token, tokenFile,
//                                         # client certificates, CA, insecure-skip-tls-verify and
//                                         # tls-server-name are honoured (exec plugins are not)
//     context: prod                       # its context; default: its current-context
//     in_cluster: false                   # true: the pod's service account (KUBERNETES_SERVICE_HOST/
//                                         # PORT, token re-read as it rotates, ca.crt, namespace)
//     namespace: spark                    # default: the context's / service account's, else "default"
//     qps: 20                             # client-side rate limit over all API requests (token
//     burst: 40                           #   bucket, like client-go's); qps 0 = unlimited
//     max_connections: 16                 # pooled keep-alive HTTPS connections
//     request_timeout: 30s                # per API request (watches excepted)
//     # The executor pod.
//     pod_template_file: /etc/berth/executor-pod.yaml  # a Pod (YAML or JSON); sidecars, volumes,
//                                         # affinity ... kept; Berth sets the executor container's
//                                         # image, command, env and resources, labels, restartPolicy
//     executor_container: spark-kubernetes-executor    # the template's executor container (by
//                                         # name; else its first container)
//     image: apache/spark:3.5.1           # when the application's launch spec names no image
//     image_pull_policy: IfNotPresent     # Always | IfNotPresent | Never; default: the template's
//     node_selector: {disktype: ssd}      # merged over the template's
//     tolerations:                        # appended to the template's
//       - {key: dedicated, operator: Equal, value: spark, effect: NoSchedule}
//     priority_class_name: batch          # these four override the template's
//     service_account_name: spark-executor
//     scheduler_name: volcano
//     image_pull_secrets: [registry-cred]
//     labels: {team: data}                # extra pod labels and annotations
//     annotations: {}
//     cpu_limit: none                     # none | cores (limit = the profile's cores) | a fixed
//                                         #   quantity for every executor ("2", "1.5", "500m")
//     termination_grace_period: 30s       # the pod's terminationGracePeriodSeconds; default: template's
//     delete_grace_period: 1s             # gracePeriodSeconds of kills core wants at once (cancelled
//                                         #   or orphaned executors); 0s force-deletes
//     delete_terminated_pods: true        # delete a pod once its end is reported (as Spark's
//                                         #   deleteOnTermination); false keeps it for inspection
//     image_pull_failure_timeout: 3m      # an image that cannot be pulled for this long fails the
//                                         #   executor (Kubernetes itself retries forever)
//     watch_timeout: 5m                   # each watch asks the server to end within [t, 2t)
//     token_refresh_interval: 1m          # how often a token file is re-read
//     retry_max_backoff: 30s              # cap of the relist / rewatch backoff
#include "adapters/kubernetes/kubernetes_config.h"

#include <yaml-cpp/yaml.h>

#include <boost/json/parse.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "adapters/common/credential_file.h"
#include "config/section.h"
#include "config/yaml_json.h"

namespace berth {
namespace {

using adapters::read_text_file;
using adapters::trim;

StatusOr<std::string> base64_decode(const std::string& text, const std::string& what) {
  static constexpr signed char kUnset = -1;
  signed char table[256];
  std::fill(std::begin(table), std::end(table), kUnset);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < alphabet.size(); ++i) table[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    const signed char value = table[static_cast<unsigned char>(c)];
    if (value == kUnset) return Status::InvalidArgument(what + " is not base64");
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

// A named entry of a kubeconfig list (clusters, users, contexts): its inner mapping.
YAML::Node find_named(const YAML::Node& list, const std::string& name, const char* inner) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& entry : list) {
    if (entry.IsMap() && entry["name"] && entry["name"].as<std::string>() == name) return entry[inner];
  }
  return YAML::Node();
}

std::string scalar(const YAML::Node& node, const char* key) {
  if (!node || !node.IsMap() || !node[key] || !node[key].IsScalar()) return "";
  return node[key].as<std::string>();
}

// PEM from `<key>-data` (base64) or `<key>` (a path relative to the kubeconfig's directory).
Status pem_field(const YAML::Node& node, const std::string& key, const std::filesystem::path& dir,
                 const std::string& where, std::string* out) {
  const std::string data = scalar(node, (key + "-data").c_str());
  if (!data.empty()) {
    auto decoded = base64_decode(data, where + ": " + key + "-data");
    if (!decoded.ok()) return decoded.status();
    *out = std::move(*decoded);
    return Status::Ok();
  }
  const std::string path = scalar(node, key.c_str());
  if (path.empty()) return Status::Ok();
  const std::filesystem::path resolved = std::filesystem::path(path).is_absolute() ? std::filesystem::path(path) : dir / path;
  auto text = read_text_file(resolved.string(), where + ": " + key, kMaxPemFileBytes);
  if (!text.ok()) return text.status();
  *out = std::move(*text);
  return Status::Ok();
}

bool truthy(const std::string& value) { return value == "true" || value == "True" || value == "TRUE"; }

// "2" / "1.5" / "500m" -> millicores; -1 if not a cpu quantity.
std::int64_t parse_millicores(const std::string& text) {
  if (text.empty()) return -1;
  char* end = nullptr;
  if (text.back() == 'm') {
    const long long milli = std::strtoll(text.c_str(), &end, 10);
    return (end == text.c_str() + text.size() - 1 && milli > 0) ? milli : -1;
  }
  const double cores = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !(cores > 0) || cores > 1e6) return -1;
  return static_cast<std::int64_t>(std::llround(cores * 1000));
}

}  // namespace

StatusOr<boost::json::object> load_pod_template(const std::string& path) {
  auto text = read_text_file(path, "pod template", kMaxConfigFileBytes);
  if (!text.ok()) return text.status();
  auto value = yaml_to_json(*text);
  if (!value.ok()) return Status::InvalidArgument(path + ":" + value.status().message());
  if (!value->is_object()) return Status::InvalidArgument(path + ": a pod template must be a Pod (a mapping)");
  boost::json::object pod = value->as_object();
  if (const auto* kind = pod.if_contains("kind"); kind != nullptr && kind->is_string() &&
                                                  kind->as_string() == "PodTemplate") {
    const auto* inner = pod.if_contains("template");
    if (inner == nullptr || !inner->is_object()) return Status::InvalidArgument(path + ": PodTemplate without template");
    pod = inner->as_object();
  } else if (kind != nullptr && (!kind->is_string() || kind->as_string() != "Pod")) {
    return Status::InvalidArgument(path + ": kind must be Pod (or PodTemplate)");
  }
  for (const char* key : {"metadata", "spec"}) {
    if (const auto* field = pod.if_contains(key); field != nullptr && !field->is_object()) {
      return Status::InvalidArgument(path + ": " + key + " must be a mapping");
    }
  }
  if (const auto* spec = pod.if_contains("spec"); spec != nullptr) {
    if (const auto* containers = spec->as_object().if_contains("containers");
        containers != nullptr && !containers->is_array()) {
      return Status::InvalidArgument(path + ": spec.containers must be a list");
    }
  }
  return pod;
}

StatusOr<KubeConnection> load_in_cluster(const std::string& account_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    return Status::FailedPrecondition(
        "in_cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not running in a pod)");
  }
  KubeConnection connection;
  const std::string h = host;
  connection.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  connection.token_file = account_dir + "/token";
  auto token = read_text_file(connection.token_file, "service account token", kMaxCredentialFileBytes);
  if (!token.ok()) return token.status();
  auto ca = read_text_file(account_dir + "/ca.crt", "service account CA", kMaxPemFileBytes);
  if (!ca.ok()) return ca.status();
  connection.ca_pem = std::move(*ca);
  if (auto ns = read_text_file(account_dir + "/namespace", "service account namespace", kMaxCredentialFileBytes);
      ns.ok()) {
    connection.name_space = trim(*ns);
  }
  connection.source = "in-cluster service account";
  return connection;
}

StatusOr<KubeConnection> load_kubeconfig(const std::string& path, const std::string& context_name) {
  auto text = read_text_file(path, "kubeconfig", kMaxConfigFileBytes);
  if (!text.ok()) return text.status();
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  try {
    if (!root.IsMap()) return Status::InvalidArgument("kubeconfig " + path + " is not a mapping");
    const std::string name = context_name.empty() ? scalar(root, "current-context") : context_name;
    if (name.empty()) return Status::InvalidArgument("kubeconfig " + path + " has no current-context; set context");
    const std::string where = "kubeconfig " + path + " context " + name;
    const YAML::Node context = find_named(root["contexts"], name, "context");
    if (!context || !context.IsMap()) return Status::InvalidArgument("kubeconfig " + path + " has no context " + name);
    const std::string cluster_name = scalar(context, "cluster");
    const std::string user_name = scalar(context, "user");
    const YAML::Node cluster = find_named(root["clusters"], cluster_name, "cluster");
    if (!cluster || !cluster.IsMap()) return Status::InvalidArgument(where + ": no cluster " + cluster_name);
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();

    KubeConnection connection;
    connection.source = where;
    connection.server = scalar(cluster, "server");
    if (connection.server.empty()) return Status::InvalidArgument(where + ": cluster " + cluster_name + " has no server");
    while (!connection.server.empty() && connection.server.back() == '/') connection.server.pop_back();
    connection.insecure_skip_verify = truthy(scalar(cluster, "insecure-skip-tls-verify"));
    connection.server_name = scalar(cluster, "tls-server-name");
    if (!scalar(cluster, "proxy-url").empty()) return Status::InvalidArgument(where + ": proxy-url is not supported");
    if (Status s = pem_field(cluster, "certificate-authority", dir, where, &connection.ca_pem); !s.ok()) return s;
    connection.name_space = scalar(context, "namespace");

    if (!user_name.empty()) {
      const YAML::Node user = find_named(root["users"], user_name, "user");
      if (!user) return Status::InvalidArgument(where + ": no user " + user_name);
      if (user.IsMap()) {
        if (user["exec"]) {
          return Status::InvalidArgument(where + ": user " + user_name +
                                         " uses an exec credential plugin, which Berth does not run; "
                                         "use token, tokenFile or a client certificate");
        }
        if (user["auth-provider"]) {
          return Status::InvalidArgument(where + ": user " + user_name + " uses an auth-provider, which is not supported");
        }
        if (!scalar(user, "username").empty()) {
          return Status::InvalidArgument(where + ": user " + user_name + " uses basic authentication, which is not supported");
        }
        connection.token = scalar(user, "token");
        const std::string token_file = scalar(user, "tokenFile");
        if (!token_file.empty()) {
          connection.token_file = std::filesystem::path(token_file).is_absolute() ? token_file : (dir / token_file).string();
          auto token = read_text_file(connection.token_file, where + ": tokenFile", kMaxCredentialFileBytes);
          if (!token.ok()) return token.status();
        }
        if (Status s = pem_field(user, "client-certificate", dir, where, &connection.client_cert_pem); !s.ok()) return s;
        if (Status s = pem_field(user, "client-key", dir, where, &connection.client_key_pem); !s.ok()) return s;
        if (connection.client_cert_pem.empty() != connection.client_key_pem.empty()) {
          return Status::InvalidArgument(where + ": user " + user_name + " needs both client-certificate and client-key");
        }
      }
    }
    return connection;
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

Status parse_kubernetes_pool(config::Section& section, const std::string& state_dir, const PoolName& pool,
                             KubernetesPoolConfig* out) {
  (void)state_dir;
  (void)pool;
  KubernetesPoolConfig parsed;
  const std::string kubeconfig = section.get_string("kubeconfig");
  const std::string context = section.get_string("context");
  const bool in_cluster = section.get_bool("in_cluster", false);
  if (in_cluster && !kubeconfig.empty()) {
    section.error("in_cluster", "set either kubeconfig or in_cluster: true, not both");
  } else if (!in_cluster && kubeconfig.empty()) {
    section.error("kubeconfig", "is required (or in_cluster: true)");
  } else if (in_cluster && !context.empty()) {
    section.error("context", "applies to kubeconfig, not in_cluster");
  } else {
    auto connection = in_cluster ? load_in_cluster() : load_kubeconfig(kubeconfig, context);
    if (connection.ok()) {
      parsed.connection = std::move(*connection);
    } else {
      section.error(in_cluster ? "in_cluster" : "kubeconfig", connection.status().message());
    }
  }
  const std::string name_space = section.get_string("namespace");
  parsed.name_space = !name_space.empty() ? name_space
                      : !parsed.connection.name_space.empty() ? parsed.connection.name_space
                                                              : "default";
  parsed.qps = static_cast<double>(section.get_int("qps", 20, 0, 100000));
  parsed.burst = static_cast<double>(section.get_int("burst", 40, 1, 100000));
  parsed.max_connections = static_cast<std::size_t>(section.get_int("max_connections", 16, 1, 1024));
  parsed.request_timeout = section.get_duration("request_timeout", parsed.request_timeout);

  const std::string template_file = section.get_string("pod_template_file");
  if (!template_file.empty()) {
    auto pod = load_pod_template(template_file);
    if (pod.ok()) {
      parsed.pod_template = std::move(*pod);
    } else {
      section.error("pod_template_file", pod.status().message());
    }
  }
  parsed.executor_container = section.get_string("executor_container", parsed.executor_container);
  parsed.image = section.get_string("image");
  parsed.image_pull_policy = section.get_string("image_pull_policy");
  if (!parsed.image_pull_policy.empty() && parsed.image_pull_policy != "Always" &&
      parsed.image_pull_policy != "IfNotPresent" && parsed.image_pull_policy != "Never") {
    section.error("image_pull_policy", "must be Always, IfNotPresent or Never, got \"" + parsed.image_pull_policy + "\"");
  }
  parsed.node_selector = section.get_string_map("node_selector");
  for (auto& toleration : section.children("tolerations")) {
    boost::json::object object;
    for (const char* key : {"key", "operator", "value", "effect"}) {
      const std::string value = toleration.get_string(key);
      if (!value.empty()) object[key] = value;
    }
    if (toleration.has("toleration_seconds")) {
      object["tolerationSeconds"] = toleration.get_int("toleration_seconds", 0, 0);
    }
    const auto* op = object.if_contains("operator");
    if (op != nullptr && op->as_string() != "Equal" && op->as_string() != "Exists") {
      toleration.error("operator", "must be Equal or Exists");
    }
    Status status = toleration.finish();
    (void)status;  // recorded in the section family; reported by section.finish()
    parsed.tolerations.push_back(std::move(object));
  }
  parsed.priority_class_name = section.get_string("priority_class_name");
  parsed.service_account_name = section.get_string("service_account_name");
  parsed.scheduler_name = section.get_string("scheduler_name");
  parsed.image_pull_secrets = section.get_string_list("image_pull_secrets");
  parsed.labels = section.get_string_map("labels");
  parsed.annotations = section.get_string_map("annotations");

  const std::string cpu_limit = section.get_string("cpu_limit", "none");
  if (cpu_limit == "none") {
    parsed.cpu_limit = CpuLimitPolicy::kNone;
  } else if (cpu_limit == "cores") {
    parsed.cpu_limit = CpuLimitPolicy::kCores;
  } else if (const std::int64_t milli = parse_millicores(cpu_limit); milli > 0) {
    parsed.cpu_limit = CpuLimitPolicy::kFixed;
    parsed.cpu_limit_millicores = milli;
  } else {
    section.error("cpu_limit", "must be none, cores or a cpu quantity such as 2, 1.5 or 500m, got \"" + cpu_limit + "\"");
  }
  if (section.has("termination_grace_period")) {
    const Duration grace = section.get_duration("termination_grace_period", Duration(0));
    parsed.termination_grace_period_seconds = std::chrono::duration_cast<std::chrono::seconds>(grace).count();
  }
  parsed.delete_grace_period = section.get_duration("delete_grace_period", parsed.delete_grace_period);
  parsed.delete_terminated_pods = section.get_bool("delete_terminated_pods", parsed.delete_terminated_pods);
  parsed.image_pull_failure_timeout =
      section.get_duration("image_pull_failure_timeout", parsed.image_pull_failure_timeout);
  parsed.watch_timeout = section.get_duration("watch_timeout", parsed.watch_timeout);
  if (parsed.watch_timeout < std::chrono::seconds(1)) section.error("watch_timeout", "must be at least 1s");
  parsed.token_refresh_interval = section.get_duration("token_refresh_interval", parsed.token_refresh_interval);
  if (parsed.token_refresh_interval < std::chrono::seconds(1)) {
    section.error("token_refresh_interval", "must be at least 1s");
  }
  parsed.retry_max_backoff = section.get_duration("retry_max_backoff", parsed.retry_max_backoff);
  if (parsed.request_timeout < std::chrono::milliseconds(100)) section.error("request_timeout", "must be at least 100ms");

  Status status = section.finish();
  if (!status.ok()) return status;
  *out = std::move(parsed);
  return Status::Ok();
}

}  // namespace berth
