#pragma once
// NomadPoolConfig: the settings of one pool of the Nomad backend (one Nomad region and namespace
// reached through one agent address), and the parser of the pool's `nomad:` section.
//
// Plain values; the parser is not thread-safe (config is read at start-up and on SIGHUP).

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "core/types.h"

namespace berth::config {
class Section;
}

namespace berth {

// The task drivers Berth knows how to give an executor's command to.
enum class NomadDriver { kDocker, kExec, kRawExec, kJava };
const char* to_string(NomadDriver driver);

struct NomadConnection {
  std::string address = "http://127.0.0.1:4646";  // http(s)://host:port of any agent
  std::string ca_pem;            // https: verify the agent with this bundle (empty: system roots)
  std::string client_cert_pem;   // mTLS (Nomad's verify_https_client), with client_key_pem
  std::string client_key_pem;
  std::string server_name;       // verification name, e.g. "server.global.nomad"
  bool insecure_skip_verify = false;
  std::string token;             // ACL token (SecretID)
  std::string token_file;        // the same, re-read while running (it rotates)
};

struct NomadPoolConfig {
  NomadConnection connection;
  std::string region;                    // empty: the agent's
  std::string name_space = "default";
  std::vector<std::string> datacenters;  // empty: the template's, else Nomad's default ("*")
  std::string node_pool;                 // empty: the template's, else "default"
  int priority = 50;
  NomadDriver driver = NomadDriver::kDocker;
  boost::json::object driver_config;     // merged into the executor task's Config
  std::string image;                     // docker: when the application's launch spec names none
  // The operator's job (as `nomad job run -output` prints it): its executor task group is kept
  // with its sidecars, constraints, networks ...; Berth's fields override.
  std::optional<boost::json::object> job_template;
  std::string task_name = "executor";    // the executor task's name when there is no template
  std::int64_t cpu_mhz_per_core = 1000;  // Resources.CPU = cores x this
  std::map<std::string, std::string> meta;  // extra job Meta
  Duration kill_timeout{std::chrono::seconds(30)};  // the task's KillTimeout (SIGTERM -> SIGKILL)
  bool purge_on_kill = false;            // deregister with purge=true (job status then forgets it)
  std::size_t max_connections = 16;
  Duration request_timeout{std::chrono::seconds(30)};
  Duration stream_idle_timeout{std::chrono::seconds(75)};  // Nomad heartbeats every 30 s
  Duration token_refresh_interval{std::chrono::minutes(1)};
  Duration retry_max_backoff{std::chrono::seconds(30)};
};

// Reads a pool's `nomad:` section (keys documented in nomad_config.cc). Unknown keys and bad
// values are kInvalidArgument naming file:line:col and the key.
Status parse_nomad_pool(config::Section& section, NomadPoolConfig* out);

// A job template file: JSON, either {"Job": {...}} or the job itself. Errors name the file.
StatusOr<boost::json::object> load_job_template(const std::string& path);

}  // namespace berth
