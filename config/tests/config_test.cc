#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "config/section.h"

using namespace berth;
using namespace berth::config;
using namespace std::chrono_literals;

namespace {

// The backends berthd registers (daemon/adapters.cc); the config only checks against a list.
const PoolTypes kPoolTypes = {"local", "kubernetes", "nomad", "mesos"};

// The message of the error parse_config reports for `yaml`, or "ok".
std::string error_of(const std::string& yaml) {
  StatusOr<Config> config = parse_config(yaml, "berthd.yaml", kPoolTypes);
  if (config.ok()) return "ok";
  CHECK(config.status().code() == StatusCode::kInvalidArgument);
  return config.status().message();
}

Config parse_ok(const std::string& yaml) {
  StatusOr<Config> config = parse_config(yaml, "berthd.yaml", kPoolTypes);
  INFO(config.status().message());
  REQUIRE(config.ok());
  return *config;
}

const std::string kMinimal = "pools:\n  - name: local\n    type: local\n";

// A scratch directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "config_test.XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string file = (path_ / name).string();
    std::ofstream(file) << text;
    return file;
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

const std::string kTokenA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const std::string kTokenB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

}  // namespace

TEST_CASE("a complete file parses into typed values") {
  const Config c = parse_ok(R"(
daemon_id: edge-1
state_dir: /var/lib/berth
listen: 0.0.0.0:7433
metrics_listen: ""
tls: { cert_file: /etc/berth/tls.crt, key_file: /etc/berth/tls.key, client_ca_file: /etc/berth/ca.crt }
tokens_file: /etc/berth/tokens.yaml
logging: { level: debug, format: json }
reconciler:
  name_prefix: spark
  max_pending_per_app: 50
  launch_timeout: 5m
  missing_grace: 250ms
  backoff_max: 1h
  kill_grace: 7
pools:
  - name: k8s-a
    type: kubernetes
    max_pending: 200
    kubernetes: { namespace: spark }
  - name: local
    type: local
tenants:
  - name: team-a
    default_pools: [k8s-a]
    allowed_pools: [k8s-a, local]
    limits: { max_executors: 10, max_cores: 40, max_memory_mib: 81920, max_pending: 5 }
  - name: team-b
)");
  CHECK(c.file == "berthd.yaml");
  CHECK(c.daemon_id == "edge-1");
  CHECK(c.listen == "0.0.0.0:7433");
  CHECK(c.metrics_listen.empty());
  CHECK(c.tls.enabled());
  CHECK(c.tls.client_ca_file == "/etc/berth/ca.crt");
  CHECK(c.tokens_file == "/etc/berth/tokens.yaml");
  CHECK(c.tokens.empty());  // parse_config does not read the tokens file
  CHECK(c.logging.level == "debug");
  CHECK(c.logging.format == "json");
  CHECK(c.engine.name_prefix == "spark");
  CHECK(c.engine.max_pending_per_app == 50);
  CHECK(c.engine.failure_budget == 10);  // default kept
  CHECK(c.engine.launch_timeout == 5min);
  CHECK(c.engine.missing_grace == 250ms);
  CHECK(c.engine.backoff_max == 1h);
  CHECK(c.engine.kill_grace == 7s);
  REQUIRE(c.pools.size() == 2);
  CHECK(c.pools[0].policy == PoolPolicy{"k8s-a", "kubernetes", 200});
  CHECK(c.pools[0].path == "pools[0].kubernetes");
  CHECK(c.pools[1].policy.max_pending == 1000);
  REQUIRE(c.tenants.size() == 2);
  CHECK(c.tenants[0].default_pools == std::vector<PoolName>{"k8s-a"});
  CHECK(c.tenants[0].limits == TenantLimits{10, 40, 81920, 5, 0});
  // No default_pools and no allowed_pools: every pool, in declaration order.
  CHECK(c.tenants[1].default_pools == std::vector<PoolName>{"k8s-a", "local"});
  CHECK(c.tenants[1].allowed_pools.empty());

  // The adapter section is kept raw, for the adapter to parse with its own Section.
  Section adapter = c.pools[0].section();
  CHECK(adapter.get_string("namespace") == "spark");
  CHECK(adapter.finish().ok());
}

TEST_CASE("with no tenants a default tenant may use every pool") {
  const Config c = parse_ok(kMinimal);
  REQUIRE(c.tenants.size() == 1);
  CHECK(c.tenants[0].name == "default");
  CHECK(c.tenants[0].default_pools == std::vector<PoolName>{"local"});
  CHECK(c.tenants[0].allowed_pools.empty());
  CHECK(c.tenants[0].limits == TenantLimits{});
  CHECK(c.listen == "unix:/run/berthd/berthd.sock");
  CHECK_FALSE(c.allow_unauthenticated_loopback);
  CHECK(c.state_dir == "./var");
}

