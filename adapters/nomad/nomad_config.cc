// The `nomad:` section of a pool (berthd.yaml copies this block):
//
//   nomad:
//     address: https://nomad.service.consul:4646  # any agent (clients forward to servers)
//     region: eu-west                     # default: the agent's
//     namespace: spark                    # default: default
//     datacenters: [dc1, dc2]             # default: the template's, else Nomad's ("*")
//     node_pool: spark                    # default: the template's, else "default"
//     priority: 50                        # 1..100
//     token_file: /etc/berth/nomad-token  # ACL token, re-read as it rotates (or token: for tests)
//     token_refresh_interval: 1m
//     tls:                                # for https addresses
//       ca_file: /etc/berth/nomad-ca.pem
//       cert_file: /etc/berth/nomad-cli.pem   # when the agents verify clients (verify_https_client)
//       key_file: /etc/berth/nomad-cli-key.pem
//       server_name: server.global.nomad  # verification name (Nomad's certificates name this)
//       insecure_skip_verify: false
//     driver: docker                      # docker | exec | raw_exec | java
//     driver_config: {network_mode: host} # merged into the executor task's Config
//     image: apache/spark:3.5.1           # docker: when the application's launch spec names none
//     job_template_file: /etc/berth/executor-job.json  # `nomad job run -output` of a job whose
//                                         # executor task has meta spark.nomad.role = executor (or
//                                         # whose only group is the executor's): sidecars, vault,
//                                         # templates, constraints, networks ... are kept
//     task_name: executor                 # the executor task without a template
//     cpu_mhz_per_core: 1000              # Resources.CPU = cores x this
//     meta: {team: data}                  # extra job Meta
//     kill_timeout: 30s                   # the task's KillTimeout: SIGTERM, then SIGKILL after this
//     purge_on_kill: false                # true: killed executors' jobs are purged at once (`nomad
//                                         #   job status` then cannot explain them)
//     max_connections: 16                 # pooled keep-alive connections (each blocking query and
//                                         #   the event stream hold one more; Nomad allows 100 per IP)
//     request_timeout: 30s
//     stream_idle_timeout: 75s            # no byte (not even a heartbeat) for this long: reconnect
//     retry_max_backoff: 30s              # cap of the reconnect backoff

#include "adapters/nomad/nomad_config.h"

#include <boost/json/parse.hpp>

#include "adapters/common/credential_file.h"
#include "config/section.h"
#include "config/yaml_json.h"

