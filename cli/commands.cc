#include "cli/commands.h"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdlib>
#include <string_view>
#include <string>

#ifndef BERTH_VERSION
#define BERTH_VERSION "unknown"
#endif

namespace berth::cli {

// Storage the options write into. Only one command runs per parse, so commands share fields.
struct CommandLine::Values {
  Invocation invocation;
  bool tls = false;
  std::string output = "table";

  std::string app_id;
  std::string tenant;
  std::string pool;
  std::string reason;
  std::string service;
  std::string driver_url;
  std::string image;
  bool undo = false;
  bool force = false;
  bool keep_target = false;
  bool until_synced = false;
  std::vector<std::string> pools;
  std::vector<std::string> env;
  std::vector<std::string> labels;
  std::vector<std::string> command;
  std::vector<std::string> states;
  std::int32_t cores = 1;
  std::int64_t memory_mib = 1024;
  std::int64_t overhead_mib = 0;
  std::int64_t lease_ttl_seconds = 0;
  std::int32_t profile_id = 0;
  std::int32_t total = 0;
  std::vector<std::int64_t> executor_ids;
  std::int64_t grace_seconds = 0;
  std::uint64_t from_revision = 0;
  std::uint64_t max_events = 0;
};

namespace {

constexpr char kSubcommandFooter[] =
    "Global options (--addr, --token-file, --tls, --ca-file, --cert-file, --key-file,\n"
    "--server-name, -o/--output, --timeout) go before or after the command; see berthctl --help.";

const CLI::Validator& key_value_validator() {
  static const CLI::Validator validator(
      [](std::string& text) -> std::string {
        if (parse_key_value(text)) return {};
        return "expected KEY=VALUE with a non-empty KEY, got '" + text + "'";
      },
      "", "KEY=VALUE");
  return validator;
}

// A whole number of at least `min`, with a message that names `what` (an option, or what a
// positional is): "--cores must be at least 1, got 0". CLI11's own range checks print their
// bounds as doubles ("0.000000 to 1797693134862315708145...").
CLI::Validator whole_number(std::int64_t min, const std::string& what) {
  return CLI::Validator(
      [min, what](std::string& text) -> std::string {
        std::int64_t value = 0;
        const char* end = text.data() + text.size();
        auto [next, error] = std::from_chars(text.data(), end, value);
        if (error == std::errc::result_out_of_range) return what + " is too large: " + text;
        if (error != std::errc() || next != end) return what + " must be a whole number, got '" + text + "'";
        if (value < min) return what + " must be at least " + std::to_string(min) + ", got " + text;
        return {};
      },
      "", "INT>=" + std::to_string(min));
}

CLI::Validator non_negative_seconds(const std::string& what) {
  return CLI::Validator(
      [what](std::string& text) -> std::string {
        double value = 0;
        std::size_t used = 0;
        try {
          value = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != text.size()) return what + " must be a number of seconds, got '" + text + "'";
        if (!(value >= 0)) return what + " must be at least 0, got " + text;
        return {};
      },
      "", "SECONDS");
}

const CLI::Validator& executor_state_validator() {
  static const CLI::Validator validator(
      [](std::string& text) -> std::string {
        if (parse_executor_state(text)) return {};
        std::string names;
        for (int value = v1::ExecutorState_MIN + 1; value <= v1::ExecutorState_MAX; ++value) {
          if (!v1::ExecutorState_IsValid(value)) continue;
          if (!names.empty()) names += ", ";
          names += v1::ExecutorState_Name(static_cast<v1::ExecutorState>(value));
        }
        return "unknown executor state '" + text + "' (one of " + names + ")";
      },
      "", "EXECUTOR_STATE");
  return validator;
}

// Applies KEY=VALUE options to a map; a key given twice keeps its last value.
void put_key_values(const std::vector<std::string>& items,
                    google::protobuf::Map<std::string, std::string>& map) {
  for (const std::string& item : items) {
    auto key_value = parse_key_value(item);
    if (!key_value) throw CLI::ValidationError("expected KEY=VALUE, got '" + item + "'");
    map[key_value->first] = key_value->second;
  }
}

CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& description) {
  CLI::App* command = parent.add_subcommand(name, description);
  command->footer(kSubcommandFooter);
  return command;
}

// A repeatable option taking one value per occurrence, so that it never swallows a positional.
template <class T>
CLI::Option* add_repeated(CLI::App& command, const std::string& name, std::vector<T>& values,
                          const std::string& description) {
  return command.add_option(name, values, description)->allow_extra_args(false);
}

CLI::Option* add_app_id(CLI::App& command, std::string& app_id) {
  return command.add_option("APP", app_id, "Application id")->required();
}

CLI::Option* add_executor_ids(CLI::App& command, std::vector<std::int64_t>& ids) {
  return command.add_option("ID", ids, "Executor ids (1, 2, 3 ... per application)")
      ->required()
      ->check(whole_number(1, "executor ids"));
}

}  // namespace