TEST_CASE("errors name file, line, column and key path") {
  CHECK(error_of("listen: 0.0.0.0:7433\n" + kMinimal) ==
        "berthd.yaml:1:9: listen: 0.0.0.0:7433 is not a loopback address: configure tls and "
        "tokens_file, or set insecure: true");
  CHECK(error_of(kMinimal + "reconciler:\n  launch_timeout: soon\n") ==
        "berthd.yaml:5:19: reconciler.launch_timeout: expected a duration such as 500ms, 10s or "
        "5m, got \"soon\"");
  CHECK(error_of(kMinimal + "listne: 127.0.0.1:1\n") ==
        "berthd.yaml:4:1: listne: unknown key (known here: allow_unauthenticated_loopback, daemon_id, insecure, listen, "
        "logging, metrics_listen, pools, reconciler, redact_env, state_dir, tenants, tls, tokens_file)");
  CHECK(error_of(kMinimal + "redact_env: \"secret(\"\n").rfind("berthd.yaml:4:13: redact_env: not a regular expression", 0) == 0);
  CHECK(parse_ok(kMinimal).redact_env == "secret|password|token|credential|access[._-]?key");
  CHECK(error_of("pools:\n  - name: local\n    type: local\n    nomad: {}\n") ==
        "berthd.yaml:4:12: pools[0].nomad: does not match the pool's type \"local\": the adapter "
        "section's key must be the type");
  CHECK(error_of(kMinimal + "  - name: local\n    type: local\n") ==
        "berthd.yaml:4:11: pools[1].name: duplicate pool name \"local\" (also pools[0])");
  CHECK(error_of(kMinimal + "tenants:\n  - name: a\n    default_pools: [local, gpu]\n") ==
        "berthd.yaml:6:28: tenants[0].default_pools[1]: pool \"gpu\" is not declared in pools");
  CHECK(error_of(kMinimal + "  - name: x\n    type: local\n    max_pending: 0\n") ==
        "berthd.yaml:6:18: pools[1].max_pending: must be between 1 and 1000000, got 0");
  CHECK(error_of("pools: [\n") .rfind("berthd.yaml:2:1: ", 0) == 0);  // YAML syntax errors too
}

