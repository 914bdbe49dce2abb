// berth-sim: runs one backend simulator on loopback for tests, demos and people trying Berth
// without a cluster. The first argument names the backend; kSimulators below is the one list of
// them (each entry adds its subcommand and returns the function that runs it).
//
//   berth-sim kubernetes --listen 127.0.0.1:6443 [--tls --cert F --key F [--client-ca F]]
//                        [--token T [--token-user NAME]] [--rbac-role FILE] [--config FILE]
//                        [--time-scale X] [--port-file F]
//   berth-sim nomad --listen 127.0.0.1:4646 [--acl-token T] [--tls --cert F --key F [--client-ca F]]
//                   [--config FILE] [--time-scale X] [--seed N] [--port-file F]
//                   [--max-conns-per-client N]
//   berth-sim mesos --listen 127.0.0.1:5050 [--agents N] [--principal P --secret S]
//                   [--tls --cert F --key F] [--config FILE] [--time-scale X] [--seed N] [--port-file F]
//                   [--standby-listen 127.0.0.1:0 --standby-port-file F]

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <thread>

#include "sim/kubernetes/simulator.h"
#include "sim/mesos/simulator.h"
#include "sim/nomad/simulator.h"

namespace {

using Runner = std::function<int()>;

// Writes the bound address where a test waits for it (atomically: write, then rename).
bool write_port_file(const std::string& path, const std::string& address) {
  if (path.empty()) return true;
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    out << address << "\n";
    if (!out) return false;
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  return !ec;
}

// Runs `io` on two threads until SIGINT or SIGTERM, then calls `stop`.
void serve_until_signal(boost::asio::io_context& io, const std::function<void()>& stop) {
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    stop();
    io.stop();
  });
  std::thread helper([&] { io.run(); });
  io.run();
  helper.join();
}

// --tls needs --cert and --key; --cert alone (outside a config file) is a mistake. 0 or exit code 2.
int check_tls_flags(bool tls, const std::string& cert, const std::string& key, bool from_config) {
  if (tls && (cert.empty() || key.empty())) {
    std::cerr << "berth-sim: --tls needs --cert and --key\n";
    return 2;
  }
  if (!tls && !cert.empty() && !from_config) {
    std::cerr << "berth-sim: --cert given without --tls\n";
    return 2;
  }
  return 0;
}

// Starts a simulator, prints its address, writes the port file(s) `write_ports` names, and serves
// until SIGINT or SIGTERM.
template <typename Simulator, typename Options>
int run_simulator(const Options& options, const std::function<bool(const Simulator&)>& write_ports) {
  boost::asio::io_context io;
  Simulator simulator(io.get_executor(), options);
  if (auto status = simulator.start(); !status.ok()) {
    std::cerr << "berth-sim: " << status.message() << "\n";
    return 1;
  }
  std::cout << simulator.address() << std::endl;
  if (!write_ports(simulator)) {
    std::cerr << "berth-sim: cannot write a port file\n";
    return 1;
  }
  serve_until_signal(io, [&] { simulator.stop(); });
  return 0;
}

