// berthd: wiring only. Loads the config, locks the state directory, opens the store and settles
// the daemon id (daemon/startup.h holds that policy), starts the runtime (engine, backends), then
// serves gRPC and /metrics until SIGTERM/SIGINT; SIGHUP reloads what can change at run time.

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "config/config.h"
#include "base/files.h"
#include "base/version.h"
#include "daemon/adapters.h"
#include "daemon/auth.h"
#include "daemon/event_logger.h"
#include "daemon/logging.h"
#include "daemon/metrics.h"
#include "daemon/runtime.h"
#include "daemon/service.h"
#include "daemon/startup.h"
#include "daemon/status_server.h"
#include "store/sqlite_store.h"

namespace {

constexpr int kExitConfig = 2;

std::shared_ptr<grpc::ServerCredentials> server_credentials(const berth::config::Config& config,
                                                            std::string* error) {
  if (!config.tls.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      config.tls.client_ca_file.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                        : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  auto cert = berth::read_regular_file(config.tls.cert_file, berth::kMaxPemFileBytes, "tls cert_file");
  auto key = berth::read_regular_file(config.tls.key_file, berth::kMaxPemFileBytes, "tls key_file");
  for (const auto& [pem, path] : {std::pair{&cert, &config.tls.cert_file}, std::pair{&key, &config.tls.key_file}}) {
    if (!pem->ok() || (*pem)->empty()) {
      *error = pem->ok() ? "tls: " + *path + " is empty" : pem->status().message();
      return nullptr;
    }
  }
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!config.tls.client_ca_file.empty()) {
    auto ca = berth::read_regular_file(config.tls.client_ca_file, berth::kMaxPemFileBytes, "tls client_ca_file");
    if (!ca.ok()) {
      *error = ca.status().message();
      return nullptr;
    }
    options.pem_root_certs = std::move(*ca);
  }
  return grpc::SslServerCredentials(options);
}

berth::Status check_config(const std::string& path, berth::config::Config* out) {
  auto config = berth::config::load_config(path, berth::registered_backend_types());
  if (!config.ok()) return config.status();
  for (const auto& pool : config->pools) {
    berth::Status status = berth::check_pool_section(pool, config->state_dir);
    if (!status.ok()) return status;
  }
  *out = std::move(*config);
  return berth::Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"berthd: executors for Apache Spark drivers, as Kubernetes pods, Nomad jobs, Mesos tasks or local processes"};
  std::string config_path;
  std::string check_path;
  std::string port_file;
  bool version = false;
  cli.add_option("--config", config_path, "YAML configuration file")->check(CLI::ExistingFile);
  cli.add_option("--check-config", check_path, "validate FILE and exit: 0 valid, 2 invalid");
  cli.add_option("--port-file", port_file,
                 "write the bound addresses (grpc=HOST:PORT, metrics=HOST:PORT) to FILE once serving");
  cli.add_flag("--version", version, "print the version and exit");
  CLI11_PARSE(cli, argc, argv);

  if (version) {
    std::cout << "berthd " << berth::kBerthVersion << "\n";
    return 0;
  }
  if (!check_path.empty()) {
    berth::config::Config config;
    berth::Status status = check_config(check_path, &config);
    if (!status.ok()) {
      std::cerr << "berthd: " << status.message() << "\n";
      return kExitConfig;
    }
    std::cout << check_path << ": ok (" << config.pools.size() << " pools, " << config.tenants.size()
              << " tenants)\n";
    return 0;
  }
  if (config_path.empty()) {
    std::cerr << "berthd: --config FILE is required (see --help)\n";
    return kExitConfig;
  }

  berth::config::Config config;
  if (berth::Status status = check_config(config_path, &config); !status.ok()) {
    std::cerr << "berthd: " << status.message() << "\n";
    return kExitConfig;
  }
  if (auto status = berth::configure_logging(config.logging.level, config.logging.format); !status.ok()) {
    std::cerr << "berthd: " << status.message() << "\n";
    return kExitConfig;
  }

  if (const std::string warning = berth::config::unauthenticated_listen_warning(config); !warning.empty()) {
    spdlog::warn("{}", warning);
  }