TEST_CASE("each check reports its key path") {
  struct Case {
    std::string yaml;
    std::string expected;  // a part of the message
  };
  const std::vector<Case> cases = {
      {"", "berthd.yaml:1:1: pools: at least one pool is required"},
      {"pools: []\n", "berthd.yaml:1:8: pools: at least one pool is required"},
      {"- a\n", "berthd.yaml:1:1: expected a mapping, got a list"},
      {"pools:\n  - name: Local\n    type: local\n", "2:11: pools[0].name: use 1 to 63 of a-z"},
      {"pools:\n  - type: local\n", "2:5: pools[0].name: is required"},
      {"pools:\n  - name: a\n    type: yarn\n", "3:11: pools[0].type: unknown pool type \"yarn\""},
      {"pools:\n  - name: a\n    type: local\n    local: 3\n", "4:12: pools[0].local: expected a mapping"},
      {"pools:\n  - local\n", "2:5: pools[0]: expected a mapping, got a scalar"},
      {"pools: local\n", "1:8: pools: expected a list of mappings"},
      {kMinimal + "tenants:\n  - name: a\n  - name: a\n", "6:11: tenants[1].name: duplicate tenant name"},
      {kMinimal + "tenants:\n  - name: a\n    allowed_pools: [gpu]\n",
       "tenants[0].allowed_pools[0]: pool \"gpu\" is not declared"},
      {kMinimal + "tenants:\n  - name: a\n    allowed_pools: [local, local]\n",
       "tenants[0].allowed_pools[1]: pool \"local\" is listed twice"},
      {kMinimal + "  - name: b\n    type: local\ntenants:\n  - name: a\n    allowed_pools: [b]\n"
                  "    default_pools: [local]\n",
       "tenants[0].default_pools[0]: pool \"local\" is not in allowed_pools"},
      {kMinimal + "tenants:\n  - name: a\n    limits: { max_cores: -1 }\n",
       "tenants[0].limits.max_cores: must be between 0 and 2147483647, got -1"},
      {kMinimal + "tenants:\n  - name: a\n    limits: { max_cpus: 1 }\n",
       "tenants[0].limits.max_cpus: unknown key"},
      {kMinimal + "reconciler: { kill_grace: 0s }\n", "reconciler.kill_grace: must be positive"},
      {kMinimal + "reconciler: { kill_grace: -5s }\n", "reconciler.kill_grace: expected a duration"},
      {kMinimal + "reconciler: { kill_grace: 1.5s }\n", "reconciler.kill_grace: expected a duration"},
      {kMinimal + "reconciler: { backoff_initial: 2m }\n",
       "reconciler.backoff_initial: must not exceed backoff_max (1m)"},
      {kMinimal + "reconciler: { max_pending_per_app: lots }\n",
       "reconciler.max_pending_per_app: expected an integer, got \"lots\""},
      {kMinimal + "reconciler: { event_window: 99999999999999999999 }\n",
       "reconciler.event_window: must be between 1 and 100000000"},
      {kMinimal + "reconciler: { name_prefix: Spark_ }\n", "reconciler.name_prefix: use 1 to 20"},
      {kMinimal + "logging: { level: verbose }\n", "4:19: logging.level: expected one of trace"},
      {kMinimal + "logging: { format: xml }\n", "logging.format: expected text or json"},
      {kMinimal + "insecure: maybe\n", "4:11: insecure: expected true or false, got \"maybe\""},
      {kMinimal + "tls: { cert_file: a.crt }\n", "tls.cert_file: cert_file and key_file go together"},
      {kMinimal + "tls: { key_file: a.key }\n", "tls.key_file: cert_file and key_file go together"},
      {kMinimal + "tls: { client_ca_file: ca.crt }\n", "tls.client_ca_file: client certificates need"},
      {kMinimal + "tls: { cert: a }\n", "tls.cert: unknown key"},
      {kMinimal + "listen: 7433\n", "listen: expected host:port"},
      {kMinimal + "listen: 127.0.0.1:99999\n", "listen: port must be a number"},
      {kMinimal + "metrics_listen: \"[::1\"\n", "metrics_listen: expected host:port"},
      {kMinimal + "daemon_id: \"edge 1\"\n", "daemon_id: use 1 to 63"},
      {kMinimal + "metrics_listen: 127.0.0.1:7433\nlisten: 127.0.0.1:7433\n"
                  "allow_unauthenticated_loopback: true\n",
       "4:17: metrics_listen: the same address as listen"},
      {kMinimal + "state_dir: \"\"\n", "state_dir: must not be empty"},
      {kMinimal + "listen: [a]\n", "4:9: listen: expected a string, got a list"},
      {kMinimal + "pools: []\n", "4:1: pools: duplicate key"},
      {kMinimal + "listen: 10.0.0.1:7433\ntls: { cert_file: a, key_file: b }\n",
       "listen: 10.0.0.1:7433 is not a loopback address"},
      {kMinimal + "listen: 10.0.0.1:7433\ntokens_file: t.yaml\n",
       "listen: 10.0.0.1:7433 is not a loopback address"},
  };
  for (const Case& c : cases) {
    INFO(c.yaml);
    const std::string message = error_of(c.yaml);
    CHECK_THAT(message, Catch::Contains(c.expected));
    CHECK(message.rfind("berthd.yaml:", 0) == 0);
  }
}

TEST_CASE("the first error wins") {
  CHECK(error_of("listen: 0.0.0.0:1\npools:\n  - name: A\n    type: yarn\n") ==
        "berthd.yaml:3:11: pools[0].name: use 1 to 63 of a-z, 0-9 and '-', starting and ending "
        "with a letter or digit, got \"A\"");
}

TEST_CASE("non-loopback listen is accepted with tls and tokens, or insecure") {
  CHECK(error_of(kMinimal +
                 "listen: 0.0.0.0:7433\ntls: {cert_file: a, key_file: b}\ntokens_file: t\n") ==
        "ok");
  CHECK(error_of(kMinimal + "listen: \"[::]:7433\"\ninsecure: true\n") == "ok");
  CHECK(error_of(kMinimal + "listen: unix:/run/berth/berthd.sock\n") == "ok");
}