Runner add_kubernetes(CLI::App& app) {
  auto* command = app.add_subcommand("kubernetes", "Kubernetes API server (pods) with nodes, a scheduler and a kubelet");
  struct Flags {
    berth::sim::kubernetes::SimulatorOptions options;
    bool tls = false;
    std::string config;
    std::string port_file;
    std::string rbac_file;
  };
  auto flags = std::make_shared<Flags>();
  command->add_option("--listen", flags->options.listen, "host:port to listen on (port 0 = any)");
  command->add_flag("--tls", flags->tls, "serve HTTPS (needs --cert and --key)");
  command->add_option("--cert", flags->options.tls_cert_file, "server certificate (PEM)");
  command->add_option("--key", flags->options.tls_key_file, "server private key (PEM)");
  command->add_option("--client-ca", flags->options.client_ca_file,
                      "require client certificates signed by this CA (PEM); they authenticate");
  command->add_option("--token", flags->options.token, "bearer token every request must carry");
  command->add_option("--token-user", flags->options.token_user,
                      "user the token authenticates as (default: the RBAC role's first bound subject, else admin)");
  command->add_option("--rbac-role", flags->rbac_file,
                      "authorize pod requests by the first Role in this YAML/JSON file (and its RoleBinding's "
                      "subjects); refused verbs get 403 Forbidden");
  command->add_option("--config", flags->config, "YAML file: nodes, quotas, behaviours, time_scale, ...");
  command->add_option("--time-scale", flags->options.time_scale, "simulated seconds per real second")
      ->check(CLI::PositiveNumber);
  command->add_option("--seed", flags->options.seed, "seed for names, uids and injected errors");
  command->add_option("--port-file", flags->port_file, "write the bound host:port to this file");
  return [command, flags]() -> int {
    if (!*command) return -1;
    auto options = flags->options;
    if (!flags->config.empty()) {
      // Command-line flags win over the file: load the file over the defaults, then re-apply them.
      auto loaded = berth::sim::kubernetes::load_config(flags->config, berth::sim::kubernetes::SimulatorOptions{});
      if (!loaded.ok()) {
        std::cerr << "berth-sim: " << loaded.status().message() << "\n";
        return 2;
      }
      auto merged = *loaded;
      const berth::sim::kubernetes::SimulatorOptions defaults;
      if (options.listen != defaults.listen) merged.listen = options.listen;
      if (!options.token.empty()) merged.token = options.token;
      if (!options.token_user.empty()) merged.token_user = options.token_user;
      if (!options.tls_cert_file.empty()) merged.tls_cert_file = options.tls_cert_file;
      if (!options.tls_key_file.empty()) merged.tls_key_file = options.tls_key_file;
      if (!options.client_ca_file.empty()) merged.client_ca_file = options.client_ca_file;
      if (options.time_scale != defaults.time_scale) merged.time_scale = options.time_scale;
      if (options.seed != defaults.seed) merged.seed = options.seed;
      options = std::move(merged);
    }
    if (int code = check_tls_flags(flags->tls, options.tls_cert_file, options.tls_key_file, !flags->config.empty())) {
      return code;
    }
    if (!flags->rbac_file.empty()) {
      auto role = berth::sim::kubernetes::load_rbac_role(flags->rbac_file);
      if (!role.ok()) {
        std::cerr << "berth-sim: " << role.status().message() << "\n";
        return 2;
      }
      options.rbac_role = std::move(*role);
    }
    using Simulator = berth::sim::kubernetes::Simulator;
    return run_simulator<Simulator>(options, [&](const Simulator& simulator) {
      return write_port_file(flags->port_file, simulator.address());
    });
  };
}

Runner add_mesos(CLI::App& app) {
  auto* command = app.add_subcommand("mesos", "Mesos master (v1 scheduler HTTP API) with agents, offers and a standby");
  struct Flags {
    berth::sim::mesos::SimulatorOptions options;
    bool tls = false;
    std::string config;
    std::string port_file;
    std::string standby_port_file;
    double heartbeat_seconds = 0;
  };
  auto flags = std::make_shared<Flags>();
  command->add_option("--listen", flags->options.listen, "host:port to listen on (port 0 = any)");
  command->add_option("--standby-listen", flags->options.standby_listen,
                      "host:port of a standby master in this process (answers 307 to the leader)");
  command->add_option("--standby-port-file", flags->standby_port_file, "write the standby's host:port to this file");
  command->add_option("--agents", flags->options.agents, "number of default agents")->check(CLI::NonNegativeNumber);
  command->add_option("--principal", flags->options.principal, "require HTTP basic authentication as this principal");
  command->add_option("--secret", flags->options.secret, "the principal's secret");
  command->add_flag("--tls", flags->tls, "serve HTTPS (needs --cert and --key)");
  command->add_option("--cert", flags->options.tls_cert_file, "server certificate (PEM)");
  command->add_option("--key", flags->options.tls_key_file, "server private key (PEM)");
  command->add_option("--config", flags->config, "YAML file: agents, behaviours, heartbeat_interval, ...");
  command->add_option("--time-scale", flags->options.time_scale, "simulated seconds per real second")
      ->check(CLI::PositiveNumber);
  command->add_option("--heartbeat", flags->heartbeat_seconds, "seconds between HEARTBEAT events (default 15)")
      ->check(CLI::PositiveNumber);
  command->add_option("--seed", flags->options.seed, "seed for ids, uuids and injected errors");
  command->add_option("--port-file", flags->port_file, "write the bound host:port to this file");
  return [command, flags]() -> int {
    if (!*command) return -1;
    namespace mesos = berth::sim::mesos;
    auto options = flags->options;
    if (!flags->config.empty()) {
      // Command-line flags win over the file: load the file over the defaults, then re-apply them.
      auto loaded = mesos::load_config(flags->config, mesos::SimulatorOptions{});
      if (!loaded.ok()) {
        std::cerr << "berth-sim: " << loaded.status().message() << "\n";
        return 2;
      }
      auto merged = *loaded;
      const mesos::SimulatorOptions defaults;
      if (options.listen != defaults.listen) merged.listen = options.listen;
      if (!options.standby_listen.empty()) merged.standby_listen = options.standby_listen;
      if (options.agents != defaults.agents) merged.agents = options.agents;
      if (!options.principal.empty()) merged.principal = options.principal;
      if (!options.secret.empty()) merged.secret = options.secret;
      if (!options.tls_cert_file.empty()) merged.tls_cert_file = options.tls_cert_file;
      if (!options.tls_key_file.empty()) merged.tls_key_file = options.tls_key_file;
      if (options.time_scale != defaults.time_scale) merged.time_scale = options.time_scale;
      if (options.seed != defaults.seed) merged.seed = options.seed;
      options = std::move(merged);
    }
    if (flags->heartbeat_seconds > 0) {
      options.heartbeat_interval = std::chrono::milliseconds(static_cast<std::int64_t>(flags->heartbeat_seconds * 1000));
    }
    if (options.principal.empty() != options.secret.empty()) {
      std::cerr << "berth-sim: --principal and --secret go together\n";
      return 2;
    }
    if (int code = check_tls_flags(flags->tls, options.tls_cert_file, options.tls_key_file, !flags->config.empty())) {
      return code;
    }
    return run_simulator<mesos::Simulator>(options, [&](const mesos::Simulator& simulator) {
      return write_port_file(flags->port_file, simulator.address()) &&
             write_port_file(flags->standby_port_file, simulator.standby_address());
    });
  };
}

