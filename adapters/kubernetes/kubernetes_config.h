#pragma once
// KubernetesPoolConfig: the settings of one pool of the Kubernetes backend, the connection to its
// API server (from a kubeconfig file or the in-cluster service account, as client-go finds it),
// and the parser of the pool's `kubernetes:` section.
//
// Plain values; the parsers are not thread-safe (config is read at start-up and on SIGHUP).

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/yaml_json.h"
#include "base/status.h"
#include "core/types.h"

namespace berth::config {
class Section;
}

namespace berth {

// How to reach and authenticate to one API server. PEMs are held as text (decoded from the
// kubeconfig's *-data fields or read from its files).
struct KubeConnection {
  std::string server;              // "https://10.0.0.10:6443"
  std::string ca_pem;              // empty: the system's roots
  std::string client_cert_pem;     // mTLS, with client_key_pem
  std::string client_key_pem;
  std::string token;               // static bearer token
  std::string token_file;          // bearer token re-read while running (it rotates)
  std::string server_name;         // tls-server-name: SNI and verification name
  bool insecure_skip_verify = false;
  std::string name_space;          // the context's (or service account's) namespace; may be empty
  std::string source;              // where this came from, for messages: "kubeconfig F context C"
};

// In-cluster: KUBERNETES_SERVICE_HOST/PORT and the service account under `account_dir`
// (token, ca.crt, namespace). kFailedPrecondition when not running in a cluster.
inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
StatusOr<KubeConnection> load_in_cluster(const std::string& account_dir = kServiceAccountDir);

// A kubeconfig file (YAML or JSON): `context` (empty = current-context) selects the cluster and
// user. Relative file paths in it are relative to its directory; *-data fields are base64 PEM.
// Supports token, tokenFile, client-certificate(-data)/client-key(-data),
// certificate-authority(-data), insecure-skip-tls-verify, tls-server-name. Exec and auth-provider
// plugins are refused with kInvalidArgument naming them.
StatusOr<KubeConnection> load_kubeconfig(const std::string& path, const std::string& context);

enum class CpuLimitPolicy {
  kNone,   // no cpu limit (Spark's default)
  kCores,  // limit = the profile's cores
  kFixed,  // limit = cpu_limit_millicores for every executor
};

struct KubernetesPoolConfig {
  KubeConnection connection;
  std::string name_space = "default";
  double qps = 20;     // client-side token bucket over every request to the API server
  double burst = 40;
  std::size_t max_connections = 16;
  // The operator's pod template (a Pod), if any: the executor container is found by name,
  // other containers (sidecars) are kept, Berth's fields override.
  std::optional<boost::json::object> pod_template;
  std::string executor_container = "spark-kubernetes-executor";
  std::string image;                  // when the application's launch spec names none
  std::string image_pull_policy;      // Always | IfNotPresent | Never; empty = the template's
  std::map<std::string, std::string> node_selector;
  boost::json::array tolerations;     // Kubernetes Toleration objects
  std::string priority_class_name;
  std::string service_account_name;
  std::string scheduler_name;
  std::vector<std::string> image_pull_secrets;
  std::map<std::string, std::string> labels;       // extra pod labels
  std::map<std::string, std::string> annotations;  // extra pod annotations
  CpuLimitPolicy cpu_limit = CpuLimitPolicy::kNone;
  std::int64_t cpu_limit_millicores = 0;
  std::optional<std::int64_t> termination_grace_period_seconds;
  // gracePeriodSeconds for kills core wants at once (cancellations, orphans); 0 force-deletes
  // the object without waiting for the kubelet.
  Duration delete_grace_period{std::chrono::seconds(1)};
  // Delete executor pods once their end has been reported (Spark's deleteOnTermination).
  bool delete_terminated_pods = true;
  Duration image_pull_failure_timeout{std::chrono::minutes(3)};
  Duration watch_timeout{std::chrono::minutes(5)};   // each watch asks for timeoutSeconds in [t, 2t)
  Duration request_timeout{std::chrono::seconds(30)};
  Duration token_refresh_interval{std::chrono::minutes(1)};
  Duration retry_max_backoff{std::chrono::seconds(30)};  // relist/rewatch backoff cap
};

// Reads a pool's `kubernetes:` section (keys documented in kubernetes_config.cc), loading the
// kubeconfig (or in-cluster account) and pod template it names. Unknown keys and bad values are
// kInvalidArgument naming file:line:col and the key.
Status parse_kubernetes_pool(config::Section& section, const std::string& state_dir, const PoolName& pool,
                             KubernetesPoolConfig* out);

// A pod template file (YAML or JSON) as a Pod object; a PodTemplate's `template` is accepted too.
StatusOr<boost::json::object> load_pod_template(const std::string& path);

}  // namespace berth