// Issue 11: with a loopback listen and no tokens, any user of the host could make berthd start
// processes as its own user. Without tokens, callers are limited by a unix socket's permissions,
// or the config opts in to loopback TCP by name.
TEST_CASE("without tokens, gRPC is served on a unix socket or on loopback TCP by explicit opt-in") {
  CHECK(error_of(kMinimal + "listen: unix:/run/berthd/berthd.sock\n") == "ok");
  CHECK(error_of(kMinimal) == "ok");  // the default is that socket
  CHECK(error_of(kMinimal + "listen: 127.0.0.1:7433\n") ==
        "berthd.yaml:4:9: listen: 127.0.0.1:7433 without tokens_file lets every user of this host "
        "call berthd: listen on a unix:/path socket (mode 0660), configure tokens_file, or set "
        "allow_unauthenticated_loopback: true");
  CHECK_THAT(error_of(kMinimal + "listen: \"[::1]:0\"\n"),
             Catch::Contains("allow_unauthenticated_loopback: true"));
  CHECK_THAT(error_of(kMinimal + "listen: localhost:7433\n"),
             Catch::Contains("allow_unauthenticated_loopback: true"));
  CHECK(error_of(kMinimal + "listen: 127.0.0.1:7433\nallow_unauthenticated_loopback: true\n") == "ok");
  CHECK(error_of(kMinimal + "listen: 127.0.0.1:7433\ninsecure: true\n") == "ok");
  CHECK(error_of(kMinimal + "listen: 127.0.0.1:7433\ntokens_file: t.yaml\n") == "ok");
  CHECK_THAT(error_of(kMinimal + "allow_unauthenticated_loopback: yes please\n"),
             Catch::Contains("4:33: allow_unauthenticated_loopback: expected true or false"));
  // The opt-in is for loopback only: it never opens a network address.
  CHECK_THAT(error_of(kMinimal + "listen: 0.0.0.0:7433\nallow_unauthenticated_loopback: true\n"),
             Catch::Contains("listen: 0.0.0.0:7433 is not a loopback address"));
}

TEST_CASE("an abstract socket, which has no permissions, requires tokens") {
  CHECK(error_of(kMinimal + "listen: unix-abstract:berthd\n") ==
        "berthd.yaml:4:9: listen: unix-abstract:berthd is an abstract socket, which has no "
        "permissions: anyone on the host could call berthd; configure tokens_file, or listen on a "
        "unix:/path socket (mode 0660)");
  CHECK_THAT(error_of(kMinimal + "listen: unix-abstract:berthd\ninsecure: true\n"
                                 "allow_unauthenticated_loopback: true\n"),
             Catch::Contains("is an abstract socket"));
  CHECK(error_of(kMinimal + "listen: unix-abstract:berthd\ntokens_file: t.yaml\n") == "ok");
}

TEST_CASE("metrics on a non-loopback address need insecure: true") {
  CHECK(error_of(kMinimal + "metrics_listen: 0.0.0.0:7434\n") ==
        "berthd.yaml:4:17: metrics_listen: 0.0.0.0:7434 is not a loopback address and /metrics has "
        "no TLS or authentication: use a loopback address, or set insecure: true");
  // Tokens and TLS protect gRPC only.
  CHECK_THAT(error_of(kMinimal + "metrics_listen: \"[::]:7434\"\ntokens_file: t\n"
                                 "tls: {cert_file: a, key_file: b}\n"),
             Catch::Contains("metrics_listen: [::]:7434 is not a loopback address"));
  CHECK(error_of(kMinimal + "metrics_listen: 0.0.0.0:7434\ninsecure: true\n") == "ok");
  CHECK(error_of(kMinimal + "metrics_listen: 127.0.0.1:7434\n") == "ok");
  CHECK(error_of(kMinimal + "metrics_listen: \"\"\n") == "ok");
}

TEST_CASE("the start-up warning names who can call berthd") {
  CHECK(unauthenticated_listen_warning(parse_ok(kMinimal)).empty());
  CHECK(unauthenticated_listen_warning(parse_ok(kMinimal + "listen: 127.0.0.1:1\ntokens_file: t\n")).empty());
  CHECK(unauthenticated_listen_warning(
            parse_ok(kMinimal + "listen: 127.0.0.1:1\nallow_unauthenticated_loopback: true\n")) ==
        "listen 127.0.0.1:1 without tokens_file: anyone on this host can call berthd (and run "
        "executors through it); allow_unauthenticated_loopback is meant for development");
  CHECK_THAT(unauthenticated_listen_warning(parse_ok(kMinimal + "listen: 0.0.0.0:1\ninsecure: true\n")),
             Catch::Contains("anyone who can reach the address"));
}

TEST_CASE("unix socket paths") {
  CHECK(unix_socket_path("unix:/run/berthd/berthd.sock") == "/run/berthd/berthd.sock");
  CHECK(unix_socket_path("unix:///run/b.sock") == "/run/b.sock");
  CHECK(unix_socket_path("unix:rel.sock") == "rel.sock");
  CHECK(unix_socket_path("unix-abstract:b").empty());
  CHECK(unix_socket_path("127.0.0.1:1").empty());
}