namespace berth {
namespace {

using adapters::read_text_file;
using adapters::trim;

void read_pem(config::Section& section, const std::string& key, std::string* out) {
  const std::string path = section.get_string(key);
  if (path.empty()) return;
  auto text = read_text_file(path, key, kMaxPemFileBytes);
  if (!text.ok()) return section.error(key, text.status().message());
  *out = std::move(*text);
}

std::optional<NomadDriver> parse_driver(const std::string& name) {
  if (name == "docker") return NomadDriver::kDocker;
  if (name == "exec") return NomadDriver::kExec;
  if (name == "raw_exec") return NomadDriver::kRawExec;
  if (name == "java") return NomadDriver::kJava;
  return std::nullopt;
}

bool has_scheme(const std::string& address) {
  return address.rfind("http://", 0) == 0 || address.rfind("https://", 0) == 0;
}

}  // namespace

const char* to_string(NomadDriver driver) {
  switch (driver) {
    case NomadDriver::kDocker: return "docker";
    case NomadDriver::kExec: return "exec";
    case NomadDriver::kRawExec: return "raw_exec";
    case NomadDriver::kJava: return "java";
  }
  return "docker";
}

StatusOr<boost::json::object> load_job_template(const std::string& path) {
  auto text = read_text_file(path, "job template", kMaxConfigFileBytes);
  if (!text.ok()) return text.status();
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(*text, ec);
  if (ec) return Status::InvalidArgument(path + ": not JSON (" + ec.message() + "); write the job as `nomad job run -output` prints it");
  if (!value.is_object()) return Status::InvalidArgument(path + ": a job template must be a JSON object");
  boost::json::object job = value.as_object();
  if (const auto* inner = job.if_contains("Job")) {
    if (!inner->is_object()) return Status::InvalidArgument(path + ": Job must be an object");
    job = inner->as_object();
  }
  const auto* groups = job.if_contains("TaskGroups");
  if (groups == nullptr || !groups->is_array() || groups->as_array().empty()) {
    return Status::InvalidArgument(path + ": the job has no TaskGroups (field names are Nomad's JSON ones: TaskGroups, Tasks, ...)");
  }
  for (const auto& group : groups->as_array()) {
    const auto* tasks = group.is_object() ? group.as_object().if_contains("Tasks") : nullptr;
    if (tasks == nullptr || !tasks->is_array() || tasks->as_array().empty()) {
      return Status::InvalidArgument(path + ": every task group needs Tasks");
    }
  }
  return job;
}

Status parse_nomad_pool(config::Section& section, NomadPoolConfig* out) {
  NomadPoolConfig parsed;
  parsed.connection.address = section.get_string("address", parsed.connection.address);
  while (!parsed.connection.address.empty() && parsed.connection.address.back() == '/') parsed.connection.address.pop_back();
  if (!has_scheme(parsed.connection.address)) {
    section.error("address", "must start with http:// or https://, got \"" + parsed.connection.address + "\"");
  }
  parsed.region = section.get_string("region");
  parsed.name_space = section.get_string("namespace", parsed.name_space);
  if (parsed.name_space.empty() || parsed.name_space == "*") section.error("namespace", "must name one namespace");
  parsed.datacenters = section.get_string_list("datacenters");
  parsed.node_pool = section.get_string("node_pool");
  parsed.priority = static_cast<int>(section.get_int("priority", parsed.priority, 1, 100));

  parsed.connection.token = section.get_string("token");
  parsed.connection.token_file = section.get_string("token_file");
  if (!parsed.connection.token.empty() && !parsed.connection.token_file.empty()) {
    section.error("token", "set either token or token_file, not both");
  }
  if (!parsed.connection.token_file.empty()) {
    auto token = read_text_file(parsed.connection.token_file, "token_file", kMaxCredentialFileBytes);
    if (!token.ok()) {
      section.error("token_file", token.status().message());
    } else if (trim(*token).empty()) {
      section.error("token_file", parsed.connection.token_file + " is empty");
    }
  }
  parsed.token_refresh_interval = section.get_duration("token_refresh_interval", parsed.token_refresh_interval);
  if (parsed.token_refresh_interval < std::chrono::seconds(1)) section.error("token_refresh_interval", "must be at least 1s");

  config::Section tls = section.child("tls");
  read_pem(tls, "ca_file", &parsed.connection.ca_pem);
  read_pem(tls, "cert_file", &parsed.connection.client_cert_pem);
  read_pem(tls, "key_file", &parsed.connection.client_key_pem);
  if (parsed.connection.client_cert_pem.empty() != parsed.connection.client_key_pem.empty()) {
    tls.error(parsed.connection.client_cert_pem.empty() ? "cert_file" : "key_file", "cert_file and key_file go together");
  }
  parsed.connection.server_name = tls.get_string("server_name");
  parsed.connection.insecure_skip_verify = tls.get_bool("insecure_skip_verify", false);
  (void)tls.finish();  // unknown keys; the first error is reported by section.finish()
  if (section.has("tls") && parsed.connection.address.rfind("http://", 0) == 0) {
    section.error("tls", "applies to an https:// address");
  }

  const std::string driver = section.get_string("driver", "docker");
  if (auto parsed_driver = parse_driver(driver)) {
    parsed.driver = *parsed_driver;
  } else {
    section.error("driver", "must be docker, exec, raw_exec or java, got \"" + driver + "\"");
  }
  if (section.has("driver_config")) {
    config::Section driver_config = section.child("driver_config");
    boost::json::value value = yaml_node_to_json(driver_config.node());
    if (value.is_object()) {
      parsed.driver_config = std::move(value.as_object());
    } else if (!value.is_null()) {
      section.error("driver_config", "expected a mapping of the driver's options");
    }
  }
  parsed.image = section.get_string("image");
  const std::string template_file = section.get_string("job_template_file");
  if (!template_file.empty()) {
    auto job = load_job_template(template_file);
    if (job.ok()) {
      parsed.job_template = std::move(*job);
    } else {
      section.error("job_template_file", job.status().message());
    }
  }
  parsed.task_name = section.get_string("task_name", parsed.task_name);
  if (parsed.task_name.empty()) section.error("task_name", "must not be empty");
  parsed.cpu_mhz_per_core = section.get_int("cpu_mhz_per_core", parsed.cpu_mhz_per_core, 1, 1'000'000);
  parsed.meta = section.get_string_map("meta");
  parsed.kill_timeout = section.get_duration("kill_timeout", parsed.kill_timeout);
  parsed.purge_on_kill = section.get_bool("purge_on_kill", parsed.purge_on_kill);
  parsed.max_connections = static_cast<std::size_t>(section.get_int("max_connections", 16, 1, 90));
  parsed.request_timeout = section.get_duration("request_timeout", parsed.request_timeout);
  if (parsed.request_timeout < std::chrono::milliseconds(100)) section.error("request_timeout", "must be at least 100ms");
  parsed.stream_idle_timeout = section.get_duration("stream_idle_timeout", parsed.stream_idle_timeout);
  if (parsed.stream_idle_timeout < std::chrono::seconds(1)) section.error("stream_idle_timeout", "must be at least 1s");
  parsed.retry_max_backoff = section.get_duration("retry_max_backoff", parsed.retry_max_backoff);

  Status status = section.finish();
  if (!status.ok()) return status;
  *out = std::move(parsed);
  return Status::Ok();
}

}  // namespace berth
