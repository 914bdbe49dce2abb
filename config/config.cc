#include "config/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <regex>
#include <cctype>
#include <climits>
#include <map>
#include <set>

#include "base/files.h"
#include "config/text.h"

namespace berth::config {

namespace {

constexpr std::int64_t kMaxPendingLimit = 1'000'000;
constexpr std::size_t kMaxNameLength = 63;   // a DNS label / Kubernetes label value
constexpr std::size_t kMaxPrefixLength = 20; // leaves room for "-<app>-exec-<id>" in 63
constexpr std::size_t kMinTokenLength = 16;
constexpr std::size_t kMaxTokenLength = 4096;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// Pool names and the name prefix end up in backend object names: a DNS label.
bool valid_dns_label(const std::string& name, std::size_t max_length) {
  if (name.empty() || name.size() > max_length) return false;
  if (!is_lower_alnum(name.front()) || !is_lower_alnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
}
const char* kDnsLabelRule = "use 1 to 63 of a-z, 0-9 and '-', starting and ending with a letter or digit";

// Tenant names and the daemon id end up in label values.
bool valid_label_value(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength || !is_alnum(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}
const char* kLabelValueRule =
    "use 1 to 63 of A-Z, a-z, 0-9, '-', '_' and '.', starting with a letter or digit";

bool is_known_pool_type(const PoolTypes& types, const std::string& type) {
  return std::find(types.begin(), types.end(), type) != types.end();
}

std::string known_pool_types(const PoolTypes& types) {
  std::string out;
  for (const std::string& type : types) out += (out.empty() ? "" : ", ") + type;
  return out;
}

bool starts_with(const std::string& text, const char* prefix) {
  return text.rfind(prefix, 0) == 0;
}

// host:0 asks the kernel for a free port: two such listeners never collide.
bool ephemeral_port(const std::string& address) {
  if (starts_with(address, "unix:") || starts_with(address, "unix-abstract:")) return false;
  const auto colon = address.rfind(':');
  return colon != std::string::npos && colon + 1 < address.size() &&
         address.find_first_not_of('0', colon + 1) == std::string::npos;
}

// host:port, [v6]:port, unix:path or unix-abstract:name. Empty `why` = valid.
std::string check_listen(const std::string& address) {
  const char* kForm = "expected host:port, [ipv6]:port or unix:path";
  if (starts_with(address, "unix:") || starts_with(address, "unix-abstract:")) {
    return address.back() == ':' ? "names no socket path" : "";
  }
  std::string host;
  std::string port;
  if (starts_with(address, "[")) {
    const auto close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return kForm;
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6) != 1) return "\"" + host + "\" is not an IPv6 address";
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0) return kForm;
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    const bool host_ok = std::all_of(host.begin(), host.end(), [](char c) {
      return is_alnum(c) || c == '-' || c == '.';
    });
    if (!host_ok) return kForm;
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(port) > 65535) {
    return "port must be a number from 0 to 65535";
  }
  return "";
}

StatusOr<YAML::Node> load_yaml(const std::string& text, const std::string& file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::string message = file;
    if (!e.mark.is_null()) {
      message += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    return Status::InvalidArgument(message + ": " + e.msg);
  }
}

void read_tls(Section& section, bool check_files, TlsConfig* tls) {
  tls->cert_file = section.get_string("cert_file");
  tls->key_file = section.get_string("key_file");
  tls->client_ca_file = section.get_string("client_ca_file");
  if (tls->cert_file.empty() != tls->key_file.empty()) {
    section.error(tls->cert_file.empty() ? "key_file" : "cert_file",
                  "cert_file and key_file go together: set both or neither");
  }
  if (!tls->client_ca_file.empty() && tls->cert_file.empty()) {
    section.error("client_ca_file", "client certificates need a server certificate: set cert_file "
                                    "and key_file too");
  }
  if (check_files) {
    for (const auto& [key, path] : {std::pair<const char*, const std::string*>{"cert_file", &tls->cert_file},
                                    {"key_file", &tls->key_file},
                                    {"client_ca_file", &tls->client_ca_file}}) {
      if (path->empty()) continue;
      if (StatusOr<std::string> pem = read_regular_file(*path, kMaxPemFileBytes); !pem.ok()) {
        section.error(key, pem.status().message());
      }
    }
  }
  section.finish();
}

void read_logging(Section& section, LoggingConfig* logging) {
  logging->level = section.get_string("level", logging->level);
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
  if (!kLevels.count(logging->level)) {
    section.error("level", "expected one of trace, debug, info, warn, error, got " +
                               quote(logging->level));
  }
  logging->format = section.get_string("format", logging->format);
  if (logging->format != "text" && logging->format != "json") {
    section.error("format", "expected text or json, got " + quote(logging->format));
  }
  section.finish();
}

void read_engine(Section& section, EngineOptions* engine) {
  engine->name_prefix = section.get_string("name_prefix", engine->name_prefix);
  if (!valid_dns_label(engine->name_prefix, kMaxPrefixLength)) {
    section.error("name_prefix", "use 1 to 20 of a-z, 0-9 and '-', starting and ending with a "
                                 "letter or digit, got " + quote(engine->name_prefix));
  }
  engine->max_pending_per_app = static_cast<std::int32_t>(
      section.get_int("max_pending_per_app", engine->max_pending_per_app, 1, kMaxPendingLimit));
  engine->failure_budget = static_cast<std::int32_t>(
      section.get_int("failure_budget", engine->failure_budget, 1, kMaxPendingLimit));
  const std::pair<const char*, Duration*> durations[] = {
      {"failure_window", &engine->failure_window},
      {"quick_failure", &engine->quick_failure},
      {"launch_timeout", &engine->launch_timeout},
      {"missing_grace", &engine->missing_grace},
      {"orphan_grace", &engine->orphan_grace},
      {"resync_interval", &engine->resync_interval},
      {"backoff_initial", &engine->backoff_initial},
      {"backoff_max", &engine->backoff_max},
      {"kill_grace", &engine->kill_grace},
      {"kill_retry_margin", &engine->kill_retry_margin},
      {"kill_retry_max", &engine->kill_retry_max},
      {"decommission_grace", &engine->decommission_grace},
      {"ended_retention", &engine->ended_retention},
  };
  for (const auto& [key, field] : durations) {
    *field = section.get_duration(key, *field);
    if (field->count() <= 0) section.error(key, "must be positive");
  }
  if (engine->backoff_initial > engine->backoff_max) {
    section.error("backoff_initial", "must not exceed backoff_max (" +
                                         format_duration(engine->backoff_max) + ")");
  }
  engine->event_window = static_cast<std::size_t>(
      section.get_int("event_window", static_cast<std::int64_t>(engine->event_window), 1,
                      100'000'000));
  engine->event_window_bytes = static_cast<std::size_t>(
      section.get_int("event_window_mib", static_cast<std::int64_t>(engine->event_window_bytes >> 20), 1, 65'536))
      << 20;
  section.finish();
}

void read_pools(std::vector<Section>& sections, const std::string& file, const PoolTypes& types,
                Config* config) {
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < sections.size(); ++i) {
    Section& section = sections[i];
    PoolConfig pool;
    pool.file = file;
    pool.mark = section.node().Mark();
    pool.policy.name = section.require_string("name");
    if (!pool.policy.name.empty()) {
      if (!valid_dns_label(pool.policy.name, kMaxNameLength)) {
        section.error("name", std::string(kDnsLabelRule) + ", got " + quote(pool.policy.name));
      } else if (auto [it, fresh] = seen.emplace(pool.policy.name, i); !fresh) {
        section.error("name", "duplicate pool name " + quote(pool.policy.name) + " (also pools[" +
                                  std::to_string(it->second) + "])");
      }
    }
    pool.policy.type = section.require_string("type");
    const bool type_known = is_known_pool_type(types, pool.policy.type);
    if (!pool.policy.type.empty() && !type_known) {
      section.error("type", "unknown pool type " + quote(pool.policy.type) + " (known: " +
                                known_pool_types(types) + ")");
    }
    pool.policy.max_pending = static_cast<std::int32_t>(
        section.get_int("max_pending", pool.policy.max_pending, 1, kMaxPendingLimit));
    pool.policy.max_inflight_launches = static_cast<std::int32_t>(
        section.get_int("max_inflight_launches", pool.policy.max_inflight_launches, 1, 100'000));
    for (const std::string& other : types) {
      if (pool.policy.type != other && section.has(other)) {
        section.error(other, "does not match the pool's type " + quote(pool.policy.type) +
                                 ": the adapter section's key must be the type");
      }
    }
    if (type_known) {
      Section adapter = section.child(pool.policy.type);  // checked by the adapter, not finished
      pool.adapter_section = adapter.node();
      pool.path = adapter.path();
    }
    section.finish();
    config->pools.push_back(std::move(pool));
  }
}

// Checks a tenant's pool list: declared pools, no repeats, and (for default_pools) allowed ones.
void check_pool_list(Section& section, const std::string& key, const std::vector<PoolName>& pools,
                     const Config& config, const std::vector<PoolName>* allowed) {
  std::set<PoolName> seen;
  for (std::size_t i = 0; i < pools.size(); ++i) {
    const std::string where = key + "[" + std::to_string(i) + "]";
    if (!config.pool(pools[i])) {
      section.error(where, "pool " + quote(pools[i]) + " is not declared in pools");
    } else if (!seen.insert(pools[i]).second) {
      section.error(where, "pool " + quote(pools[i]) + " is listed twice");
    } else if (allowed && !allowed->empty() &&
               std::find(allowed->begin(), allowed->end(), pools[i]) == allowed->end()) {
      section.error(where, "pool " + quote(pools[i]) + " is not in allowed_pools");
    }
  }
}

void read_tenants(std::vector<Section>& sections, Config* config) {
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < sections.size(); ++i) {
    Section& section = sections[i];
    TenantPolicy tenant;
    tenant.name = section.require_string("name");
    if (!tenant.name.empty()) {
      if (!valid_label_value(tenant.name)) {
        section.error("name", std::string(kLabelValueRule) + ", got " + quote(tenant.name));
      } else if (auto [it, fresh] = seen.emplace(tenant.name, i); !fresh) {
        section.error("name", "duplicate tenant name " + quote(tenant.name) + " (also tenants[" +
                                  std::to_string(it->second) + "])");
      }
    }
    tenant.allowed_pools = section.get_string_list("allowed_pools");
    tenant.default_pools = section.get_string_list("default_pools");
    check_pool_list(section, "allowed_pools", tenant.allowed_pools, *config, nullptr);
    check_pool_list(section, "default_pools", tenant.default_pools, *config, &tenant.allowed_pools);
    if (tenant.default_pools.empty()) {
      // An app that names no pools may use any pool its tenant may use, in declaration order.
      if (!tenant.allowed_pools.empty()) {
        tenant.default_pools = tenant.allowed_pools;
      } else {
        for (const PoolConfig& pool : config->pools) tenant.default_pools.push_back(pool.policy.name);
      }
    }
    Section limits = section.child("limits");
    tenant.limits.max_executors =
        static_cast<std::int32_t>(limits.get_int("max_executors", 0, 0, INT32_MAX));
    tenant.limits.max_cores = static_cast<std::int32_t>(limits.get_int("max_cores", 0, 0, INT32_MAX));
    tenant.limits.max_memory_mib = limits.get_int("max_memory_mib", 0, 0, INT64_MAX);
    tenant.limits.max_pending =
        static_cast<std::int32_t>(limits.get_int("max_pending", 0, 0, INT32_MAX));
    tenant.limits.max_apps = static_cast<std::int32_t>(limits.get_int("max_apps", 0, 0, INT32_MAX));
    tenant.limits.max_watchers =
        static_cast<std::int32_t>(limits.get_int("max_watchers", 0, 0, INT32_MAX));
    tenant.limits.max_launch_spec_kib =
        static_cast<std::int32_t>(limits.get_int("max_launch_spec_kib", 0, 0, 256));
    limits.finish();
    section.finish();
    config->tenants.push_back(std::move(tenant));
  }
}

// The listening rules (see unauthenticated_listen_warning in config.h). Run after the addresses'
// syntax was checked; only the first error counts, so a malformed address is reported as such.
void check_who_may_call(Section& root, const Config& config) {
  const bool tokens = !config.tokens_file.empty();
  const std::string& listen = config.listen;
  if (starts_with(listen, "unix-abstract:")) {
    if (!tokens) {
      root.error("listen", listen + " is an abstract socket, which has no permissions: anyone on "
                           "the host could call berthd; configure tokens_file, or listen on a "
                           "unix:/path socket (mode 0660)");
    }
  } else if (!starts_with(listen, "unix:")) {
    if (!is_loopback_listen(listen)) {
      if (!config.insecure && (!config.tls.enabled() || !tokens)) {
        root.error("listen", listen + " is not a loopback address: configure tls and "
                                      "tokens_file, or set insecure: true");
      }
    } else if (!tokens && !config.insecure && !config.allow_unauthenticated_loopback) {
      root.error("listen", listen + " without tokens_file lets every user of this host call "
                           "berthd: listen on a unix:/path socket (mode 0660), configure "
                           "tokens_file, or set allow_unauthenticated_loopback: true");
    }
  }
  if (!config.metrics_listen.empty() && !config.insecure &&
      !is_loopback_listen(config.metrics_listen)) {
    root.error("metrics_listen", config.metrics_listen + " is not a loopback address and /metrics "
                                 "has no TLS or authentication: use a loopback address, or set "
                                 "insecure: true");
  }
}

// With `check_files`, the files the config names are read too: TLS files to check them, the
// tokens file into `tokens_text`. An unreadable one is an error at the key that names it.
StatusOr<Config> parse(const std::string& text, const std::string& file, const PoolTypes& types,
                       bool check_files, std::string* tokens_text = nullptr) {
  StatusOr<YAML::Node> document = load_yaml(text, file);
  if (!document.ok()) return document.status();
  Section root(*document, file, "", YAML::Mark());
  Config config;
  config.file = file;

  // Every top-level key first, so that a misspelt one is the error reported, not its consequences.
  config.daemon_id = root.get_string("daemon_id");
  config.state_dir = root.get_string("state_dir", config.state_dir);
  config.listen = root.get_string("listen", config.listen);
  config.metrics_listen = root.get_string("metrics_listen", config.metrics_listen);
  config.insecure = root.get_bool("insecure", config.insecure);
  config.allow_unauthenticated_loopback =
      root.get_bool("allow_unauthenticated_loopback", config.allow_unauthenticated_loopback);
  config.tokens_file = root.get_string("tokens_file");
  config.redact_env = root.get_string("redact_env", config.redact_env);
  Section tls = root.child("tls");
  Section logging = root.child("logging");
  Section reconciler = root.child("reconciler");
  std::vector<Section> pools = root.children("pools");
  std::vector<Section> tenants = root.children("tenants");
  if (Status status = root.finish(); !status.ok()) return status;

  if (!config.daemon_id.empty() && !valid_label_value(config.daemon_id)) {
    root.error("daemon_id", std::string(kLabelValueRule) + ", got " + quote(config.daemon_id));
  }
  if (config.state_dir.empty()) root.error("state_dir", "must not be empty");
  try {
    std::regex(config.redact_env, std::regex::icase | std::regex::extended);
  } catch (const std::regex_error& e) {
    root.error("redact_env", std::string("not a regular expression (POSIX extended): ") + e.what());
  }
  if (check_files && !config.tokens_file.empty()) {
    if (StatusOr<std::string> tokens = read_regular_file(config.tokens_file, kMaxConfigFileBytes); !tokens.ok()) {
      root.error("tokens_file", tokens.status().message());
    } else if (tokens_text != nullptr) {
      *tokens_text = std::move(*tokens);
    }
  }
  if (std::string why = check_listen(config.listen); !why.empty()) {
    root.error("listen", why + ", got " + quote(config.listen));
  }
  if (!config.metrics_listen.empty()) {
    if (std::string why = check_listen(config.metrics_listen); !why.empty()) {
      root.error("metrics_listen", why + ", got " + quote(config.metrics_listen));
    } else if (config.metrics_listen == config.listen && !ephemeral_port(config.listen)) {
      root.error("metrics_listen", "the same address as listen");
    }
  }
  read_tls(tls, check_files, &config.tls);
  read_logging(logging, &config.logging);
  read_engine(reconciler, &config.engine);
  read_pools(pools, file, types, &config);
  read_tenants(tenants, &config);

  if (config.pools.empty()) root.error("pools", "at least one pool is required");
  if (tenants.empty()) {
    TenantPolicy implied;
    implied.name = "default";
    for (const PoolConfig& pool : config.pools) implied.default_pools.push_back(pool.policy.name);
    config.tenants.push_back(std::move(implied));
  }
  check_who_may_call(root, config);
  if (Status status = root.finish(); !status.ok()) return status;
  return config;
}

// Reads the tokens file's text. With `config`, a driver token's tenant must be one of its tenants.
StatusOr<std::vector<TokenEntry>> parse_tokens(const std::string& text, const std::string& file,
                                               const Config* config) {
  StatusOr<YAML::Node> document = load_yaml(text, file);
  if (!document.ok()) return document.status();
  Section root(*document, file, "", YAML::Mark());
  std::vector<Section> entries = root.children("tokens");
  if (Status status = root.finish(); !status.ok()) return status;
  if (entries.empty()) {
    root.error("tokens", "no tokens: nobody could call berthd; list at least one");
  }

  std::vector<TokenEntry> tokens;
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    Section& entry = entries[i];
    TokenEntry token;
    const std::string inline_token = entry.get_string("token");
    const std::string token_file = entry.get_string("token_file");
    std::string key = "token";
    if (entry.has("token") && entry.has("token_file")) {
      entry.error("token_file", "give token or token_file, not both");
    } else if (!entry.has("token") && !entry.has("token_file")) {
      entry.error("", "needs token or token_file");
    } else if (entry.has("token_file")) {
      key = "token_file";
      if (StatusOr<std::string> text = read_regular_file(token_file, kMaxCredentialFileBytes); text.ok()) {
        token.token = std::move(*text);
      } else {
        entry.error(key, text.status().message());
      }
      // Files written by `echo` or an editor end with a newline that is not part of the token.
      while (!token.token.empty() && std::isspace(static_cast<unsigned char>(token.token.back()))) {
        token.token.pop_back();
      }
    } else {
      token.token = inline_token;
    }
    const bool printable = std::all_of(token.token.begin(), token.token.end(),
                                       [](char c) { return c > 0x20 && c < 0x7f; });
    if (!printable) {
      entry.error(key, "the token contains spaces, control or non-ASCII characters");
    } else if (token.token.size() < kMinTokenLength || token.token.size() > kMaxTokenLength) {
      entry.error(key, "a token needs 16 to 4096 characters (make one with: openssl rand -hex 32)");
    } else if (auto [it, fresh] = seen.emplace(token.token, i); !fresh) {
      entry.error(key, "the same token as tokens[" + std::to_string(it->second) + "]");
    }

    const std::string role = entry.require_string("role");
    if (role == "driver") {
      token.role = Role::kDriver;
    } else if (role == "operator") {
      token.role = Role::kOperator;
    } else if (!role.empty()) {
      entry.error("role", "expected driver or operator, got " + quote(role));
    }
    token.tenant = token.role == Role::kDriver ? entry.require_string("tenant")
                                               : entry.get_string("tenant");
    if (!token.tenant.empty()) {
      if (!valid_label_value(token.tenant)) {
        entry.error("tenant", std::string(kLabelValueRule) + ", got " + quote(token.tenant));
      } else if (config && token.role == Role::kDriver && !config->tenant(token.tenant)) {
        entry.error("tenant", "tenant " + quote(token.tenant) + " is not declared in " +
                                  config->file);
      }
    }
    entry.finish();
    tokens.push_back(std::move(token));
  }
  if (Status status = root.finish(); !status.ok()) return status;
  return tokens;
}

StatusOr<std::string> read_config_file(const std::string& path) {
  return read_regular_file(path, kMaxConfigFileBytes);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string show(const std::string& value) { return value.empty() ? "\"\"" : value; }
std::string show(bool value) { return value ? "true" : "false"; }
std::string show(std::int64_t value) { return std::to_string(value); }
std::string show(Duration value) { return format_duration(value); }
std::string show(const std::vector<std::string>& value) { return "[" + join(value) + "]"; }

// An adapter section as text, for comparison; absent and empty compare equal.
std::string dump(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull() || (node.IsMap() && node.size() == 0)) return "";
  try {
    return YAML::Dump(node);
  } catch (const YAML::Exception&) {
    return "<unprintable>";
  }
}

// Appends "key: before -> after" to `out` when the values differ.
template <typename T>
void diff(std::vector<std::string>& out, const std::string& key, const T& before, const T& after) {
  if (before != after) out.push_back(key + ": " + show(before) + " -> " + show(after));
}

}  // namespace

const char* to_string(Role role) {
  switch (role) {
    case Role::kDriver: return "driver";
    case Role::kOperator: return "operator";
  }
  return "unknown";
}

Section PoolConfig::section() const { return Section(adapter_section, file, path, mark); }

const PoolConfig* Config::pool(const PoolName& name) const {
  auto it = std::find_if(pools.begin(), pools.end(),
                         [&](const PoolConfig& p) { return p.policy.name == name; });
  return it == pools.end() ? nullptr : &*it;
}

const TenantPolicy* Config::tenant(const TenantName& name) const {
  auto it = std::find_if(tenants.begin(), tenants.end(),
                         [&](const TenantPolicy& t) { return t.name == name; });
  return it == tenants.end() ? nullptr : &*it;
}

StatusOr<Config> parse_config(const std::string& yaml_text, const std::string& file_name,
                              const PoolTypes& pool_types) {
  try {
    return parse(yaml_text, file_name, pool_types, /*check_files=*/false);
  } catch (const std::exception& e) {  // yaml-cpp throws on misuse; none should reach here
    return Status::Internal(file_name + ": " + e.what());
  }
}

StatusOr<Config> load_config(const std::string& path, const PoolTypes& pool_types) {
  StatusOr<std::string> text = read_config_file(path);
  if (!text.ok()) return text.status();
  try {
    std::string tokens_text;
    StatusOr<Config> config = parse(*text, path, pool_types, /*check_files=*/true, &tokens_text);
    if (!config.ok() || config->tokens_file.empty()) return config;
    StatusOr<std::vector<TokenEntry>> tokens =
        parse_tokens(tokens_text, config->tokens_file, &*config);
    if (!tokens.ok()) return tokens.status();
    config->tokens = std::move(*tokens);
    return config;
  } catch (const std::exception& e) {
    return Status::Internal(path + ": " + e.what());
  }
}

StatusOr<std::vector<TokenEntry>> load_tokens(const std::string& path) {
  StatusOr<std::string> text = read_config_file(path);
  if (!text.ok()) return text.status();
  try {
    return parse_tokens(*text, path, nullptr);
  } catch (const std::exception& e) {
    return Status::Internal(path + ": " + e.what());
  }
}

std::string unix_socket_path(const std::string& address) {
  if (!starts_with(address, "unix:")) return "";
  std::string path = address.substr(5);
  if (starts_with(path, "//")) path = path.substr(2);  // unix:///run/x.sock
  return path;
}

std::string unauthenticated_listen_warning(const Config& config) {
  if (!config.tokens_file.empty() || starts_with(config.listen, "unix:")) return "";
  if (is_loopback_listen(config.listen)) {
    return "listen " + config.listen + " without tokens_file: anyone on this host can call berthd "
           "(and run executors through it); allow_unauthenticated_loopback is meant for development";
  }
  return "listen " + config.listen + " without tokens_file (insecure: true): anyone who can reach "
         "the address can call berthd";
}

bool is_loopback_listen(const std::string& address) {
  if (starts_with(address, "unix:") || starts_with(address, "unix-abstract:")) return true;
  std::string host;
  if (starts_with(address, "[")) {
    const auto close = address.find(']');
    if (close == std::string::npos) return false;
    host = address.substr(1, close - 1);
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6) != 1) return false;
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    // ::ffff:127.x.y.z
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  const auto colon = address.rfind(':');
  host = colon == std::string::npos ? address : address.substr(0, colon);
  if (lower(host) == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) != 1) return false;
  return (ntohl(v4.s_addr) >> 24) == 127;
}