TEST_CASE("loopback addresses") {
  CHECK(is_loopback_listen("127.0.0.1:7433"));
  CHECK(is_loopback_listen("127.10.0.3:1"));
  CHECK(is_loopback_listen("localhost:7433"));
  CHECK(is_loopback_listen("[::1]:7433"));
  CHECK(is_loopback_listen("[::ffff:127.0.0.1]:7433"));
  CHECK(is_loopback_listen("unix:/run/berthd.sock"));
  CHECK(is_loopback_listen("unix-abstract:berthd"));
  CHECK_FALSE(is_loopback_listen("0.0.0.0:7433"));
  CHECK_FALSE(is_loopback_listen("[::]:7433"));
  CHECK_FALSE(is_loopback_listen("10.1.2.3:7433"));
  CHECK_FALSE(is_loopback_listen("127.0.0.1.example.com:7433"));
  CHECK_FALSE(is_loopback_listen("128.0.0.1:7433"));
  CHECK_FALSE(is_loopback_listen(""));
}

TEST_CASE("section getters") {
  YAML::Node node = YAML::Load(
      "a: 5\nb: yes\nc: [x, y]\nd: {k: v}\ne: 90s\nf: 3\ng: ~\nh: \"\"\ni: [x, [y]]\n");
  Section s(node, "x.yaml", "root");
  CHECK(s.has("a"));
  CHECK_FALSE(s.has("g"));  // null reads as absent
  CHECK_FALSE(s.has("zz"));
  CHECK(s.get_int("a", 0) == 5);
  CHECK(s.get_bool("b", false));
  CHECK(s.get_string_list("c") == std::vector<std::string>{"x", "y"});
  CHECK(s.get_string_map("d") == std::map<std::string, std::string>{{"k", "v"}});
  CHECK(s.get_duration("e", 0ms) == 90s);
  CHECK(s.get_duration("f", 0ms) == 3s);
  CHECK(s.get_string("g", "fallback") == "fallback");
  CHECK(s.get_string("h", "fallback").empty());
  CHECK(s.get_int("absent", 42) == 42);
  CHECK(s.get_string_list("i").empty());
  CHECK(s.finish().message() == "x.yaml:9:8: root.i[1]: expected a string, got a list");
  CHECK(node.size() == 9);  // reading absent keys added nothing to the document

  Section required(YAML::Load("{}"), "x.yaml", "pools[0].nomad");
  required.require_string("address");
  CHECK(required.finish().message() == "x.yaml:1:1: pools[0].nomad.address: is required");

  // An absent adapter section: errors point where the pool is declared.
  Config c = parse_ok("\n" + kMinimal);
  Section absent = c.pools[0].section();
  absent.require_string("binary");
  CHECK(absent.finish().message() == "berthd.yaml:3:5: pools[0].local.binary: is required");

  Section unknown = parse_ok(kMinimal + "    local: { bogus: 1 }\n").pools[0].section();
  CHECK(unknown.finish().message() ==
        "berthd.yaml:4:14: pools[0].local.bogus: unknown key: this section takes no keys");
}

TEST_CASE("durations") {
  Section s(YAML::Load("a: 250ms\nb: 10s\nc: 5m\nd: 1h\ne: 0\nf: 10d\ng: 99999999999999999h\n"),
            "x.yaml", "");
  CHECK(s.get_duration("a", 0ms) == 250ms);
  CHECK(s.get_duration("b", 0ms) == 10s);
  CHECK(s.get_duration("c", 0ms) == 5min);
  CHECK(s.get_duration("d", 0ms) == 1h);
  CHECK(s.get_duration("e", 1ms) == 0ms);
  CHECK(s.get_duration("f", 1ms) == 1ms);
  CHECK(s.finish().message() ==
        "x.yaml:6:4: f: expected a duration such as 500ms, 10s or 5m, got \"10d\"");
  Section overflow(YAML::Load("g: 99999999999999999h\n"), "x.yaml", "");
  overflow.get_duration("g", 0ms);
  CHECK_FALSE(overflow.finish().ok());
}

