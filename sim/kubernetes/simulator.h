#pragma once
// Simulator: a Kubernetes API server for pods, served over real HTTP(S) on net::HttpServer. It
// keeps state and follows reference/kubernetes-pods-api.md: create / get / list / watch /
// delete / deletecollection with resourceVersions, 410 on compacted history, bookmarks, Status
// errors (401, 403 RBAC and quota, 404, 409, 410, 422, 429), discovery, OpenAPI v3 and Table output for
// kubectl; simulated nodes with a scheduler and a kubelet that run pods as their
// `sim.berth.dev/*` annotations script; ResourceQuota; garbage collection through
// ownerReferences; fault injection and administration under /sim/ (see sim/kubernetes/README.md).
//
// It shares nothing with the Kubernetes adapter (only net/), so it cannot share its mistakes.
//
// Thread-safety: the public methods are safe from any thread. All state lives on one strand of
// the executor given to the constructor; HTTP handlers post onto it.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "sim/kubernetes/rbac.h"

namespace berth::sim::kubernetes {

struct NodeSpec {
  std::string name;
  std::string cpu = "16";
  std::string memory = "64Gi";
  std::string gpu = "0";                       // nvidia.com/gpu
  std::map<std::string, std::string> labels;   // kubernetes.io/hostname is added
  int max_pods = 110;
};

struct QuotaSpec {
  std::string namespace_name;
  std::string name;
  std::map<std::string, std::string> hard;  // pods, cpu, memory, requests.*, limits.*
};

// Annotation defaults for the pods a label selector matches (a pod's own annotations win).
struct BehaviourRule {
  std::string selector;
  std::map<std::string, std::string> annotations;  // e.g. {"sim.berth.dev/run-for": "10s"}
};

struct SimulatorOptions {
  std::string listen = "127.0.0.1:0";
  std::string tls_cert_file;     // both set: HTTPS
  std::string tls_key_file;
  std::string client_ca_file;    // set: require client certificates signed by it (they authenticate)
  std::string token;             // set: every request needs "Authorization: Bearer <token>"
  // The user `token` authenticates as; empty: the first subject the RBAC role is bound to, else
  // "admin". A client certificate's user is its CN; requests without credentials (no `token`
  // set) are "system:anonymous".
  std::string token_user;
  // Set: requests for pods and namespaces are authorized by this Role, as the RBAC authorizer
  // does, and refused with 403 Forbidden for a verb, resource or namespace it does not grant.
  std::optional<RbacRole> rbac_role;
  double time_scale = 1.0;       // simulated seconds per real second (scripted delays, ages)
  std::vector<NodeSpec> nodes;   // empty: the default nodes (see README)
  std::vector<QuotaSpec> quotas;
  std::vector<BehaviourRule> behaviours;
  std::size_t history_limit = 10'000;  // events kept for watches from an older resourceVersion
  std::chrono::milliseconds bookmark_interval{10'000};
  std::chrono::seconds default_watch_timeout{1800};
  std::uint64_t seed = 1;
};

// Reads a YAML config file over `base` (keys: see README). Errors name the file and key.
StatusOr<SimulatorOptions> load_config(const std::string& path, SimulatorOptions base);

class SimulatorImpl;

class Simulator {
 public:
  Simulator(boost::asio::any_io_executor executor, SimulatorOptions options);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  Status start();               // binds; errors name the address
  void stop();
  std::string address() const;  // "127.0.0.1:PORT" after start()
  std::uint16_t port() const;

 private:
  std::shared_ptr<SimulatorImpl> impl_;
};

}  // namespace berth::sim::kubernetes
