#pragma once
// Simulator: a Mesos master for the v1 scheduler HTTP API (POST /api/v1/scheduler), served over
// real HTTP(S) on net::HttpServer. It keeps state and follows reference/mesos-scheduler-api.md:
// SUBSCRIBE as a chunked RecordIO stream with Mesos-Stream-Id and heartbeats, offers per agent
// and role with filters, SUPPRESS / REVIVE, ACCEPT (LAUNCH, LAUNCH_GROUP) with validation,
// status updates that are retried and held back until ACKNOWLEDGEd, KILL with grace, explicit and
// implicit RECONCILE, failover within failover_timeout, TEARDOWN, basic authentication, the exact
// status codes and texts for bad calls, and an optional standby master that answers 307. Tasks
// on simulated agents play the script of their `sim.berth.dev/*` labels. Fault injection and
// administration live under /sim/ (see sim/mesos/README.md).
//
// It shares nothing with the Mesos adapter (only net/), so it cannot share its mistakes.
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

namespace berth::sim::mesos {

struct AgentSpec {
  std::string hostname;                          // unique; also accepted where an agent id is
  double cpus = 16;
  double mem = 65536;                            // MB
  double disk = 400'000;                         // MB
  double gpus = 0;                               // whole numbers
  std::string ports = "31000-32000";             // ranges, "a-b[,c-d]"
  std::map<std::string, std::string> attributes; // numeric values become SCALAR attributes, others TEXT
  // Static reservations carved out of the totals: role -> {cpus, mem, disk, gpus}.
  std::map<std::string, std::map<std::string, double>> reserved;
};

// Label defaults for the tasks whose labels include every `match` pair (a task's own labels win).
struct BehaviourRule {
  std::map<std::string, std::string> match;
  std::map<std::string, std::string> labels;  // e.g. {"sim.berth.dev/run-for": "10s"}
};

struct SimulatorOptions {
  std::string listen = "127.0.0.1:0";
  std::string standby_listen;     // set: a second master in this process, not leading at first
  std::string tls_cert_file;      // both set: HTTPS (for the standby too)
  std::string tls_key_file;
  std::string principal;          // both set: HTTP basic authentication on every request
  std::string secret;
  int agents = 3;                 // default agents when `agent_specs` is empty
  std::vector<AgentSpec> agent_specs;
  std::vector<BehaviourRule> behaviours;
  double time_scale = 1.0;        // simulated seconds per real second (scripts, timeouts, filters)
  // Real time between HEARTBEAT events, announced as heartbeat_interval_seconds.
  std::chrono::milliseconds heartbeat_interval{15'000};
  double update_retry_seconds = 10;  // first resend of an un-ACKed update (simulated; doubles to 600)
  bool staging_update = true;     // send TASK_STAGING (with uuid) before TASK_STARTING
  std::uint64_t seed = 1;
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

  Status start();                       // binds both masters; errors name the address
  void stop();
  std::string address() const;          // "127.0.0.1:PORT" of the first master after start()
  std::uint16_t port() const;
  std::string standby_address() const;  // empty without a standby
  std::uint16_t standby_port() const;

 private:
  std::shared_ptr<SimulatorImpl> impl_;
};

}  // namespace berth::sim::mesos
