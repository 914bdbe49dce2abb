// Unit tests of berthctl without a daemon: what each command line sends, and what each response
// prints as.
#include <cstdlib>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <catch2/catch.hpp>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/health_check.h"

namespace berth::cli {
namespace {

Invocation parse(const std::vector<std::string>& args) {
  CommandLine command_line;
  return command_line.parse(args);
}

template <class Request>
Request parse_request(const std::vector<std::string>& args) {
  Invocation invocation = parse(args);
  REQUIRE(std::holds_alternative<Request>(invocation.request));
  return std::get<Request>(invocation.request);
}

std::vector<std::string> strings(const google::protobuf::RepeatedPtrField<std::string>& field) {
  return {field.begin(), field.end()};
}

// A file that exists for the duration of a test, for options checked with CLI::ExistingFile.
class TempFile {
 public:
  TempFile() {
    char name[] = "/tmp/berthctl-test-XXXXXX";
    int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    close(fd);
    path_ = name;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

TEST_CASE("parse_key_value splits at the first equals sign") {
  CHECK(parse_key_value("K=V") == std::make_pair(std::string("K"), std::string("V")));
  CHECK(parse_key_value("K=") == std::make_pair(std::string("K"), std::string()));
  CHECK(parse_key_value("JAVA_OPTS=-Da=b") ==
        std::make_pair(std::string("JAVA_OPTS"), std::string("-Da=b")));
  CHECK_FALSE(parse_key_value("KV"));
  CHECK_FALSE(parse_key_value("=V"));
  CHECK_FALSE(parse_key_value(""));
}

TEST_CASE("parse_executor_state accepts names in any case and rejects UNSPECIFIED") {
  CHECK(parse_executor_state("RUNNING") == v1::RUNNING);
  CHECK(parse_executor_state("launch_failed") == v1::LAUNCH_FAILED);
  CHECK_FALSE(parse_executor_state("EXECUTOR_STATE_UNSPECIFIED"));
  CHECK_FALSE(parse_executor_state("SLEEPING"));
}

TEST_CASE("app register builds profile 0, the launch spec and the driver from its options") {
  auto request = parse_request<v1::RegisterApplicationRequest>(
      {"app", "register", "spark-1", "--pool", "k8s-a", "--pool", "nomad-b", "--tenant", "team",
       "--cores", "4", "--memory", "8192", "--overhead", "1024", "--lease-ttl", "30",
       "--driver-url", "spark://CoarseGrainedScheduler@10.0.0.1:7078", "--env", "A=1", "--env",
       "JAVA_OPTS=-Dx=y", "--label", "team=data", "--image", "spark:3.5", "--", "/bin/sh", "-c",
       "exec executor --cores 4"});
  CHECK(request.app_id() == "spark-1");
  CHECK(request.tenant() == "team");
  CHECK(strings(request.pools()) == std::vector<std::string>{"k8s-a", "nomad-b"});
  REQUIRE(request.profiles_size() == 1);
  CHECK(request.profiles(0).id() == 0);
  CHECK(request.profiles(0).cores() == 4);
  CHECK(request.profiles(0).heap_mib() == 8192);
  CHECK(request.profiles(0).overhead_mib() == 1024);
  CHECK(request.lease_ttl_seconds() == 30);
  CHECK(request.driver().url() == "spark://CoarseGrainedScheduler@10.0.0.1:7078");
  const v1::LaunchSpec& launch = request.launch();
  CHECK(launch.image() == "spark:3.5");
  CHECK(strings(launch.command()) == std::vector<std::string>{"/bin/sh"});
  CHECK(strings(launch.args()) == std::vector<std::string>{"-c", "exec executor --cores 4"});
  CHECK(launch.env().size() == 2);
  CHECK(launch.env().at("A") == "1");
  CHECK(launch.env().at("JAVA_OPTS") == "-Dx=y");
  CHECK(launch.labels().at("team") == "data");
}

TEST_CASE("app register defaults: 1 core, 1024 MiB, no lease, no command") {
  auto request = parse_request<v1::RegisterApplicationRequest>({"app", "register", "a1"});
  CHECK(request.pools_size() == 0);
  REQUIRE(request.profiles_size() == 1);
  CHECK(request.profiles(0).cores() == 1);
  CHECK(request.profiles(0).heap_mib() == 1024);
  CHECK(request.profiles(0).overhead_mib() == 0);
  CHECK(request.lease_ttl_seconds() == 0);
  CHECK(request.launch().command_size() == 0);
  CHECK(request.launch().args_size() == 0);
  CHECK_FALSE(request.has_driver());
}

TEST_CASE("app register: a command without -- still works, and a repeated env key keeps the last") {
  auto request = parse_request<v1::RegisterApplicationRequest>(
      {"app", "register", "a1", "sleep", "100", "--env", "A=1", "--env", "A=2"});
  CHECK(strings(request.launch().command()) == std::vector<std::string>{"sleep"});
  CHECK(strings(request.launch().args()) == std::vector<std::string>{"100"});
  CHECK(request.launch().env().at("A") == "2");
}

TEST_CASE("app register: --pool takes one value per occurrence and never swallows the APP positional") {
  auto request =
      parse_request<v1::RegisterApplicationRequest>({"app", "register", "--pool", "p1", "a1"});
  CHECK(request.app_id() == "a1");
  CHECK(strings(request.pools()) == std::vector<std::string>{"p1"});
}

TEST_CASE("app register rejects a malformed KEY=VALUE") {
  CHECK_THROWS_AS(parse({"app", "register", "a1", "--env", "NOVALUE"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"app", "register", "a1", "--label", "=v"}), CLI::ValidationError);
  CHECK_THROWS_WITH(parse({"app", "register", "a1", "--env", "NOVALUE"}),
                    Catch::Contains("expected KEY=VALUE") && Catch::Contains("NOVALUE"));
}

TEST_CASE("app register rejects non-positive cores and memory") {
  CHECK_THROWS_AS(parse({"app", "register", "a1", "--cores", "0"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"app", "register", "a1", "--memory", "-1"}), CLI::ParseError);
  CHECK_THROWS_AS(parse({"app", "register", "a1", "--cores", "two"}), CLI::ParseError);
}

TEST_CASE("numbers out of range get a human message naming the option, not CLI11's bounds") {
  CHECK_THROWS_WITH(parse({"app", "register", "a1", "--cores", "0"}), "--cores must be at least 1, got 0");
  CHECK_THROWS_WITH(parse({"app", "register", "a1", "--cores", "two"}), "--cores must be a whole number, got 'two'");
  CHECK_THROWS_WITH(parse({"app", "register", "a1", "--memory", "-1"}), "--memory must be at least 1, got -1");
  CHECK_THROWS_WITH(parse({"target", "a1", "-1"}), "the target (N) must be at least 0, got -1");
  CHECK_THROWS_WITH(parse({"kill", "a1", "x"}), "executor ids must be a whole number, got 'x'");
  CHECK_THROWS_WITH(parse({"kill", "a1", "2", "0"}), "executor ids must be at least 1, got 0");
  CHECK_THROWS_WITH(parse({"decommission", "a1", "1", "--grace", "-5"}), "--grace must be at least 0, got -5");
  CHECK_THROWS_WITH(parse({"--timeout", "soon", "status"}), "--timeout must be a number of seconds, got 'soon'");
  CHECK_THROWS_WITH(parse({"watch", "--count", "x"}), "--count must be a whole number, got 'x'");
  CHECK_THROWS_WITH(parse({"target", "a1", "99999999999999999999"}), "the target (N) is too large: 99999999999999999999");
  // Still accepted at the bounds.
  CHECK(parse_request<v1::RequestTotalExecutorsRequest>({"target", "a1", "0"}).totals().at(0) == 0);
  CHECK(parse_request<v1::KillExecutorsRequest>({"kill", "a1", "1"}).executor_ids(0) == 1);
}

TEST_CASE("app get, unregister and keepalive name the application") {
  CHECK(parse_request<v1::GetApplicationRequest>({"app", "get", "a1"}).app_id() == "a1");
  auto unregister =
      parse_request<v1::UnregisterApplicationRequest>({"app", "unregister", "a1", "--reason", "done"});
  CHECK(unregister.app_id() == "a1");
  CHECK(unregister.reason() == "done");
  CHECK(parse_request<v1::KeepAliveRequest>({"app", "keepalive", "a1"}).app_id() == "a1");
  CHECK_THROWS_AS(parse({"app", "get"}), CLI::RequiredError);
  CHECK_THROWS_AS(parse({"app"}), CLI::RequiredError);
}

TEST_CASE("target sets an absolute total for one profile") {
  auto request = parse_request<v1::RequestTotalExecutorsRequest>({"target", "a1", "5"});
  CHECK(request.app_id() == "a1");
  REQUIRE(request.totals().size() == 1);
  CHECK(request.totals().at(0) == 5);

  request = parse_request<v1::RequestTotalExecutorsRequest>({"target", "a1", "0", "--profile", "3"});
  REQUIRE(request.totals().size() == 1);
  CHECK(request.totals().at(3) == 0);
  CHECK_THROWS_AS(parse({"target", "a1", "-1"}), CLI::ParseError);
  CHECK_THROWS_AS(parse({"target", "a1"}), CLI::RequiredError);
}

TEST_CASE("kill lowers the target by default, like Spark's killExecutors") {
  auto request = parse_request<v1::KillExecutorsRequest>({"kill", "a1", "3", "4"});
  CHECK(request.app_id() == "a1");
  CHECK(std::vector<std::int64_t>(request.executor_ids().begin(), request.executor_ids().end()) ==
        std::vector<std::int64_t>{3, 4});
  CHECK(request.adjust_target());
  CHECK_FALSE(request.force());

  request = parse_request<v1::KillExecutorsRequest>(
      {"kill", "a1", "7", "--no-adjust-target", "--force"});
  CHECK_FALSE(request.adjust_target());
  CHECK(request.force());
  CHECK_THROWS_AS(parse({"kill", "a1"}), CLI::RequiredError);
  CHECK_THROWS_AS(parse({"kill", "a1", "0"}), CLI::ValidationError);
}

TEST_CASE("decommission carries the grace period and adjust_target") {
  auto request = parse_request<v1::DecommissionExecutorsRequest>(
      {"decommission", "a1", "2", "--grace", "60"});
  CHECK(request.executor_ids_size() == 1);
  CHECK(request.executor_ids(0) == 2);
  CHECK(request.grace_seconds() == 60);
  CHECK(request.adjust_target());
  request = parse_request<v1::DecommissionExecutorsRequest>(
      {"decommission", "a1", "2", "--no-adjust-target"});
  CHECK_FALSE(request.adjust_target());
  CHECK(request.grace_seconds() == 0);
}

TEST_CASE("executors filters by states given repeated or comma-separated") {
  auto request = parse_request<v1::ListExecutorsRequest>(
      {"executors", "a1", "--state", "RUNNING,pending", "--state", "LOST"});
  CHECK(request.app_id() == "a1");
  REQUIRE(request.states_size() == 3);
  CHECK(request.states(0) == v1::RUNNING);
  CHECK(request.states(1) == v1::PENDING);
  CHECK(request.states(2) == v1::LOST);
  CHECK(parse_request<v1::ListExecutorsRequest>({"executors", "a1"}).states_size() == 0);
  CHECK_THROWS_WITH(parse({"executors", "a1", "--state", "SLEEPING"}),
                    Catch::Contains("unknown executor state 'SLEEPING'"));
}

TEST_CASE("operator commands") {
  CHECK(std::holds_alternative<v1::StatusRequest>(parse({"status"}).request));
  CHECK(std::holds_alternative<v1::ListPoolsRequest>(parse({"pools"}).request));
  CHECK(parse_request<v1::ListApplicationsRequest>({"apps"}).tenant().empty());
  CHECK(parse_request<v1::ListApplicationsRequest>({"apps", "--tenant", "t1"}).tenant() == "t1");
  auto drain = parse_request<v1::DrainPoolRequest>({"drain", "k8s-a"});
  CHECK(drain.pool() == "k8s-a");
  CHECK_FALSE(drain.undrain());
  CHECK(parse_request<v1::DrainPoolRequest>({"drain", "k8s-a", "--undo"}).undrain());
  CHECK(parse_request<HealthCheck>({"health"}).service.empty());
  CHECK(parse_request<HealthCheck>({"health", "--service", "berth.v1.Executors"}).service ==
        "berth.v1.Executors");
}

TEST_CASE("watch takes an optional application, a start revision and a count") {
  auto watch = parse_request<WatchEvents>({"watch"});
  CHECK(watch.request.app_id().empty());
  CHECK(watch.request.from_revision() == 0);
  CHECK(watch.max_events == 0);
  watch = parse_request<WatchEvents>({"watch", "a1", "--from", "42", "--count", "3"});
  CHECK(watch.request.app_id() == "a1");
  CHECK(watch.request.from_revision() == 42);
  CHECK(watch.max_events == 3);
}

TEST_CASE("watch --until-synced ends at the snapshot's end") {
  CHECK(parse_request<WatchEvents>({"watch", "a1", "--until-synced"}).until_synced);
  CHECK_FALSE(parse_request<WatchEvents>({"watch", "a1"}).until_synced);
}

TEST_CASE("global options before or after the command") {
  Invocation defaults = parse({"pools"});
  CHECK(defaults.connection.address == "127.0.0.1:7433");
  CHECK(defaults.output == OutputFormat::kTable);
  CHECK(defaults.connection.timeout_seconds == 10);
  CHECK_FALSE(defaults.connection.tls);

  Invocation before = parse({"--addr", "h:1", "-o", "json", "--timeout", "2.5", "pools"});
  CHECK(before.connection.address == "h:1");
  CHECK(before.output == OutputFormat::kJson);
  CHECK(before.connection.timeout_seconds == 2.5);

  Invocation after = parse({"app", "get", "a1", "--addr", "h:2", "--output", "JSON"});
  CHECK(after.connection.address == "h:2");
  CHECK(after.output == OutputFormat::kJson);

  CHECK_THROWS_AS(parse({"-o", "yaml", "pools"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--timeout", "-1", "pools"}), CLI::ValidationError);
}

TEST_CASE("BERTH_ADDR sets the address unless --addr is given") {
  setenv("BERTH_ADDR", "env-host:9", 1);
  CHECK(parse({"status"}).connection.address == "env-host:9");
  CHECK(parse({"status"}).connection.address_source == AddressSource::kEnvironment);
  CHECK(parse({"status", "--addr", "flag-host:1"}).connection.address == "flag-host:1");
  CHECK(parse({"status", "--addr", "flag-host:1"}).connection.address_source == AddressSource::kOption);
  unsetenv("BERTH_ADDR");
  CHECK(parse({"status"}).connection.address_source == AddressSource::kDefault);
}

TEST_CASE("TLS options") {
  TempFile ca, cert, key;
  Invocation tls = parse({"--ca-file", ca.path(), "--cert-file", cert.path(), "--key-file",
                          key.path(), "--server-name", "berthd.example", "status"});
  CHECK(tls.connection.tls);
  CHECK(tls.connection.ca_file == ca.path());
  CHECK(tls.connection.cert_file == cert.path());
  CHECK(tls.connection.key_file == key.path());
  CHECK(tls.connection.server_name == "berthd.example");
  CHECK(parse({"--tls", "status"}).connection.tls);
  CHECK_THROWS_AS(parse({"--cert-file", cert.path(), "status"}), CLI::RequiresError);
  CHECK_THROWS_AS(parse({"--ca-file", "/nonexistent/ca.pem", "status"}), CLI::ValidationError);
}

TEST_CASE("usage errors and help") {
  CHECK_THROWS_AS(parse({}), CLI::RequiredError);
  CHECK_THROWS_AS(parse({"frobnicate"}), CLI::ParseError);
  CHECK_THROWS_WITH(parse({"frobnicate"}),
                    "unknown command 'frobnicate'; the commands are: health, status, pools, apps, drain, app, "
                    "target, executors, kill, decommission, watch");
  CHECK_THROWS_WITH(parse({"--addr", "h:1", "-o", "json", "frobnicate", "x"}),
                    Catch::StartsWith("unknown command 'frobnicate';"));
  CHECK_THROWS_WITH(parse({"app", "frobnicate"}),
                    "unknown command 'frobnicate' after 'app'; the commands are: register, get, unregister, keepalive");
  // A command's own positionals and values are not commands.
  CHECK(parse_request<v1::DrainPoolRequest>({"--addr", "h:1", "drain", "frobnicate"}).pool() == "frobnicate");
  CHECK_THROWS_AS(parse({"--help"}), CLI::CallForHelp);
  CHECK_THROWS_AS(parse({"kill", "--help"}), CLI::CallForHelp);
  CommandLine command_line;
  std::string help = command_line.app().help();
  for (const char* command : {"health", "status", "pools", "apps", "drain", "app", "target",
                              "executors", "kill", "decommission", "watch"}) {
    CHECK_THAT(help, Catch::Contains(command));
  }
}

TEST_CASE("Table aligns columns, prints empty cells as '-' and leaves no trailing blanks") {
  Table table({"ID", "STATE", "HOST"});
  table.add_row({"1", "RUNNING", "node-a"});
  table.add_row({"12", "PENDING", ""});
  CHECK(table.render() ==
        "ID   STATE     HOST\n"
        "1    RUNNING   node-a\n"
        "12   PENDING   -\n");
}

TEST_CASE("executors table") {
  v1::ListExecutorsResponse response;
  v1::Executor& running = *response.add_executors();
  running.set_executor_id(1);
  running.set_state(v1::RUNNING);
  running.set_pool("local");
  running.set_host("h1");
  running.set_backend_name("a1-exec-1");
  v1::Executor& failed = *response.add_executors();
  failed.set_executor_id(2);
  failed.set_profile_id(1);
  failed.set_state(v1::FAILED);
  failed.set_pool("k8s");
  failed.set_exit_code(137);
  failed.set_has_exit_code(true);
  failed.mutable_loss()->set_reason("oom_killed");
  failed.set_backend_name("a1-exec-2");
  CHECK(render_table(response) ==
        "ID   PROFILE   STATE     POOL    HOST   EXIT   REASON       BACKEND NAME   MESSAGE\n"
        "1    0         RUNNING   local   h1     -      -            a1-exec-1      -\n"
        "2    1         FAILED    k8s     -      137    oom_killed   a1-exec-2      -\n");
}

TEST_CASE("executors table shows why a launch failed") {
  v1::ListExecutorsResponse response;
  v1::Executor& refused = *response.add_executors();
  refused.set_executor_id(1);
  refused.set_state(v1::LAUNCH_FAILED);
  refused.set_pool("local");
  refused.mutable_loss()->set_reason("launch_failed");
  refused.mutable_loss()->set_message("cannot run /opt/spark/bin/spark-class:\nno such file");
  refused.set_backend_name("berth-a1-exec-1");
  CHECK(render_table(response) ==
        "ID   PROFILE   STATE           POOL    HOST   EXIT   REASON          BACKEND NAME      MESSAGE\n"
        "1    0         LAUNCH_FAILED   local   -      -      launch_failed   berth-a1-exec-1   "
        "cannot run /opt/spark/bin/spark-class: no such file\n");
}

TEST_CASE("applications table sums targets and counts over profiles") {
  v1::ListApplicationsResponse response;
  v1::Application& app = *response.add_applications();
  app.set_app_id("a1");
  app.set_tenant("t1");
  app.set_phase(v1::ACTIVE);
  app.add_pools("k8s");
  app.add_pools("nomad");
  for (int profile = 0; profile < 2; ++profile) {
    v1::ProfileStatus& status = *app.add_profile_status();
    status.set_profile_id(profile);
    status.set_target(3);
    (*status.mutable_counts())["RUNNING"] = 2;
    (*status.mutable_counts())["REQUESTED"] = 1;
  }
  app.add_conditions("QUOTA_EXCEEDED: cpu");
  std::string table = render_table(response);
  CHECK(table ==
        "APP   TENANT   PHASE    TARGET   RUNNING   PENDING   POOLS       LEASE DEADLINE   CONDITIONS\n"
        "a1    t1       ACTIVE   6        4         2         k8s,nomad   -                QUOTA_EXCEEDED: cpu\n");
}

TEST_CASE("application description lists profiles with their counts in lifecycle order") {
  v1::Application app;
  app.set_app_id("a1");
  app.set_phase(v1::ORPHANED);
  app.set_lease_ttl_seconds(30);
  app.mutable_lease_deadline()->set_seconds(1714564800);
  app.mutable_launch()->add_command("sleep");
  app.mutable_launch()->add_args("100");
  app.mutable_launch()->add_args("it's here");
  v1::ResourceProfile& profile = *app.add_profiles();
  profile.set_cores(2);
  profile.set_heap_mib(2048);
  v1::CustomResource& gpu = *profile.add_resources();
  gpu.set_name("gpu");
  gpu.set_vendor("nvidia.com");
  gpu.set_amount(1);
  v1::ProfileStatus& status = *app.add_profile_status();
  status.set_target(2);
  (*status.mutable_counts())["RUNNING"] = 1;
  (*status.mutable_counts())["PENDING"] = 1;
  std::string text = render_table(app);
  CHECK_THAT(text, Catch::Contains("App:               a1\n"));
  CHECK_THAT(text, Catch::Contains("Phase:             ORPHANED\n"));
  CHECK_THAT(text, Catch::Contains("Command:           sleep 100 'it'\\''s here'\n"));
  CHECK_THAT(text, Catch::Contains("Lease TTL:         30s\n"));
  CHECK_THAT(text, Catch::Contains("Lease deadline:    2024-05-01T12:00:00Z\n"));
  CHECK_THAT(text, Catch::Contains("Tenant:            -\n"));
  CHECK_THAT(text,
             Catch::Contains("0         2       2048       auto           nvidia.com/gpu=1   2        "
                             "PENDING=1,RUNNING=1\n"));
}

TEST_CASE("kill and decommission results list every id") {
  v1::KillExecutorsResponse killed;
  killed.add_killed(3);
  killed.add_unknown(9);
  CHECK(render_table(killed) == "ID   RESULT\n3    killed\n9    unknown\n");
  v1::DecommissionExecutorsResponse decommissioned;
  decommissioned.add_accepted(4);
  CHECK(render_table(decommissioned) == "ID   RESULT\n4    decommissioning\n");
}

TEST_CASE("JSON uses protobuf's mapping: lowerCamelCase, enum names, 64-bit ints as strings") {
  v1::ListExecutorsResponse response;
  v1::Executor& executor = *response.add_executors();
  executor.set_app_id("a1");
  executor.set_executor_id(3);
  executor.set_state(v1::RUNNING);
  executor.set_backend_name("a1-exec-3");
  response.set_revision(7);
  std::string compact = to_json(response, /*pretty=*/false);
  CHECK(compact ==
        "{\"executors\":[{\"appId\":\"a1\",\"executorId\":\"3\",\"backendName\":\"a1-exec-3\","
        "\"state\":\"RUNNING\"}],\"revision\":\"7\"}\n");
  std::string pretty = to_json(response, /*pretty=*/true);
  CHECK_THAT(pretty, Catch::Contains("\"executorId\": \"3\""));
  CHECK(pretty.back() == '\n');
  CHECK(pretty.substr(0, pretty.size() - 1).find("\n\n") == std::string::npos);
}

TEST_CASE("watch lines: one per event, key=value, quoted when the value has blanks") {
  v1::Event event;
  event.set_type(v1::Event::EXECUTOR);
  event.set_revision(42);
  v1::Executor& executor = *event.mutable_executor();
  executor.set_app_id("a1");
  executor.set_executor_id(3);
  executor.set_state(v1::FAILED);
  executor.set_pool("local");
  executor.set_exit_code(1);
  executor.set_has_exit_code(true);
  executor.mutable_loss()->set_reason("exited");
  executor.set_backend_name("a1-exec-3");
  CHECK(render_event_line(event) ==
        "42 EXECUTOR app=a1 executor=3 profile=0 state=FAILED pool=local exit=1 reason=exited "
        "backend=a1-exec-3\n");

  v1::Event resync;
  resync.set_type(v1::Event::RESYNC);
  resync.set_revision(50);
  resync.set_message("revision 3 is\nno longer held");
  CHECK(render_event_line(resync) == "50 RESYNC message=\"revision 3 is no longer held\"\n");

  v1::Event app_event;
  app_event.set_type(v1::Event::APPLICATION);
  app_event.set_revision(51);
  app_event.mutable_application()->set_app_id("a1");
  app_event.mutable_application()->set_phase(v1::ENDED);
  app_event.mutable_application()->set_end_reason("unregistered");
  CHECK(render_event_line(app_event) ==
        "51 APPLICATION app=a1 phase=ENDED target=0 running=0 pending=0 end_reason=unregistered\n");
}

TEST_CASE("an unreachable daemon gets a hint: the address tried, where it came from, how to change it") {
  const std::string hint = unreachable_hint("127.0.0.1:7433", AddressSource::kDefault);
  CHECK_THAT(hint, Catch::StartsWith("berthctl: could not connect to berthd at 127.0.0.1:7433 (the default): "
                                     "is berthd running"));
  CHECK_THAT(hint, Catch::Contains("--addr") && Catch::Contains("BERTH_ADDR"));
  CHECK_THAT(unreachable_hint("h:1", AddressSource::kOption), Catch::Contains("at h:1 (from --addr)"));
  CHECK_THAT(unreachable_hint("h:1", AddressSource::kEnvironment), Catch::Contains("(from BERTH_ADDR)"));
  CHECK(parse({"--addr", "h:1", "status"}).connection.address_source == AddressSource::kOption);
  CHECK(parse({"status", "--addr=h:1"}).connection.address_source == AddressSource::kOption);
}

TEST_CASE("errors name the gRPC code") {
  CHECK(format_error(3, "app_id: must not be empty") ==
        "berthctl: INVALID_ARGUMENT: app_id: must not be empty");
  CHECK(format_error(14, "failed to connect") == "berthctl: UNAVAILABLE: failed to connect");
  CHECK(status_code_name(16) == "UNAUTHENTICATED");
  CHECK(status_code_name(99) == "CODE_99");
}

TEST_CASE("status, pools and health render") {
  v1::StatusResponse status;
  status.set_version("0.1.0");
  status.set_daemon_id("d1");
  status.set_serving(true);
  CHECK(render_table(status) ==
        "VERSION   DAEMON ID   STARTED   REVISION   APPLICATIONS   LIVE EXECUTORS   SERVING\n"
        "0.1.0     d1          -         0          0              0                yes\n");
  v1::ListPoolsResponse pools;
  v1::Pool& pool = *pools.add_pools();
  pool.set_name("local");
  pool.set_type("local");
  pool.set_healthy(true);
  pool.set_synced(true);
  pool.set_max_pending(10);
  (*pool.mutable_counts())["RUNNING"] = 3;
  (*pool.mutable_counts())["LAUNCHING"] = 2;
  CHECK_THAT(render_table(pools),
             Catch::StartsWith("POOL    TYPE    HEALTHY   SYNCED   DRAINING   RUNNING   PENDING   "
                               "MAX PENDING   BACKOFF UNTIL   LAST ERROR\n"
                               "local   local   yes       yes      no         3         2         "
                               "10            -               -\n"));
  CHECK(render_health("SERVING", OutputFormat::kTable) == "SERVING\n");
  CHECK(render_health("NOT_SERVING", OutputFormat::kJson) == "{\"status\":\"NOT_SERVING\"}\n");
}

TEST_CASE("health check wire format") {
  CHECK(encode_health_check_request("").empty());
  CHECK(encode_health_check_request("berth.v1.Executors") == std::string("\x0a\x12", 2) + "berth.v1.Executors");
  CHECK(decode_health_check_response("") == 0);
  CHECK(decode_health_check_response(std::string("\x08\x01", 2)) == kHealthServing);
  CHECK(decode_health_check_response(std::string("\x08\x02", 2)) == 2);
  CHECK(decode_health_check_response(std::string("\x10\x05\x08\x01", 4)) == 1);  // unknown field
  CHECK_FALSE(decode_health_check_response(std::string("\x08", 1)));               // truncated
  CHECK_FALSE(decode_health_check_response(std::string("\x0a\x01x", 3)));          // wrong type
  CHECK(health_status_name(1) == "SERVING");
  CHECK(health_status_name(3) == "SERVICE_UNKNOWN");
}

}  // namespace berth::cli
