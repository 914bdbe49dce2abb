#pragma once
// MesosPoolConfig: the settings of one pool of the Mesos backend (one framework on one Mesos
// cluster), and the parser of the pool's `mesos:` section.
//
// Plain values; the parser is not thread-safe (config is read at start-up and on SIGHUP).

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "core/types.h"

namespace berth::config {
class Section;
}

namespace berth {

enum class MesosContainerizer { kMesos, kDocker };

struct MesosPoolConfig {
  std::vector<std::string> masters;  // http(s)://host:5050, tried in turn; a non-leader redirects
  std::string principal;             // HTTP basic authentication, with the secret
  std::string secret;
  std::string secret_file;           // re-read when the master answers 401 (the secret rotated)
  std::string ca_pem;                // https: verify the masters with this bundle (empty: system roots)
  std::string server_name;
  bool insecure_skip_verify = false;
  std::string user;                  // FrameworkInfo.user: tasks run as this user (default: berthd's)
  std::string framework_name = "berth";
  std::vector<std::string> roles{"*"};
  Duration failover_timeout{std::chrono::hours(24 * 7)};  // tasks survive berthd this long
  Duration refuse{std::chrono::seconds(5)};  // offers that fit nothing are declined for this long
  MesosContainerizer containerizer = MesosContainerizer::kMesos;
  std::string image;                 // when the application's launch spec names none; empty: no container image
  std::string spark_home = "/opt/spark";  // Spark's executor command when the launch spec names none
  std::vector<std::string> uris;     // fetched into each task's sandbox
  int ports = 0;                     // host ports per executor, from the offers' port ranges
  std::string constraints;           // Spark's spark.mesos.constraints syntax: "rack:r1,r2;os:linux"
  std::map<std::string, std::string> labels;  // extra task labels
  Duration kill_grace{std::chrono::seconds(30)};  // kill policy: SIGTERM, then SIGKILL after this
  int agent_failure_limit = 2;       // failed Berth tasks on one agent before it is excluded ...
  Duration agent_exclusion{std::chrono::minutes(10)};  // ... for this long (0 = no exclusion)
  Duration reconcile_interval{std::chrono::minutes(15)};  // implicit reconciliation
  // Launches that have waited this long with no offer (or none since the last REVIVE) make the
  // framework REVIVE again, in case the master lost a REVIVE or suppressed behind our back. A
  // default of the adapter, not a key of the `mesos:` section (tests shorten it).
  Duration revive_interval{std::chrono::seconds(10)};
  Duration request_timeout{std::chrono::seconds(30)};
  Duration retry_max_backoff{std::chrono::seconds(15)};
  std::size_t max_connections = 8;
};

// Reads a pool's `mesos:` section (keys documented in mesos_config.cc). Unknown keys and bad
// values are kInvalidArgument naming file:line:col and the key.
Status parse_mesos_pool(config::Section& section, MesosPoolConfig* out);

}  // namespace berth