CommandLine::CommandLine() : values_(std::make_unique<Values>()), app_(std::make_unique<CLI::App>()) {
  Values& v = *values_;
  ConnectionOptions& connection = v.invocation.connection;
  CLI::App& app = *app_;

  app.name("berthctl");
  app.description("Command-line client of berthd, the Berth executor daemon for Apache Spark.");
  app.set_version_flag("--version", BERTH_VERSION);
  app.require_subcommand(1);
  app.failure_message([](const CLI::App* failed, const CLI::Error& error) {
    return "berthctl: " + CLI::FailureMessage::simple(failed, error);
  });
  app.fallthrough();  // global options are accepted after the command name too
  app.footer(
      "Environment: BERTH_ADDR sets --addr, BERTH_TOKEN_FILE sets --token-file.\n"
      "Exit status: 0 on success, 1 when the call fails (\"berthctl: CODE: message\" on stderr),\n"
      "2 on a usage error. Run berthctl COMMAND --help for a command's options.");

  // Global options.
  app.add_option("--addr", connection.address, "Daemon address, host:port")
      ->envname("BERTH_ADDR")
      ->capture_default_str();
  app.add_option("--token-file", connection.token_file,
                 "File holding the bearer token, sent as 'authorization: Bearer <token>'")
      ->envname("BERTH_TOKEN_FILE")
      ->check(CLI::ExistingFile);
  app.add_flag("--tls", v.tls, "Use TLS with the system's root certificates");
  app.add_option("--ca-file", connection.ca_file,
                 "PEM file of CA certificates to verify the daemon with (enables TLS; without "
                 "TLS options the connection is plaintext)")
      ->check(CLI::ExistingFile);
  CLI::Option* cert =
      app.add_option("--cert-file", connection.cert_file, "PEM client certificate for mTLS")
          ->check(CLI::ExistingFile);
  CLI::Option* key = app.add_option("--key-file", connection.key_file,
                                    "PEM private key of --cert-file")
                         ->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  app.add_option("--server-name", connection.server_name,
                 "Name to verify in the daemon's certificate instead of the host of --addr");
  app.add_option("-o,--output", v.output, "Output format")
      ->transform(CLI::IsMember({"table", "json"}, CLI::ignore_case))
      ->capture_default_str();
  app.add_option("--timeout", connection.timeout_seconds,
                 "Deadline of each call in seconds, 0 for none (watch has none)")
      ->check(non_negative_seconds("--timeout"))
      ->capture_default_str();

  // Operator commands (Admin service).
  CLI::App* health = add_command(app, "health",
                                 "Check the daemon's health (grpc.health.v1); exits 0 only when "
                                 "SERVING");
  health->add_option("--service", v.service,
                     "Service to check, e.g. berth.v1.Executors (default: the whole server)");
  health->callback([&v] { v.invocation.request = HealthCheck{v.service}; });

  CLI::App* status = add_command(app, "status", "Show the daemon's version, id and counters");
  status->callback([&v] { v.invocation.request = v1::StatusRequest(); });

  CLI::App* pools = add_command(app, "pools", "List pools with their health and executor counts");
  pools->callback([&v] { v.invocation.request = v1::ListPoolsRequest(); });

  CLI::App* apps = add_command(app, "apps", "List applications");
  apps->add_option("--tenant", v.tenant, "Only this tenant's applications");
  apps->callback([&v] {
    v1::ListApplicationsRequest request;
    request.set_tenant(v.tenant);
    v.invocation.request = std::move(request);
  });

  CLI::App* drain = add_command(app, "drain",
                                "Stop launching executors in a pool (running ones stay)");
  drain->add_option("POOL", v.pool, "Pool name")->required();
  drain->add_flag("--undo", v.undo, "Accept launches in the pool again");
  drain->callback([&v] {
    v1::DrainPoolRequest request;
    request.set_pool(v.pool);
    request.set_undrain(v.undo);
    v.invocation.request = std::move(request);
  });

  // Application commands (Executors service).
  CLI::App* application = add_command(app, "app", "Register, show, unregister or keep alive an "
                                                   "application");
  application->require_subcommand(1);

  CLI::App* reg = add_command(*application, "register",
                              "Register an application with one executor profile (id 0)");
  reg->footer(
      std::string("Everything after -- is the executor's command: its first word goes to\n"
                  "launch.command, the rest to launch.args. Example:\n"
                  "  berthctl app register my-app --pool local --cores 2 --memory 2048 -- \\\n"
                  "      /opt/spark/bin/spark-class "
                  "org.apache.spark.executor.CoarseGrainedExecutorBackend\n\n") +
      kSubcommandFooter);
  add_app_id(*reg, v.app_id);
  add_repeated(*reg, "--pool", v.pools,
               "Pool to place executors in; repeat for spill-over order (default: the tenant's "
               "default pools)");
  reg->add_option("--tenant", v.tenant, "Tenant (default: the token's tenant)");
  reg->add_option("--cores", v.cores, "Cores per executor")
      ->check(whole_number(1, "--cores"))
      ->capture_default_str();
  reg->add_option("--memory", v.memory_mib, "Executor heap in MiB")
      ->check(whole_number(1, "--memory"))
      ->capture_default_str();
  reg->add_option("--overhead", v.overhead_mib,
                  "Memory overhead in MiB (default: max(10% of heap, 384))")
      ->check(whole_number(0, "--overhead"));
  reg->add_option("--lease-ttl", v.lease_ttl_seconds,
                  "Lease in seconds, renewed by app keepalive (default 0: no lease)")
      ->check(whole_number(0, "--lease-ttl"));
  reg->add_option("--driver-url", v.driver_url,
                  "Driver endpoint, spark://CoarseGrainedScheduler@host:port");
  add_repeated(*reg, "--env", v.env, "Executor environment variable; repeatable")
      ->check(key_value_validator())
      ->type_name("KEY=VALUE");
  add_repeated(*reg, "--label", v.labels, "Label on the executors' backend objects; repeatable")
      ->check(key_value_validator())
      ->type_name("KEY=VALUE");
  reg->add_option("--image", v.image, "Container image (container backends)");
  reg->add_option("COMMAND", v.command, "Executor command and its arguments, after --");
  reg->callback([&v] {
    v1::RegisterApplicationRequest request;
    request.set_app_id(v.app_id);
    request.set_tenant(v.tenant);
    for (const std::string& pool : v.pools) request.add_pools(pool);
    v1::ResourceProfile& profile = *request.add_profiles();
    profile.set_id(0);
    profile.set_cores(v.cores);
    profile.set_heap_mib(v.memory_mib);
    profile.set_overhead_mib(v.overhead_mib);
    v1::LaunchSpec& launch = *request.mutable_launch();
    launch.set_image(v.image);
    if (!v.command.empty()) {
      launch.add_command(v.command.front());
      for (auto arg = v.command.begin() + 1; arg != v.command.end(); ++arg) launch.add_args(*arg);
    }
    put_key_values(v.env, *launch.mutable_env());
    put_key_values(v.labels, *launch.mutable_labels());
    if (!v.driver_url.empty()) request.mutable_driver()->set_url(v.driver_url);
    request.set_lease_ttl_seconds(v.lease_ttl_seconds);
    v.invocation.request = std::move(request);
  });

  CLI::App* get = add_command(*application, "get",
                              "Show an application: phase, lease, profiles, targets and counts");
  add_app_id(*get, v.app_id);
  get->callback([&v] {
    v1::GetApplicationRequest request;
    request.set_app_id(v.app_id);
    v.invocation.request = std::move(request);
  });

  CLI::App* unregister = add_command(*application, "unregister",
                                     "End an application; its executors are killed");
  add_app_id(*unregister, v.app_id);
  unregister->add_option("--reason", v.reason, "Why, recorded as the application's end reason");
  unregister->callback([&v] {
    v1::UnregisterApplicationRequest request;
    request.set_app_id(v.app_id);
    request.set_reason(v.reason);
    v.invocation.request = std::move(request);
  });

  CLI::App* keepalive = add_command(*application, "keepalive",
                                    "Renew an application's lease once and print the new deadline");
  add_app_id(*keepalive, v.app_id);
  keepalive->callback([&v] {
    v1::KeepAliveRequest request;
    request.set_app_id(v.app_id);
    v.invocation.request = std::move(request);
  });

  // Executor commands (Executors service).
  CLI::App* target = add_command(app, "target",
                                 "Set the absolute number of executors an application wants for "
                                 "one profile");
  add_app_id(*target, v.app_id);
  target->add_option("N", v.total, "Desired total of executors")
      ->required()
      ->check(whole_number(0, "the target (N)"));
  target->add_option("--profile", v.profile_id, "Resource profile id")
      ->check(whole_number(0, "--profile"))
      ->capture_default_str();
  target->callback([&v] {
    v1::RequestTotalExecutorsRequest request;
    request.set_app_id(v.app_id);
    (*request.mutable_totals())[v.profile_id] = v.total;
    v.invocation.request = std::move(request);
  });

  CLI::App* executors = add_command(app, "executors", "List an application's executors");
  add_app_id(*executors, v.app_id);
  add_repeated(*executors, "--state", v.states,
               "Only executors in this state; repeatable or comma-separated (default: all)")
      ->delimiter(',')
      ->check(executor_state_validator())
      ->type_name("STATE");
  executors->callback([&v] {
    v1::ListExecutorsRequest request;
    request.set_app_id(v.app_id);
    for (const std::string& name : v.states) {
      auto state = parse_executor_state(name);
      if (!state) throw CLI::ValidationError("unknown executor state '" + name + "'");
      request.add_states(*state);
    }
    v.invocation.request = std::move(request);
  });

  CLI::App* kill = add_command(app, "kill", "Kill executors by id");
  add_app_id(*kill, v.app_id);
  add_executor_ids(*kill, v.executor_ids);
  kill->add_flag("--no-adjust-target", v.keep_target,
                 "Keep the target, so the killed executors are replaced (default: lower the "
                 "target by the executors killed, as Spark does)");
  kill->add_flag("--force", v.force, "Kill at once, without a grace period");
  kill->callback([&v] {
    v1::KillExecutorsRequest request;
    request.set_app_id(v.app_id);
    for (std::int64_t id : v.executor_ids) request.add_executor_ids(id);
    request.set_adjust_target(!v.keep_target);
    request.set_force(v.force);
    v.invocation.request = std::move(request);
  });

  CLI::App* decommission = add_command(app, "decommission",
                                       "Decommission executors gracefully, then kill them");
  add_app_id(*decommission, v.app_id);
  add_executor_ids(*decommission, v.executor_ids);
  decommission->add_option("--grace", v.grace_seconds,
                           "Seconds before a forced kill (default 0: the daemon's default)")
      ->check(whole_number(0, "--grace"));
  decommission->add_flag("--no-adjust-target", v.keep_target,
                         "Keep the target, so the executors are replaced (default: lower it)");
  decommission->callback([&v] {
    v1::DecommissionExecutorsRequest request;
    request.set_app_id(v.app_id);
    for (std::int64_t id : v.executor_ids) request.add_executor_ids(id);
    request.set_grace_seconds(v.grace_seconds);
    request.set_adjust_target(!v.keep_target);
    v.invocation.request = std::move(request);
  });

  CLI::App* watch = add_command(app, "watch",
                                "Stream lifecycle events, one line each, until interrupted "
                                "(Ctrl-C) or --count live events");
  watch->footer(std::string("First a snapshot of now (ending with SYNCED), or with --from the events after that\n"
                            "revision, then live changes. An APPLICATION line's running and pending counts are\n"
                            "those at its revision.\n\n") +
                kSubcommandFooter);
  watch->add_option("APP", v.app_id, "Only this application's events (default: all you may see)");
  watch->add_option("--from", v.from_revision,
                    "Replay events after this revision (default 0: a snapshot of now, then "
                    "changes)")
      ->check(whole_number(0, "--from"));
  watch->add_option("--count", v.max_events,
                    "Exit after this many live events: those after the snapshot (with --from, "
                    "those after that revision); default 0: no limit")
      ->check(whole_number(0, "--count"));
  watch->add_flag("--until-synced", v.until_synced,
                  "Exit at the end of the snapshot (SYNCED): the current state as events");
  watch->callback([&v] {
    WatchEvents watch_events;
    watch_events.request.set_app_id(v.app_id);
    watch_events.request.set_from_revision(v.from_revision);
    watch_events.max_events = v.max_events;
    watch_events.until_synced = v.until_synced;
    v.invocation.request = std::move(watch_events);
  });
}

