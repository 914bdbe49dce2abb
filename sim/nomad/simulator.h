#pragma once
// Simulator: a Nomad agent's HTTP API for jobs, evaluations, allocations and the event stream,
// served over real HTTP(S) on net::HttpServer. It keeps state and follows
// reference/nomad-api.md: register / read / list / deregister jobs with one global Raft-like
// index, blocking queries, evaluations that complete with FailedTGAllocs and a blocked eval when
// nothing fits, allocations that run on simulated client nodes as their `sim.berth.dev/*` Meta
// scripts, the ndjson event stream with its small replay buffer, ACL tokens, the per-client
// connection limit, fault injection and administration under /sim/ (see sim/nomad/README.md).
//
// It shares nothing with the Nomad adapter (only net/), so it cannot share its mistakes.
//
// Thread-safety: the public methods are safe from any thread. All state lives on one strand of
// the executor given to the constructor; HTTP handlers post onto it.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace berth::sim::nomad {

struct DeviceSpec {
  std::string vendor = "nvidia";
  std::string type = "gpu";
  std::string model = "Tesla T4";
  int count = 0;
};

struct NodeSpec {
  std::string name;
  std::string datacenter = "dc1";
  std::string node_pool = "default";
  std::string node_class;
  std::int64_t cpu_mhz = 16'000;
  std::int64_t memory_mb = 65'536;
  int cores = 16;                               // reservable whole cores (Resources.Cores)
  std::vector<DeviceSpec> devices;
  std::map<std::string, std::string> attributes;  // kernel.name=linux, os.name=ubuntu, ... are added
  std::map<std::string, std::string> meta;
};

// Meta defaults for the tasks of the jobs whose ID starts with `job_prefix` (empty: every job);
// the job's, group's and task's own Meta win.
struct BehaviourRule {
  std::string job_prefix;
  std::map<std::string, std::string> meta;  // e.g. {"sim.berth.dev/run-for": "10s"}
};

struct SimulatorOptions {
  std::string listen = "127.0.0.1:0";
  std::string tls_cert_file;      // both set: HTTPS
  std::string tls_key_file;
  std::string client_ca_file;     // set: require client certificates signed by it
  std::string acl_token;          // set: ACLs on; this SecretID is a management token
  double time_scale = 1.0;        // simulated seconds per real second (scripted delays)
  std::vector<NodeSpec> nodes;    // empty: the default nodes (see README)
  std::vector<std::string> namespaces = {"default"};
  std::vector<BehaviourRule> behaviours;
  std::size_t event_buffer_size = 100;                    // index entries the event stream replays
  std::chrono::milliseconds heartbeat_interval{30'000};   // `{}` frames on idle event streams
  std::size_t max_conns_per_client = 100;                 // 0 = unlimited
  std::string region = "global";
  std::uint64_t seed = 1;
  // Garbage collection as Nomad's servers run it, in simulated time: every `gc_interval`
  // (job_gc_interval), a job dead for `job_gc_threshold` is removed with its evaluations and
  // allocations, and what a purged job left (terminal allocations and evaluations) once older
  // than `eval_gc_threshold`. Nomad's defaults; `PUT /v1/system/gc` collects now, thresholds aside.
  std::chrono::milliseconds gc_interval{5 * 60'000};
  std::chrono::milliseconds job_gc_threshold{4 * 3'600'000};
  std::chrono::milliseconds eval_gc_threshold{3'600'000};
};

// Reads a YAML config file over `base` (keys: see README). Errors name the file, line and key.
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

}  // namespace berth::sim::nomad