TEST_CASE("the shipped configs parse") {
  for (const char* path : {BERTH_DEFAULT_CONFIG, BERTH_DEV_CONFIG}) {
    INFO(path);
    StatusOr<Config> config = load_config(path, kPoolTypes);
    INFO(config.status().message());
    REQUIRE(config.ok());
    CHECK(config->pools.size() == 1);
    CHECK(config->tenants.size() == 1);
    CHECK(config->tenants[0].name == "default");
    CHECK(config->tokens_file.empty());
    CHECK(is_loopback_listen(config->listen));
  }
  StatusOr<Config> dev = load_config(BERTH_DEV_CONFIG, kPoolTypes);
  REQUIRE(dev.ok());
  CHECK(dev->state_dir == "./var");
  CHECK(dev->pools[0].policy.type == "local");
  // Every key of the default file is documented with its default value.
  StatusOr<Config> defaults = parse_config("pools: [{name: local, type: local}]", "x.yaml", kPoolTypes);
  StatusOr<Config> shipped = load_config(BERTH_DEFAULT_CONFIG, kPoolTypes);
  REQUIRE(shipped.ok());
  ReloadPlan same = plan_reload(*defaults, *shipped);
  CHECK(same.changes.empty());
  // The adapter section spells out the local adapter's defaults; config compares adapter sections
  // as text (the adapter owns their meaning), so it reads as a change here.
  CHECK(same.needs_restart ==
        std::vector<std::string>{"state_dir: ./var -> /var/lib/berth", "pools[local].local: changed"});
}

TEST_CASE("the tokens example is refused until its placeholders are replaced") {
  StatusOr<std::vector<TokenEntry>> tokens = load_tokens(BERTH_TOKENS_EXAMPLE);
  REQUIRE_FALSE(tokens.ok());
  CHECK_THAT(tokens.status().message(),
             Catch::EndsWith("tokens.example.yaml:13:12: tokens[0].token: the token contains "
                             "spaces, control or non-ASCII characters"));
}

TEST_CASE("tokens file") {
  TempDir dir;
  const std::string ops_token = dir.write("ops.token", kTokenB + "\n");
  const std::string tokens = dir.write("tokens.yaml", "tokens:\n  - { token: " + kTokenA +
                                                          ", tenant: team-a, role: driver }\n"
                                                          "  - token_file: " + ops_token + "\n"
                                                          "    role: operator\n");
  StatusOr<std::vector<TokenEntry>> loaded = load_tokens(tokens);
  INFO(loaded.status().message());
  REQUIRE(loaded.ok());
  REQUIRE(loaded->size() == 2);
  CHECK((*loaded)[0] == TokenEntry{kTokenA, "team-a", Role::kDriver});
  CHECK((*loaded)[1] == TokenEntry{kTokenB, "", Role::kOperator});

  auto token_error = [&](const std::string& yaml) {
    const std::string file = dir.write("bad.yaml", yaml);
    StatusOr<std::vector<TokenEntry>> result = load_tokens(file);
    REQUIRE_FALSE(result.ok());
    const std::string& message = result.status().message();
    CHECK(message.rfind(file + ":", 0) == 0);
    CHECK(message.find(kTokenA) == std::string::npos);  // secrets never in messages
    return message.substr(file.size());
  };
  CHECK(token_error("tokens:\n  - { token: " + kTokenA + ", tenant: a, role: driver }\n"
                    "  - { token: " + kTokenA + ", tenant: b, role: driver }\n") ==
        ":3:14: tokens[1].token: the same token as tokens[0]");
  CHECK(token_error("tokens:\n  - { token: " + kTokenA + ", token_file: x, role: operator }\n") ==
        ":2:60: tokens[0].token_file: give token or token_file, not both");
  CHECK(token_error("tokens:\n  - { role: operator }\n") ==
        ":2:5: tokens[0]: needs token or token_file");
  CHECK(token_error("tokens:\n  - { token: short, role: operator }\n") ==
        ":2:14: tokens[0].token: a token needs 16 to 4096 characters (make one with: openssl rand "
        "-hex 32)");
  CHECK(token_error("tokens:\n  - { token: " + kTokenA + ", role: driver }\n") ==
        ":2:5: tokens[0].tenant: is required");
  CHECK(token_error("tokens:\n  - { token: " + kTokenA + ", tenant: a, role: admin }\n") ==
        ":2:65: tokens[0].role: expected driver or operator, got \"admin\"");
  CHECK_THAT(token_error("tokens:\n  - { token_file: " + dir.write("x", "") + "missing, role: operator }\n"),
             Catch::Contains("tokens[0].token_file: cannot read"));
  CHECK(token_error("tokens: []\n") ==
        ":1:9: tokens: no tokens: nobody could call berthd; list at least one");
  CHECK(token_error("tokens:\n  - { token: " + kTokenA + ", role: operator, tenent: a }\n") ==
        ":2:64: tokens[0].tenent: unknown key (known here: role, tenant, token, token_file)");

  StatusOr<std::vector<TokenEntry>> missing = load_tokens(dir.write("x", "") + ".absent");
  CHECK(missing.status().code() == StatusCode::kNotFound);
}

