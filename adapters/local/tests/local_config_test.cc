#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include "adapters/local/local_config.h"
#include "config/section.h"

using namespace berth;

namespace {

Status parse(const std::string& yaml, LocalPoolConfig* out) {
  config::Section section(YAML::Load(yaml), "berthd.yaml", "pools[0].local");
  return parse_local_pool(section, "/var/lib/berth", "dev", out);
}

}  // namespace

TEST_CASE("local pool config: defaults") {
  config::Section section(YAML::Node(), "berthd.yaml", "pools[0].local");
  LocalPoolConfig parsed;
  REQUIRE(parse_local_pool(section, "/var/lib/berth", "dev", &parsed).ok());
  CHECK(parsed.work_dir == "/var/lib/berth/local/dev");
  CHECK(parsed.poll_interval == std::chrono::seconds(1));
  CHECK(parsed.inherit_env == std::vector<std::string>{"PATH", "HOME", "LANG", "JAVA_HOME", "SPARK_HOME"});
  CHECK(parsed.shim_path.filename() == "berth-local-exec");
  CHECK(parsed.shim_path == default_local_exec_path());
  CHECK(parsed.cores == 0);       // unlimited
  CHECK(parsed.memory_mib == 0);  // unlimited
}

TEST_CASE("local pool config: every key") {
  LocalPoolConfig parsed;
  Status status = parse(
      "work_dir: /srv/executors\n"
      "poll_interval: 250ms\n"
      "inherit_env: [PATH, TZ]\n"
      "shim_path: /opt/berth/bin/berth-local-exec\n"
      "cores: 16\n"
      "memory_mib: 65536\n",
      &parsed);
  REQUIRE(status.ok());
  CHECK(parsed.work_dir == "/srv/executors");
  CHECK(parsed.poll_interval == std::chrono::milliseconds(250));
  CHECK(parsed.inherit_env == std::vector<std::string>{"PATH", "TZ"});
  CHECK(parsed.shim_path == "/opt/berth/bin/berth-local-exec");
  CHECK(parsed.cores == 16);
  CHECK(parsed.memory_mib == 65536);
}

TEST_CASE("local pool config: errors name the key and leave the output alone") {
  LocalPoolConfig parsed;
  parsed.work_dir = "/untouched";
  Status unknown = parse("work_dir: /x\npoll_intervall: 1s\n", &parsed);
  CHECK(unknown.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(unknown.message(), Catch::Contains("poll_intervall"));
  CHECK(parsed.work_dir == "/untouched");

  Status too_fast = parse("poll_interval: 1ms\n", &parsed);
  CHECK(too_fast.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(too_fast.message(), Catch::Contains("poll_interval"));

  Status bad_env = parse("inherit_env: [PATH, \"A=B\"]\n", &parsed);
  CHECK(bad_env.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(bad_env.message(), Catch::Contains("inherit_env"));

  for (const char* bad : {"cores: -1\n", "cores: two\n", "memory_mib: -5\n", "memory_mib: 1.5\n"}) {
    INFO(bad);
    Status status = parse(bad, &parsed);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(status.message(), Catch::Contains(std::string(bad).substr(0, std::string(bad).find(':'))));
  }
}

TEST_CASE("local pool config: run_as and allow_root") {
  LocalPoolConfig parsed;
  REQUIRE(parse("run_as: root\nallow_root: true\n", &parsed).ok());
  CHECK(parsed.run_as == "root");
  CHECK(parsed.allow_root);
  LocalPoolConfig defaults;
  REQUIRE(parse("{}", &defaults).ok());
  CHECK(defaults.run_as.empty());
  CHECK_FALSE(defaults.allow_root);
  CHECK(parse("run_as: no-such-user-berth\n", &parsed).message() ==
        "berthd.yaml:1:9: pools[0].local.run_as: no user \"no-such-user-berth\" on this host");
  REQUIRE(parse("run_as: \"\"\n", &parsed).ok());  // as documented: berthd's own user
  CHECK(parsed.run_as.empty());
  CHECK_THAT(parse("allow_root: sometimes\n", &parsed).message(),
             Catch::Contains("allow_root: expected true or false"));
}

TEST_CASE("the executor user: root needs allow_root, another user is switched to") {
  const UserLookup users = [](const std::string& name) -> std::optional<ExecutorUser> {
    if (name == "root") return ExecutorUser{"root", 0, 0};
    if (name == "spark") return ExecutorUser{"spark", 185, 185};
    return std::nullopt;
  };
  LocalPoolConfig config;
  // berthd as root, no run_as: the executors would be root.
  auto as_root = executor_user(config, 0, users);
  CHECK(as_root.status().code() == StatusCode::kFailedPrecondition);
  CHECK(as_root.status().message() ==
        "executors would run as root (berthd's user, and no run_as): set run_as: <an unprivileged "
        "user> in the pool's local section, or allow_root: true");
  CHECK(executor_user(config, 1000, users)->has_value() == false);  // berthd's own user
  config.allow_root = true;
  CHECK(executor_user(config, 0, users)->has_value() == false);

  config.allow_root = false;
  config.run_as = "spark";
  CHECK(**executor_user(config, 0, users) == ExecutorUser{"spark", 185, 185});
  CHECK(**executor_user(config, 1000, users) == ExecutorUser{"spark", 185, 185});
  CHECK(executor_user(config, 185, users)->has_value() == false);  // already that user

  config.run_as = "root";
  CHECK(executor_user(config, 1000, users).status().message() ==
        "run_as: root is root: executors run as root only with allow_root: true");
  config.allow_root = true;
  CHECK(executor_user(config, 0, users)->has_value() == false);
  CHECK(**executor_user(config, 1000, users) == ExecutorUser{"root", 0, 0});

  config.run_as = "gone";
  CHECK(executor_user(config, 0, users).status().message() == "run_as: no user \"gone\" on this host");
}