Status ReloadPlan::status() const {
  if (needs_restart.empty()) return Status::Ok();
  std::string message;
  for (const std::string& change : needs_restart) {
    message += (message.empty() ? "" : "; ") + change;
  }
  return Status::FailedPrecondition(message + (needs_restart.size() == 1 ? " needs" : " need") +
                                    " a restart");
}

ReloadPlan plan_reload(const Config& running, const Config& reloaded) {
  ReloadPlan plan;
  std::vector<std::string>& live = plan.changes;
  std::vector<std::string>& restart = plan.needs_restart;

  diff(restart, "daemon_id", running.daemon_id, reloaded.daemon_id);
  diff(restart, "state_dir", running.state_dir, reloaded.state_dir);
  diff(restart, "listen", running.listen, reloaded.listen);
  diff(restart, "metrics_listen", running.metrics_listen, reloaded.metrics_listen);
  diff(restart, "insecure", running.insecure, reloaded.insecure);
  diff(restart, "allow_unauthenticated_loopback", running.allow_unauthenticated_loopback,
       reloaded.allow_unauthenticated_loopback);
  diff(restart, "tls.cert_file", running.tls.cert_file, reloaded.tls.cert_file);
  diff(restart, "tls.key_file", running.tls.key_file, reloaded.tls.key_file);
  diff(restart, "tls.client_ca_file", running.tls.client_ca_file, reloaded.tls.client_ca_file);
  diff(restart, "tokens_file", running.tokens_file, reloaded.tokens_file);
  diff(restart, "redact_env", running.redact_env, reloaded.redact_env);
  diff(live, "logging.level", running.logging.level, reloaded.logging.level);
  diff(restart, "logging.format", running.logging.format, reloaded.logging.format);

  const EngineOptions& a = running.engine;
  const EngineOptions& b = reloaded.engine;
  diff(restart, "reconciler.name_prefix", a.name_prefix, b.name_prefix);
  diff<std::int64_t>(restart, "reconciler.max_pending_per_app", a.max_pending_per_app,
                     b.max_pending_per_app);
  diff<std::int64_t>(restart, "reconciler.failure_budget", a.failure_budget, b.failure_budget);
  diff(restart, "reconciler.failure_window", a.failure_window, b.failure_window);
  diff(restart, "reconciler.quick_failure", a.quick_failure, b.quick_failure);
  diff(restart, "reconciler.launch_timeout", a.launch_timeout, b.launch_timeout);
  diff(restart, "reconciler.missing_grace", a.missing_grace, b.missing_grace);
  diff(restart, "reconciler.orphan_grace", a.orphan_grace, b.orphan_grace);
  diff(restart, "reconciler.resync_interval", a.resync_interval, b.resync_interval);
  diff(restart, "reconciler.backoff_initial", a.backoff_initial, b.backoff_initial);
  diff(restart, "reconciler.backoff_max", a.backoff_max, b.backoff_max);
  diff(restart, "reconciler.kill_grace", a.kill_grace, b.kill_grace);
  diff(restart, "reconciler.decommission_grace", a.decommission_grace, b.decommission_grace);
  diff(restart, "reconciler.ended_retention", a.ended_retention, b.ended_retention);
  diff<std::int64_t>(restart, "reconciler.event_window", static_cast<std::int64_t>(a.event_window),
                     static_cast<std::int64_t>(b.event_window));
  diff<std::int64_t>(restart, "reconciler.event_window_mib", static_cast<std::int64_t>(a.event_window_bytes >> 20),
                     static_cast<std::int64_t>(b.event_window_bytes >> 20));

  // Pools, by name: any difference at all, adapter section included, needs a restart.
  for (const PoolConfig& before : running.pools) {
    const std::string key = "pools[" + before.policy.name + "]";
    const PoolConfig* after = reloaded.pool(before.policy.name);
    if (!after) {
      restart.push_back(key + ": removed");
      continue;
    }
    diff(restart, key + ".type", before.policy.type, after->policy.type);
    diff<std::int64_t>(restart, key + ".max_pending", before.policy.max_pending,
                       after->policy.max_pending);
    diff<std::int64_t>(restart, key + ".max_inflight_launches", before.policy.max_inflight_launches,
                       after->policy.max_inflight_launches);
    if (before.policy.type == after->policy.type &&
        dump(before.adapter_section) != dump(after->adapter_section)) {
      restart.push_back(key + "." + before.policy.type + ": changed");
    }
  }
  for (const PoolConfig& after : reloaded.pools) {
    if (!running.pool(after.policy.name)) restart.push_back("pools[" + after.policy.name + "]: added");
  }

  // Tenants, by name: limits change live; membership and pool lists need a restart.
  for (const TenantPolicy& before : running.tenants) {
    const std::string key = "tenants[" + before.name + "]";
    const TenantPolicy* after = reloaded.tenant(before.name);
    if (!after) {
      restart.push_back(key + ": removed");
      continue;
    }
    diff(restart, key + ".default_pools", before.default_pools, after->default_pools);
    diff(restart, key + ".allowed_pools", before.allowed_pools, after->allowed_pools);
    const TenantLimits& x = before.limits;
    const TenantLimits& y = after->limits;
    diff<std::int64_t>(live, key + ".limits.max_executors", x.max_executors, y.max_executors);
    diff<std::int64_t>(live, key + ".limits.max_cores", x.max_cores, y.max_cores);
    diff<std::int64_t>(live, key + ".limits.max_memory_mib", x.max_memory_mib, y.max_memory_mib);
    diff<std::int64_t>(live, key + ".limits.max_pending", x.max_pending, y.max_pending);
  }
  for (const TenantPolicy& after : reloaded.tenants) {
    if (!running.tenant(after.name)) restart.push_back("tenants[" + after.name + "]: added");
  }

  if (running.tokens != reloaded.tokens) {
    std::string change = "tokens: " + std::to_string(running.tokens.size()) + " -> " +
                         std::to_string(reloaded.tokens.size()) + " entries";
    if (running.tokens.size() == reloaded.tokens.size()) change += " (changed)";
    live.push_back(std::move(change));
  }
  return plan;
}

}  // namespace berth::config