CommandLine::~CommandLine() = default;

CLI::App& CommandLine::app() { return *app_; }

namespace {

// The commands `app` offers, as "a, b, c".
std::string command_names(CLI::App& app) {
  std::string names;
  for (const CLI::App* command : app.get_subcommands({})) {
    names += (names.empty() ? "" : ", ") + command->get_name();
  }
  return names;
}

// CLI11 says only "A subcommand is required" when the command word is unknown: find the first
// word that is neither an option, an option's value nor a known command, and name it.
void check_command_words(CLI::App& root, int argc, const char* const* argv) {
  CLI::App* level = &root;
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--") return;
    if (word.size() > 1 && word[0] == '-') {
      if (word.find('=') != std::string::npos) continue;
      // An option that takes a value consumes the next word.
      for (CLI::App* app = level; app != nullptr; app = app->get_parent()) {
        const CLI::Option* option = app->get_option_no_throw(word);
        if (option == nullptr) continue;
        if (option->get_type_size_max() > 0) ++i;
        break;
      }
      continue;
    }
    if (level->get_subcommands({}).empty()) return;  // a positional of the command
    CLI::App* next = nullptr;
    for (CLI::App* command : level->get_subcommands({})) {
      if (command->check_name(word)) next = command;
    }
    if (next == nullptr) {
      const std::string after = level == &root ? "" : " after '" + level->get_name() + "'";
      throw CLI::ExtrasError("unknown command '" + word + "'" + after + "; the commands are: " + command_names(*level),
                             CLI::ExitCodes::ExtrasError);
    }
    level = next;
  }
}

