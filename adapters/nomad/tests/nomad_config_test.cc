// The pool's `nomad:` section and job templates.

#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "adapters/nomad/nomad_config.h"
#include "config/section.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/berth-nomad-config-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
    return path_ / name;
  }

 private:
  fs::path path_;
};

Status parse(const std::string& yaml, NomadPoolConfig* out) {
  config::Section section(YAML::Load(yaml), "berthd.yaml", "pools[0].nomad");
  return parse_nomad_pool(section, out);
}

TEST_CASE("the nomad section: every key") {
  TempDir dir;
  auto token = dir.write("token", "s3cret\n");
  auto ca = dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n");
  auto job = dir.write("job.json", R"({"Job":{"ID":"t","TaskGroups":[{"Name":"g","Tasks":[{"Name":"spark"}]}]}})");
  NomadPoolConfig config;
  Status status = parse("address: https://nomad.example:4646/\nregion: eu\nnamespace: spark\n"
                        "datacenters: [dc1, dc2]\nnode_pool: gpu\npriority: 80\n"
                        "token_file: " + token.string() + "\ntoken_refresh_interval: 30s\n"
                        "tls: {ca_file: " + ca.string() + ", server_name: server.global.nomad}\n"
                        "driver: raw_exec\ndriver_config: {command: /opt/spark/bin/spark-class, args: [a, 1]}\n"
                        "image: apache/spark:3.5.1\njob_template_file: " + job.string() + "\ntask_name: spark\n"
                        "cpu_mhz_per_core: 2400\nmeta: {team: data}\nkill_timeout: 45s\npurge_on_kill: true\n"
                        "max_connections: 8\nrequest_timeout: 10s\nstream_idle_timeout: 2m\nretry_max_backoff: 10s\n",
                        &config);
  REQUIRE(status.ok());
  CHECK(config.connection.address == "https://nomad.example:4646");
  CHECK(config.region == "eu");
  CHECK(config.name_space == "spark");
  CHECK(config.datacenters == std::vector<std::string>{"dc1", "dc2"});
  CHECK(config.node_pool == "gpu");
  CHECK(config.priority == 80);
  CHECK(config.connection.token_file == token.string());
  CHECK(config.connection.ca_pem.find("CA") != std::string::npos);
  CHECK(config.connection.server_name == "server.global.nomad");
  CHECK(config.driver == NomadDriver::kRawExec);
  CHECK(config.driver_config.at("command") == "/opt/spark/bin/spark-class");
  CHECK(config.driver_config.at("args").as_array().at(1) == 1);
  REQUIRE(config.job_template);
  CHECK(config.job_template->at("ID") == "t");
  CHECK(config.task_name == "spark");
  CHECK(config.cpu_mhz_per_core == 2400);
  CHECK(config.meta.at("team") == "data");
  CHECK(config.kill_timeout == std::chrono::seconds(45));
  CHECK(config.purge_on_kill);
  CHECK(config.max_connections == 8);
  CHECK(config.stream_idle_timeout == std::chrono::minutes(2));
}

TEST_CASE("the nomad section: defaults") {
  NomadPoolConfig config;
  REQUIRE(parse("address: http://127.0.0.1:4646\n", &config).ok());
  CHECK(config.name_space == "default");
  CHECK(config.driver == NomadDriver::kDocker);
  CHECK(config.priority == 50);
  CHECK_FALSE(config.purge_on_kill);
  CHECK(config.cpu_mhz_per_core == 1000);
}

TEST_CASE("the nomad section: bad values name the key, file, line and column") {
  TempDir dir;
  auto bad_template = dir.write("bad.json", R"({"Job":{"ID":"t"}})");
  auto not_json = dir.write("job.hcl", "job \"x\" {}");
  auto big_token = dir.write("token", std::string(64 * 1024 + 1, 'a'));
  auto big_template = dir.write("big.json", "{" + std::string(1024 * 1024, ' ') + "}");
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"address: nomad:4646\n", "berthd.yaml:1:10: pools[0].nomad.address: must start with http:// or https://"},
      {"driver: podman\n", "pools[0].nomad.driver: must be docker, exec, raw_exec or java, got \"podman\""},
      {"priority: 101\n", "pools[0].nomad.priority"},
      {"token: a\ntoken_file: /nonexistent\n", "pools[0].nomad.token"},
      {"token_file: /nonexistent/token\n", "cannot read token_file /nonexistent/token"},
      {"address: http://x:4646\ntls: {insecure_skip_verify: true}\n", "pools[0].nomad.tls: applies to an https:// address"},
      {"address: https://x:4646\ntls: {cert_file: " + bad_template.string() + "}\n", "cert_file and key_file go together"},
      {"job_template_file: " + bad_template.string() + "\n", "the job has no TaskGroups"},
      {"job_template_file: " + not_json.string() + "\n", "not JSON"},
      {"namespace: \"*\"\n", "pools[0].nomad.namespace: must name one namespace"},
      {"driver_config: [a]\n", "pools[0].nomad.driver_config"},
      {"frobnicate: 1\n", "pools[0].nomad.frobnicate: unknown key"},
      {"address: https://x:4646\ntls: {ca: x}\n", "pools[0].nomad.tls.ca: unknown key"},
      // Issue 11: every file must be a regular file within its cap.
      {"token_file: /dev/zero\n",
       "berthd.yaml:1:13: pools[0].nomad.token_file: cannot read token_file /dev/zero: not a regular file (a character device)"},
      {"token_file: " + big_token.string() + "\n", "cannot read token_file " + big_token.string() + ": larger than 64 KiB"},
      {"job_template_file: /dev/urandom\n",
       "berthd.yaml:1:20: pools[0].nomad.job_template_file: cannot read job template /dev/urandom: not a regular file"},
      {"job_template_file: /tmp\n", "cannot read job template /tmp: not a regular file (a directory)"},
      {"job_template_file: " + big_template.string() + "\n", "cannot read job template " + big_template.string() + ": larger than 1 MiB"},
      {"address: https://x:4646\ntls: {ca_file: /dev/zero}\n",
       "berthd.yaml:2:16: pools[0].nomad.tls.ca_file: cannot read ca_file /dev/zero: not a regular file"},
  };
  for (const auto& c : cases) {
    NomadPoolConfig config;
    Status status = parse(c.yaml, &config);
    INFO(c.yaml);
    REQUIRE_FALSE(status.ok());
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(status.message(), Catch::Contains(c.error));
  }
}

}  // namespace
}  // namespace berth
