// The `mesos:` section of a pool (berthd.yaml copies this block):
//
//   mesos:
//     masters: [http://mesos-1:5050, http://mesos-2:5050]  # any of them; a non-leader redirects
//     principal: berth                    # HTTP framework authentication (basic), with secret_file
//     secret_file: /etc/berth/mesos-secret
//     tls: {ca_file: /etc/berth/mesos-ca.pem, server_name: mesos.example, insecure_skip_verify: false}
//     user: spark                         # tasks run as this user; default: berthd's own
//     framework_name: berth               # shown in the Mesos UI (with the pool's name)
//     roles: [spark]                      # default ["*"]
//     failover_timeout: 168h              # executors survive a berthd outage this long (Spark: 0)
//     refuse: 5s                          # offers that fit nothing are declined for this long
//     containerizer: mesos                # mesos | docker (with image)
//     image: apache/spark:3.5.1           # when the application's launch spec names none
//     spark_home: /opt/spark              # for Spark's executor command when the spec names none
//     uris: [https://repo/spark.tgz]      # fetched into each sandbox
//     ports: 0                            # host ports per executor from the offer (PORT0, PORT1 ...
//                                         #   and BERTH_PORTS in its environment)
//     constraints: "rack:r1,r2;os:linux"  # Spark's spark.mesos.constraints syntax
//     labels: {team: data}                # extra task labels
//     kill_grace: 30s                     # kill policy: SIGTERM, then SIGKILL after this
//     agent_failure_limit: 2              # failed tasks on one agent before it is excluded ...
//     agent_exclusion: 10m                # ... for this long (Spark: forever); 0s = never exclude
//     reconcile_interval: 15m             # implicit reconciliation while subscribed
//     request_timeout: 30s
//     retry_max_backoff: 15s              # cap of the re-subscribe backoff
//     max_connections: 8                  # pooled connections for calls (the subscription has its own)

#include "adapters/mesos/mesos_config.h"

#include <pwd.h>
#include <unistd.h>

#include "adapters/common/credential_file.h"
#include "config/section.h"

namespace berth {
namespace {

using adapters::read_text_file;
using adapters::trim;

std::string current_user() {
  if (const passwd* entry = ::getpwuid(::geteuid()); entry != nullptr && entry->pw_name != nullptr) return entry->pw_name;
  return "nobody";
}

}  // namespace

Status parse_mesos_pool(config::Section& section, MesosPoolConfig* out) {
  MesosPoolConfig parsed;
  parsed.masters = section.get_string_list("masters");
  if (parsed.masters.empty()) section.error("masters", "is required: the URL of one or more Mesos masters");
  for (std::size_t i = 0; i < parsed.masters.size(); ++i) {
    std::string& master = parsed.masters[i];
    while (!master.empty() && master.back() == '/') master.pop_back();
    if (master.rfind("http://", 0) != 0 && master.rfind("https://", 0) != 0) {
      section.error("masters[" + std::to_string(i) + "]", "must start with http:// or https://, got \"" + master + "\"");
    }
  }
  parsed.principal = section.get_string("principal");
  const std::string secret_file = section.get_string("secret_file");
  parsed.secret_file = secret_file;
  if (!secret_file.empty()) {
    auto secret = read_text_file(secret_file, "secret_file", kMaxCredentialFileBytes);
    if (!secret.ok()) {
      section.error("secret_file", secret.status().message());
    } else {
      parsed.secret = trim(*secret);
      if (parsed.secret.empty()) section.error("secret_file", secret_file + " is empty");
    }
  }
  if (parsed.principal.empty() != secret_file.empty()) {
    section.error(parsed.principal.empty() ? "secret_file" : "principal", "principal and secret_file go together");
  }
  config::Section tls = section.child("tls");
  if (const std::string ca_file = tls.get_string("ca_file"); !ca_file.empty()) {
    auto ca = read_text_file(ca_file, "ca_file", kMaxPemFileBytes);
    if (ca.ok()) {
      parsed.ca_pem = std::move(*ca);
    } else {
      tls.error("ca_file", ca.status().message());
    }
  }
  parsed.server_name = tls.get_string("server_name");
  parsed.insecure_skip_verify = tls.get_bool("insecure_skip_verify", false);
  (void)tls.finish();

  parsed.user = section.get_string("user", current_user());
  parsed.framework_name = section.get_string("framework_name", parsed.framework_name);
  if (section.has("roles")) parsed.roles = section.get_string_list("roles");
  if (parsed.roles.empty()) section.error("roles", "needs at least one role (\"*\" is the default role)");
  parsed.failover_timeout = section.get_duration("failover_timeout", parsed.failover_timeout);
  if (parsed.failover_timeout < std::chrono::minutes(1)) {
    section.error("failover_timeout", "must be at least 1m: Mesos kills every executor when berthd is away longer");
  }
  parsed.refuse = section.get_duration("refuse", parsed.refuse);
  const std::string containerizer = section.get_string("containerizer", "mesos");
  if (containerizer == "mesos") {
    parsed.containerizer = MesosContainerizer::kMesos;
  } else if (containerizer == "docker") {
    parsed.containerizer = MesosContainerizer::kDocker;
  } else {
    section.error("containerizer", "must be mesos or docker, got \"" + containerizer + "\"");
  }
  parsed.image = section.get_string("image");
  parsed.spark_home = section.get_string("spark_home", parsed.spark_home);
  parsed.uris = section.get_string_list("uris");
  parsed.ports = static_cast<int>(section.get_int("ports", 0, 0, 100));
  parsed.constraints = section.get_string("constraints");
  parsed.labels = section.get_string_map("labels");
  parsed.kill_grace = section.get_duration("kill_grace", parsed.kill_grace);
  parsed.agent_failure_limit = static_cast<int>(section.get_int("agent_failure_limit", parsed.agent_failure_limit, 1, 1000));
  parsed.agent_exclusion = section.get_duration("agent_exclusion", parsed.agent_exclusion);
  parsed.reconcile_interval = section.get_duration("reconcile_interval", parsed.reconcile_interval);
  if (parsed.reconcile_interval < std::chrono::seconds(1)) section.error("reconcile_interval", "must be at least 1s");
  parsed.request_timeout = section.get_duration("request_timeout", parsed.request_timeout);
  if (parsed.request_timeout < std::chrono::milliseconds(100)) section.error("request_timeout", "must be at least 100ms");
  parsed.retry_max_backoff = section.get_duration("retry_max_backoff", parsed.retry_max_backoff);
  parsed.max_connections = static_cast<std::size_t>(section.get_int("max_connections", 8, 1, 64));

  Status status = section.finish();
  if (!status.ok()) return status;
  *out = std::move(parsed);
  return Status::Ok();
}

}  // namespace berth
