// The pool's `mesos:` section.

#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "adapters/mesos/mesos_config.h"
#include "config/section.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

Status parse(const std::string& yaml, MesosPoolConfig* out) {
  config::Section section(YAML::Load(yaml), "berthd.yaml", "pools[0].mesos");
  return parse_mesos_pool(section, out);
}

TEST_CASE("the mesos section: every key") {
  char pattern[] = "/tmp/berth-mesos-config-XXXXXX";
  const fs::path dir = ::mkdtemp(pattern);
  std::ofstream(dir / "secret") << "s3cret\n";
  MesosPoolConfig config;
  Status status = parse("masters: [http://m1:5050/, https://m2:5050]\nprincipal: berth\nsecret_file: " +
                            (dir / "secret").string() +
                            "\ntls: {server_name: mesos.example, insecure_skip_verify: true}\nuser: spark\n"
                            "framework_name: spark-pool\nroles: [spark, gpu]\nfailover_timeout: 48h\nrefuse: 30s\n"
                            "containerizer: docker\nimage: apache/spark:3.5.1\nspark_home: /spark\n"
                            "uris: [https://repo/spark.tgz]\nconstraints: \"rack:r1,r2\"\nlabels: {team: data}\n"
                            "kill_grace: 10s\nagent_failure_limit: 3\nagent_exclusion: 1h\nreconcile_interval: 5m\n"
                            "request_timeout: 10s\nretry_max_backoff: 5s\nmax_connections: 4\n",
                        &config);
  fs::remove_all(dir);
  REQUIRE(status.ok());
  CHECK(config.masters == std::vector<std::string>{"http://m1:5050", "https://m2:5050"});
  CHECK(config.principal == "berth");
  CHECK(config.secret == "s3cret");
  CHECK(config.server_name == "mesos.example");
  CHECK(config.insecure_skip_verify);
  CHECK(config.user == "spark");
  CHECK(config.roles == std::vector<std::string>{"spark", "gpu"});
  CHECK(config.failover_timeout == std::chrono::hours(48));
  CHECK(config.refuse == std::chrono::seconds(30));
  CHECK(config.containerizer == MesosContainerizer::kDocker);
  CHECK(config.spark_home == "/spark");
  CHECK(config.constraints == "rack:r1,r2");
  CHECK(config.agent_failure_limit == 3);
  CHECK(config.agent_exclusion == std::chrono::hours(1));
  CHECK(config.max_connections == 4);
}

TEST_CASE("the mesos section: defaults and bad values") {
  MesosPoolConfig config;
  REQUIRE(parse("masters: [http://127.0.0.1:5050]\n", &config).ok());
  CHECK(config.roles == std::vector<std::string>{"*"});
  CHECK(config.failover_timeout == std::chrono::hours(24 * 7));
  CHECK_FALSE(config.user.empty());
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"principal: x\n", "pools[0].mesos.masters: is required"},
      {"masters: [m1:5050]\n", "pools[0].mesos.masters[0]: must start with http:// or https://"},
      {"masters: [http://m]\nprincipal: p\n", "principal and secret_file go together"},
      {"masters: [http://m]\nsecret_file: /nonexistent\n", "cannot read secret_file /nonexistent"},
      {"masters: [http://m]\nfailover_timeout: 0s\n", "failover_timeout: must be at least 1m"},
      {"masters: [http://m]\ncontainerizer: rkt\n", "must be mesos or docker"},
      {"masters: [http://m]\nroles: []\n", "needs at least one role"},
      {"masters: [http://m]\nrole: x\n", "pools[0].mesos.role: unknown key"},
      // Issue 11: every file must be a regular file within its cap.
      {"masters: [http://m]\nprincipal: p\nsecret_file: /dev/zero\n",
       "berthd.yaml:3:14: pools[0].mesos.secret_file: cannot read secret_file /dev/zero: not a regular file (a character device)"},
      {"masters: [http://m]\ntls: {ca_file: /dev/urandom}\n",
       "berthd.yaml:2:16: pools[0].mesos.tls.ca_file: cannot read ca_file /dev/urandom: not a regular file (a character device)"},
      {"masters: [http://m]\nprincipal: p\nsecret_file: /tmp\n", "cannot read secret_file /tmp: not a regular file (a directory)"},
  };
  for (const auto& c : cases) {
    MesosPoolConfig parsed;
    Status s = parse(c.yaml, &parsed);
    INFO(c.yaml);
    REQUIRE_FALSE(s.ok());
    CHECK_THAT(s.message(), Catch::Contains(c.error));
  }
}

}  // namespace
}  // namespace berth