TEST_CASE("load_config reads the tokens file and checks drivers' tenants") {
  TempDir dir;
  const std::string tokens = dir.write("tokens.yaml", "tokens:\n  - { token: " + kTokenA +
                                                          ", tenant: team-a, role: driver }\n");
  const std::string base = kMinimal + "tokens_file: " + tokens + "\n";
  StatusOr<Config> config =
      load_config(dir.write("ok.yaml", base + "tenants:\n  - name: team-a\n"), kPoolTypes);
  INFO(config.status().message());
  REQUIRE(config.ok());
  REQUIRE(config->tokens.size() == 1);
  CHECK(config->tokens[0].tenant == "team-a");

  const std::string bad = dir.write("bad.yaml", base);
  StatusOr<Config> unknown_tenant = load_config(bad, kPoolTypes);
  CHECK(unknown_tenant.status().message() ==
        tokens + ":2:" + std::to_string(14 + kTokenA.size() + 10) +
            ": tokens[0].tenant: tenant \"team-a\" is not declared in " + bad);

  const std::string no_tokens_yaml = dir.write("c.yaml", kMinimal + "tokens_file: " + tokens + ".absent\n");
  StatusOr<Config> no_tokens_file = load_config(no_tokens_yaml, kPoolTypes);
  CHECK(no_tokens_file.status().code() == StatusCode::kInvalidArgument);
  CHECK(no_tokens_file.status().message() == no_tokens_yaml + ":4:14: tokens_file: cannot read " + tokens +
                                                 ".absent: No such file or directory");

  StatusOr<Config> no_cert = load_config(
      dir.write("d.yaml", kMinimal + "tls: { cert_file: " + tokens + ".crt, key_file: " + tokens +
                              " }\n"), kPoolTypes);
  CHECK_THAT(no_cert.status().message(),
             Catch::Contains(":4:19: tls.cert_file: cannot read " + tokens + ".crt: No such file"));

  CHECK(load_config(dir.write("x", "") + ".absent", kPoolTypes).status().code() == StatusCode::kNotFound);
}