  // Signals are taken synchronously by this thread; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // One writer per state directory: the lock is taken before the store is opened and held until
  // the process exits.
  auto state_lock = berth::StateDirLock::acquire(config.state_dir);
  if (!state_lock.ok()) {
    spdlog::critical("cannot start: {}", state_lock.status().message());
    return 1;
  }
  const std::string db_path = (std::filesystem::path(config.state_dir) / "berth.db").string();
  auto store = berth::SqliteStore::open(db_path);
  if (!store.ok()) {
    spdlog::critical("cannot open the state store {}: {}", db_path, store.status().message());
    return 1;
  }
  auto snapshot = (*store)->load();
  if (!snapshot.ok()) {
    spdlog::critical("cannot load the state store {}: {}", db_path, snapshot.status().message());
    return 1;
  }
  auto chosen = berth::choose_daemon_id(config.daemon_id, snapshot->meta, db_path, berth::new_daemon_id);
  if (!chosen.ok()) {
    spdlog::critical("{}", chosen.status().message());
    return kExitConfig;
  }
  const std::string daemon_id = chosen->id;
  if (!chosen->stored) {
    // Durable before anything carries it: backend objects are labelled with it.
    if (berth::Status saved = berth::save_daemon_id(**store, daemon_id); !saved.ok()) {
      spdlog::critical("cannot save the daemon id {} in the state store {}: {}", daemon_id, db_path, saved.message());
      return 1;
    }
    snapshot->meta[berth::kMetaDaemonId] = daemon_id;
  }
  spdlog::info("berthd {} starting: daemon id {}, state {}, {} applications and {} executors in the store",
               berth::kBerthVersion, daemon_id, db_path, snapshot->apps.size(), snapshot->executors.size());

  // A taken port fails the start before any backend is touched (the listeners bind later, once
  // the engine is running).
  for (const auto& [what, address] : {std::pair<std::string, std::string>{"listen", config.listen},
                                      std::pair<std::string, std::string>{"metrics_listen", config.metrics_listen}}) {
    if (berth::Status free = berth::check_port_free(what, address); !address.empty() && !free.ok()) {
      spdlog::critical("cannot start: {}", free.message());
      return 1;
    }
  }

  // Declared before the runtime so that they outlive it: the engine holds them as listeners.
  berth::Metrics metrics;
  berth::SystemClock log_clock;
  berth::EventLogger event_logger(log_clock, berth::EventLogger::Options{});
  berth::Runtime::Options runtime_options{config, daemon_id, 2, std::chrono::milliseconds(100), {&event_logger}};
  berth::Runtime runtime(runtime_options, std::move(*store));
  if (berth::Status status = runtime.start(*snapshot, std::chrono::seconds(30)); !status.ok()) {
    spdlog::critical("cannot start: {}", status.message());
    return 1;
  }
  runtime.post([&runtime, &metrics, &event_logger] {
    runtime.engine().add_listener(&metrics);
    for (const berth::Application* app : runtime.engine().apps()) event_logger.remember(*app);
  });
  runtime.set_tick_hook([&runtime, &metrics, &event_logger, ticks = 0]() mutable {
    if (++ticks % 10 == 0) metrics.refresh(runtime.engine());
    event_logger.flush();
  });

  berth::Authenticator auth;
  auth.set_tokens(config.tokens, !config.tokens_file.empty());
  const berth::TenantName default_tenant = config.tenants.empty() ? "default" : config.tenants.front().name;
  berth::ServiceContext context{runtime, auth, metrics, daemon_id, berth::kBerthVersion,
                                std::chrono::time_point_cast<berth::Duration>(std::chrono::system_clock::now()),
                                default_tenant,
                                std::make_shared<const std::regex>(config.redact_env,
                                                                   std::regex::icase | std::regex::extended),
                                std::make_shared<berth::OpenStreams>()};
  berth::ExecutorsService executors(context);
  berth::AdminService admin(context);