Runner add_nomad(CLI::App& app) {
  auto* command = app.add_subcommand("nomad", "Nomad HTTP API (jobs, evaluations, allocations, event stream) with client nodes");
  struct Flags {
    berth::sim::nomad::SimulatorOptions options;
    bool tls = false;
    std::string config;
    std::string port_file;
  };
  auto flags = std::make_shared<Flags>();
  command->add_option("--listen", flags->options.listen, "host:port to listen on (port 0 = any)");
  command->add_option("--acl-token", flags->options.acl_token,
                      "enable ACLs with this management token (X-Nomad-Token or Authorization: Bearer)");
  command->add_flag("--tls", flags->tls, "serve HTTPS (needs --cert and --key)");
  command->add_option("--cert", flags->options.tls_cert_file, "server certificate (PEM)");
  command->add_option("--key", flags->options.tls_key_file, "server private key (PEM)");
  command->add_option("--client-ca", flags->options.client_ca_file, "require client certificates signed by this CA (PEM)");
  command->add_option("--config", flags->config, "YAML file: nodes, namespaces, behaviours, time_scale, ...");
  command->add_option("--time-scale", flags->options.time_scale, "simulated seconds per real second")
      ->check(CLI::PositiveNumber);
  command->add_option("--seed", flags->options.seed, "seed for IDs and injected errors");
  command->add_option("--port-file", flags->port_file, "write the bound host:port to this file");
  auto* max_conns = command->add_option("--max-conns-per-client", flags->options.max_conns_per_client,
                                        "open connections allowed per client IP (0 = unlimited; default 100)");
  return [command, flags, max_conns]() -> int {
    if (!*command) return -1;
    auto options = flags->options;
    if (!flags->config.empty()) {
      // Command-line flags win over the file: load the file over the defaults, then re-apply them.
      auto loaded = berth::sim::nomad::load_config(flags->config, berth::sim::nomad::SimulatorOptions{});
      if (!loaded.ok()) {
        std::cerr << "berth-sim: " << loaded.status().message() << "\n";
        return 2;
      }
      auto merged = *loaded;
      const berth::sim::nomad::SimulatorOptions defaults;
      if (options.listen != defaults.listen) merged.listen = options.listen;
      if (!options.acl_token.empty()) merged.acl_token = options.acl_token;
      if (!options.tls_cert_file.empty()) merged.tls_cert_file = options.tls_cert_file;
      if (!options.tls_key_file.empty()) merged.tls_key_file = options.tls_key_file;
      if (!options.client_ca_file.empty()) merged.client_ca_file = options.client_ca_file;
      if (options.time_scale != defaults.time_scale) merged.time_scale = options.time_scale;
      if (options.seed != defaults.seed) merged.seed = options.seed;
      if (max_conns->count() > 0) merged.max_conns_per_client = options.max_conns_per_client;
      options = std::move(merged);
    }
    if (int code = check_tls_flags(flags->tls, options.tls_cert_file, options.tls_key_file, !flags->config.empty())) {
      return code;
    }
    using Simulator = berth::sim::nomad::Simulator;
    return run_simulator<Simulator>(options, [&](const Simulator& simulator) {
      return write_port_file(flags->port_file, simulator.address());
    });
  };
}

// The simulators berth-sim knows, in the order `--help` lists them.
const std::vector<std::function<Runner(CLI::App&)>> kSimulators = {add_kubernetes, add_nomad, add_mesos};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"berth-sim: protocol-faithful backend simulators for Berth"};
  app.require_subcommand(1);
  std::vector<Runner> runners;
  for (const auto& add : kSimulators) runners.push_back(add(app));
  CLI11_PARSE(app, argc, argv);
  for (const auto& run : runners) {
    if (int code = run(); code >= 0) return code;
  }
  return 2;
}