// CLI11 puts the option's name before a validator's message; ours name it already.
CLI::ValidationError tidy(const CLI::ValidationError& error) {
  std::string message = error.what();
  const std::size_t colon = message.find(": ");
  if (colon != std::string::npos && (message.find(" must be ", colon) != std::string::npos ||
                                     message.find(" is too large: ", colon) != std::string::npos)) {
    message.erase(0, colon + 2);
  }
  return CLI::ValidationError(message);
}

}  // namespace

Invocation CommandLine::parse(int argc, const char* const* argv) {
  check_command_words(*app_, argc, argv);
  try {
    app_->parse(argc, argv);
  } catch (const CLI::ValidationError& error) {
    throw tidy(error);
  }
  values_->invocation.output =
      values_->output == "json" ? OutputFormat::kJson : OutputFormat::kTable;
  ConnectionOptions& connection = values_->invocation.connection;
  connection.address_source = AddressSource::kDefault;
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (word == "--") break;
    if (word == "--addr" || word.rfind("--addr=", 0) == 0) connection.address_source = AddressSource::kOption;
  }
  if (connection.address_source == AddressSource::kDefault && std::getenv("BERTH_ADDR") != nullptr) {
    connection.address_source = AddressSource::kEnvironment;
  }
  connection.tls = values_->tls || !connection.ca_file.empty() || !connection.cert_file.empty();
  return values_->invocation;
}

Invocation CommandLine::parse(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"berthctl"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  return parse(static_cast<int>(argv.size()), argv.data());
}

}  // namespace berth::cli
