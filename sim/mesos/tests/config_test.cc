#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "sim/mesos/simulator.h"

using namespace berth::sim::mesos;

namespace {

// A YAML file in the temporary directory, removed afterwards.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/berth-sim-mesos-XXXXXX";
    const int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    close(fd);
    path = name;
    std::ofstream(path) << text;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("config: agents, behaviours and timings load over the defaults") {
  TempFile file(R"(
listen: 127.0.0.1:5050
principal: berth
secret: s3cret
time_scale: 10
heartbeat_interval: 500ms
update_retry: 2s
staging_update: false
agents:
  - {hostname: gpu-1, cpus: 32, mem: 131072, gpus: 4, ports: "31000-31999", attributes: {rack: r7}, reserved: {batch: {cpus: 8}}}
behaviours:
  - match: {spark-role: executor}
    labels: {sim.berth.dev/run-for: 10m}
)");
  auto loaded = load_config(file.path, SimulatorOptions{});
  INFO(loaded.status().message());
  REQUIRE(loaded.ok());
  CHECK(loaded->listen == "127.0.0.1:5050");
  CHECK(loaded->principal == "berth");
  CHECK(loaded->time_scale == 10);
  CHECK(loaded->heartbeat_interval == std::chrono::milliseconds(500));
  CHECK(loaded->update_retry_seconds == 2);
  CHECK_FALSE(loaded->staging_update);
  REQUIRE(loaded->agent_specs.size() == 1);
  CHECK(loaded->agent_specs[0].gpus == 4);
  CHECK(loaded->agent_specs[0].attributes.at("rack") == "r7");
  CHECK(loaded->agent_specs[0].reserved.at("batch").at("cpus") == 8);
  REQUIRE(loaded->behaviours.size() == 1);
  CHECK(loaded->behaviours[0].labels.at("sim.berth.dev/run-for") == "10m");
}

TEST_CASE("config: errors name the file, line and key") {
  TempFile unknown("listen: 127.0.0.1:0\nagnets: 3\n");
  auto loaded = load_config(unknown.path, SimulatorOptions{});
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.status().message() == unknown.path + ":2:1: unknown key agnets");

  TempFile ports("agents:\n  - {hostname: a, ports: \"9-1\"}\n");
  loaded = load_config(ports.path, SimulatorOptions{});
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.status().message().find(": bad port ranges") != std::string::npos);

  TempFile count("agents: 5\n");
  loaded = load_config(count.path, SimulatorOptions{});
  REQUIRE(loaded.ok());
  CHECK(loaded->agents == 5);
}