  std::string tls_error;
  auto credentials = server_credentials(config, &tls_error);
  if (!credentials) {
    spdlog::critical("{}", tls_error);
    return kExitConfig;
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  // gRPC sets SO_REUSEPORT by default, which would let a second daemon bind the same port and
  // take half of the connections: a taken port must fail the start instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(config.listen, credentials, &bound_port);
  builder.RegisterService(&executors);
  builder.RegisterService(&admin);
  builder.SetMaxReceiveMessageSize(4 * 1024 * 1024);
  // A unix socket is created 0660 (berthd's user and group), never more open even for a moment,
  // and removed when berthd exits after it was bound.
  const std::string socket_path = berth::config::unix_socket_path(config.listen);
  std::unique_ptr<grpc::Server> server;
  if (socket_path.empty()) {
    server = builder.BuildAndStart();
  } else {
    berth::SocketUmask restricted;
    server = builder.BuildAndStart();
  }
  if (!server || bound_port == 0) {
    spdlog::critical("cannot listen on {}: the address is in use or cannot be bound", config.listen);
    return 1;
  }
  struct SocketFile {
    std::string path;
    ~SocketFile() {
      if (!path.empty()) berth::remove_unix_socket(path);
    }
  } socket_file{socket_path};
  if (!socket_path.empty()) {
    if (berth::Status restricted = berth::restrict_unix_socket(socket_path); !restricted.ok()) {
      spdlog::critical("cannot listen on {}: {}", config.listen, restricted.message());
      return 1;
    }
  }
  const std::string grpc_address =
      socket_path.empty() && config.listen.rfind("unix-abstract:", 0) != 0
          ? config.listen.substr(0, config.listen.rfind(':')) + ":" + std::to_string(bound_port)
          : config.listen;

  // metrics_listen: /metrics, the status page and its JSON API.
  berth::StatusServer status_server(runtime, auth, metrics,
                                    berth::DaemonInfo{daemon_id, berth::kBerthVersion, context.started,
                                                      context.redact_env, default_tenant});
  std::string metrics_address;
  if (!config.metrics_listen.empty()) {
    auto served = status_server.start(config.metrics_listen);
    if (!served.ok()) {
      spdlog::critical("{}", served.status().message());
      return 1;
    }
    metrics_address = *served;
  }
  if (!port_file.empty()) {
    std::ofstream out(port_file + ".tmp");
    out << "grpc=" << grpc_address << "\nmetrics=" << metrics_address << "\n";
    out.close();
    std::error_code ec;
    std::filesystem::rename(port_file + ".tmp", port_file, ec);
  }
  spdlog::info("serving berth.v1 on {}{}{}", grpc_address,
               config.tls.enabled() ? " (TLS)" : socket_path.empty() ? "" : " (mode 0660)",
               metrics_address.empty() ? "" : ", status page on http://" + metrics_address + "/ and metrics on /metrics");
  sd_notify(0, "READY=1");

  for (;;) {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal != SIGHUP) {
      spdlog::info("{} received: stopping; executors keep running", signal == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    auto reloaded = berth::config::load_config(config_path, berth::registered_backend_types());
    if (!reloaded.ok()) {
      spdlog::error("SIGHUP: config not reloaded: {}", reloaded.status().message());
      continue;
    }
    // Only what may change at run time is applied: the log level, existing tenants' limits and
    // the tokens. Everything else stays as started (and is reported).
    berth::config::ReloadPlan plan = berth::apply_reload(config, *reloaded);
    for (const auto& item : plan.needs_restart) spdlog::warn("SIGHUP: {} needs a restart; ignored", item);
    if (plan.changes.empty()) {
      spdlog::info("SIGHUP: nothing to change");
      continue;
    }
    berth::set_log_level(config.logging.level);
    auth.set_tokens(config.tokens, !config.tokens_file.empty());
    runtime.post([&runtime, tenants = config.tenants] { runtime.engine().set_tenants(tenants); });
    for (const auto& change : plan.changes) spdlog::info("SIGHUP: {}", change);
  }

  sd_notify(0, "STOPPING=1");
  server->GetHealthCheckService()->SetServingStatus(false);
  // Open watches end now (they would hold the shutdown until its deadline); unary calls in
  // progress get up to two seconds to finish.
  const auto stopping = std::chrono::steady_clock::now();
  const auto since_stopping = [&stopping] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - stopping).count();
  };
  context.streams->end_all();
  status_server.stop();
  spdlog::info("stopping: watches ended; waiting up to 2 s for calls in progress");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  spdlog::info("stopping: gRPC stopped after {} ms; flushing the state store", since_stopping());
  runtime.post([&runtime, &metrics, &event_logger] {
    runtime.engine().remove_listener(&metrics);
    runtime.engine().remove_listener(&event_logger);
    event_logger.flush_all();
  });
  runtime.shutdown();
  spdlog::info("stopped after {} ms; state flushed to {}", since_stopping(), db_path);
  // Everything is saved and every thread of ours has stopped; nothing is left for destructors
  // to do, so the process ends here.
  spdlog::shutdown();
  std::_Exit(0);
}