// Issue 11: a tokens_file or certificate at /dev/zero was read until memory ran out. Every file
// the config names must be a regular file within its cap; the error points at the key.
TEST_CASE("files the config names must be regular files within their caps") {
  TempDir dir;
  const std::string token = dir.write("ops.token", kTokenB + "\n");
  auto error_loading = [&](const std::string& yaml) {
    const std::string file = dir.write("berthd.yaml", yaml);
    StatusOr<Config> config = load_config(file, kPoolTypes);  // returns: no hang, no crash
    REQUIRE_FALSE(config.ok());
    CHECK(config.status().code() == StatusCode::kInvalidArgument);
    const std::string& message = config.status().message();
    REQUIRE(message.rfind(file + ":", 0) == 0);
    return message.substr(file.size());
  };

  CHECK(error_loading(kMinimal + "tokens_file: /dev/zero\n") ==
        ":4:14: tokens_file: cannot read /dev/zero: not a regular file (a character device)");
  CHECK(error_loading(kMinimal + "tokens_file: " + dir.path() + "\n") ==
        ":4:14: tokens_file: cannot read " + dir.path() + ": not a regular file (a directory)");
  const std::string fifo = dir.path() + "/tokens.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(error_loading(kMinimal + "tokens_file: " + fifo + "\n") ==
        ":4:14: tokens_file: cannot read " + fifo + ": not a regular file (a FIFO)");
  const std::string huge = dir.write("huge.yaml", "tokens:\n" + std::string(1024 * 1024, '#'));
  CHECK(error_loading(kMinimal + "tokens_file: " + huge + "\n") ==
        ":4:14: tokens_file: cannot read " + huge + ": larger than 1 MiB");

  CHECK(error_loading(kMinimal + "tls: { cert_file: /dev/urandom, key_file: " + token + " }\n") ==
        ":4:19: tls.cert_file: cannot read /dev/urandom: not a regular file (a character device)");
  CHECK(error_loading(kMinimal + "tls: { cert_file: " + token + ", key_file: /dev/zero }\n") ==
        ":4:" + std::to_string(31 + token.size()) +
            ": tls.key_file: cannot read /dev/zero: not a regular file (a character device)");

  const std::string tokens = dir.write("tokens.yaml", "tokens:\n  - { token_file: /dev/zero, role: operator }\n");
  StatusOr<std::vector<TokenEntry>> entry = load_tokens(tokens);
  CHECK(entry.status().message() ==
        tokens + ":2:19: tokens[0].token_file: cannot read /dev/zero: not a regular file (a character device)");
  const std::string big_token = dir.write("big.token", std::string(64 * 1024 + 1, 'a'));
  entry = load_tokens(dir.write("tokens2.yaml", "tokens:\n  - { token_file: " + big_token + ", role: operator }\n"));
  CHECK_THAT(entry.status().message(),
             Catch::EndsWith("tokens[0].token_file: cannot read " + big_token + ": larger than 64 KiB"));

  // The config file itself.
  StatusOr<Config> device = load_config("/dev/zero", kPoolTypes);
  CHECK(device.status().code() == StatusCode::kInvalidArgument);
  CHECK(device.status().message() == "cannot read /dev/zero: not a regular file (a character device)");
  StatusOr<Config> too_big = load_config(dir.write("big.yaml", kMinimal + std::string(1024 * 1024, '#')), kPoolTypes);
  CHECK(too_big.status().message() == "cannot read " + dir.path() + "/big.yaml: larger than 1 MiB");
  CHECK(load_tokens("/dev/zero").status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("reload planning") {
  const std::string base = kMinimal +
                           "tenants:\n  - name: team-a\n    limits: { max_executors: 10 }\n"
                           "  - name: team-b\n";
  Config running = parse_ok(base);
  running.tokens = {{kTokenA, "team-a", Role::kDriver}};

  SECTION("nothing changed") {
    const ReloadPlan plan = plan_reload(running, running);
    CHECK(plan.changes.empty());
    CHECK(plan.needs_restart.empty());
    CHECK(plan.status().ok());
  }
  SECTION("live changes") {
    Config reloaded = parse_ok(kMinimal + "logging: { level: debug }\n"
                                          "tenants:\n  - name: team-a\n"
                                          "    limits: { max_executors: 20, max_pending: 3 }\n"
                                          "  - name: team-b\n");
    reloaded.tokens = {{kTokenA, "team-a", Role::kDriver}, {kTokenB, "ops", Role::kOperator}};
    const ReloadPlan plan = plan_reload(running, reloaded);
    CHECK(plan.changes == std::vector<std::string>{
                              "logging.level: info -> debug",
                              "tenants[team-a].limits.max_executors: 10 -> 20",
                              "tenants[team-a].limits.max_pending: 0 -> 3",
                              "tokens: 1 -> 2 entries",
                          });
    CHECK(plan.needs_restart.empty());
  }
  SECTION("a replaced token is a change, and its value is not shown") {
    Config reloaded = running;
    reloaded.tokens[0].token = kTokenB;
    const ReloadPlan plan = plan_reload(running, reloaded);
    CHECK(plan.changes == std::vector<std::string>{"tokens: 1 -> 1 entries (changed)"});
  }
  SECTION("changes that need a restart") {
    Config reloaded = parse_ok(
        "listen: unix:/run/other.sock\nlogging: { format: json }\nreconciler: { kill_grace: 10s }\n"
        "pools:\n  - name: local\n    type: local\n    max_pending: 5\n    local: { x: 1 }\n"
        "  - name: gpu\n    type: local\n"
        "tenants:\n  - name: team-a\n    limits: { max_executors: 10 }\n"
        "    allowed_pools: [local]\n  - name: team-c\n");
    reloaded.tokens = running.tokens;
    const ReloadPlan plan = plan_reload(running, reloaded);
    CHECK(plan.changes.empty());
    CHECK(plan.needs_restart == std::vector<std::string>{
                                    "listen: unix:/run/berthd/berthd.sock -> unix:/run/other.sock",
                                    "logging.format: text -> json",
                                    "reconciler.kill_grace: 5s -> 10s",
                                    "pools[local].max_pending: 1000 -> 5",
                                    "pools[local].local: changed",
                                    "pools[gpu]: added",
                                    "tenants[team-a].allowed_pools: [] -> [local]",
                                    "tenants[team-b]: removed",
                                    "tenants[team-c]: added",
                                });
    CHECK(plan.status().code() == StatusCode::kFailedPrecondition);
    CHECK_THAT(plan.status().message(),
               Catch::StartsWith("listen: unix:/run/berthd/berthd.sock -> unix:/run/other.sock; logging.format") &&
                   Catch::EndsWith("tenants[team-c]: added need a restart"));
  }
}

TEST_CASE("the fuzz corpus parses without crashing") {
  // The fuzzer's seeds and past findings, run in every build (the fuzzer needs clang).
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(BERTH_CONFIG_CORPUS)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    StatusOr<Config> config = parse_config(text, "corpus", kPoolTypes);
    CHECK((config.ok() || config.status().code() == StatusCode::kInvalidArgument));
    ++files;
  }
  CHECK(files > 0);
}
