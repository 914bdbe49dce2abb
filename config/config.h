#pragma once
// berthd's configuration: the YAML file (deploy/berthd.yaml documents every key) read into typed,
// validated values, plus the tokens file it names. Every error names the file, line and column
// and the key's path, and only the first error is reported:
//   "berthd.yaml:3:9: listen: 0.0.0.0:7433 is not a loopback address: configure tls and
//    tokens_file, or set insecure: true"
// Loading never throws; a Config that loaded is complete and consistent (pools and tenants refer
// to each other correctly), except the adapter sections, which each adapter checks itself.
//
// Relative paths in the files are relative to the daemon's working directory. Every file is read
// with base/files.h's read_regular_file: a regular file, the config and tokens files at most
// kMaxConfigFileBytes (1 MiB), a token_file kMaxCredentialFileBytes (64 KiB), TLS files
// kMaxPemFileBytes (1 MiB).

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "config/section.h"
#include "core/options.h"
#include "base/status.h"
#include "core/types.h"

namespace berth::config {

// The pool types a pool's `type:` may name, in the order errors list them. berthd passes the
// backends registered in daemon/adapters.cc; config/ itself knows none.
using PoolTypes = std::vector<std::string>;

enum class Role { kDriver, kOperator };
const char* to_string(Role role);

// One bearer token. The token value never appears in an error message or a reload plan.
struct TokenEntry {
  std::string token;
  TenantName tenant;  // for drivers: the tenant whose applications it may touch
  Role role = Role::kDriver;
  bool operator==(const TokenEntry&) const = default;
};

struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // set = clients must present a certificate signed by it (mTLS)
  bool enabled() const { return !cert_file.empty(); }
  bool operator==(const TlsConfig&) const = default;
};

struct LoggingConfig {
  std::string level = "info";   // trace | debug | info | warn | error
  std::string format = "text";  // text | json
  bool operator==(const LoggingConfig&) const = default;
};

struct PoolConfig {
  PoolPolicy policy;
  YAML::Node adapter_section;  // the mapping under the key named like the type, e.g. `local:`
  std::string file;            // the config file, for the adapter's error messages
  std::string path;            // "pools[0].local"
  YAML::Mark mark;             // where the pool is declared: errors about an absent section point here

  // A fresh Section over adapter_section for the adapter to parse; its errors are its own.
  Section section() const;
};

struct Config {
  std::string file;                                // path it was loaded from
  std::string daemon_id;                           // empty = generated once and kept in the store
  std::string state_dir = "./var";
  std::string listen = "unix:/run/berthd/berthd.sock";  // gRPC
  std::string metrics_listen = "127.0.0.1:7434";   // Prometheus /metrics; "" = off
  bool insecure = false;
  // Without tokens_file, a loopback TCP listen is refused unless this (or insecure) is set: every
  // user of the host could call berthd. berthd warns at start when it serves so.
  bool allow_unauthenticated_loopback = false;
  TlsConfig tls;
  std::string tokens_file;                         // "" = no authentication
  std::vector<TokenEntry> tokens;                  // loaded from tokens_file by load_config
  // Launch env variables whose names match (case-insensitive, anywhere in the name) are shown as
  // <redacted> in every answer and event; executors still get their values. Spark's default.
  std::string redact_env = "secret|password|token|credential|access[._-]?key";
  LoggingConfig logging;
  EngineOptions engine;                            // from `reconciler:`
  std::vector<PoolConfig> pools;                   // at least one, names unique
  std::vector<TenantPolicy> tenants;               // at least one: `default` when none is declared

  const PoolConfig* pool(const PoolName& name) const;
  const TenantPolicy* tenant(const TenantName& name) const;
};

// Reads and checks the config file, then the tokens file it names (drivers' tenants must exist).
// Errors: when the config file itself cannot be read, read_regular_file's (NotFound when it is
// missing, InvalidArgument when it is no regular file or too large ...); InvalidArgument for
// everything else, a file it names that cannot be read included ("berthd.yaml:4:14: tokens_file:
// cannot read /dev/zero: not a regular file (a character device)").
StatusOr<Config> load_config(const std::string& path, const PoolTypes& pool_types);
// The same checks on text already in memory, without reading the tokens file. `file_name` only
// labels error messages.
StatusOr<Config> parse_config(const std::string& yaml_text, const std::string& file_name,
                              const PoolTypes& pool_types);
// Reads a tokens file on its own (no tenant check). read_regular_file's error when it cannot be
// read (NotFound when it is missing).
StatusOr<std::vector<TokenEntry>> load_tokens(const std::string& path);

// Whether `address` (a gRPC listen address) only accepts connections from this host:
// 127.0.0.0/8, [::1], localhost, unix: and unix-abstract: sockets.
bool is_loopback_listen(const std::string& address);

// The path of a `unix:/path` (or `unix:path`, `unix://path`) listen address; "" for any other form
// (host:port, unix-abstract:name).
std::string unix_socket_path(const std::string& address);

// Who may call berthd, as the config lets it listen. The rules load_config enforces:
// - a tokens file: any address; a non-loopback one also needs tls (or insecure: true);
// - no tokens file: a unix: socket (its file's permissions decide, 0660), or a loopback TCP
//   address with allow_unauthenticated_loopback: true (or insecure: true), or a non-loopback one
//   with insecure: true. A unix-abstract: socket has no permissions: it needs a tokens file.
// metrics_listen has neither TLS nor tokens: a non-loopback address needs insecure: true.
// The warning berthd logs at start when any local user (or anyone on the network) can call it
// without a token; "" when callers need a token or the unix socket's permissions restrict them.
std::string unauthenticated_listen_warning(const Config& config);

// What a SIGHUP would change. Only the log level, tenants' limits and tokens change at run time;
// anything else in `needs_restart` means the reload must be refused as a whole. Entries read
// "logging.level: info -> debug", "tenants[team-a].limits.max_executors: 10 -> 20",
// "tokens: 3 -> 4 entries"; token values are never shown.
struct ReloadPlan {
  std::vector<std::string> changes;
  std::vector<std::string> needs_restart;
  // Ok, or FailedPrecondition listing what needs a restart: "listen: a -> b needs a restart".
  Status status() const;
};
ReloadPlan plan_reload(const Config& running, const Config& reloaded);

}  // namespace berth::config
