// Conformance of MesosBackend against the Mesos master simulator (sim/mesos) over loopback: the
// shared conformance suite, then what is Mesos's own: fair placement between applications, suppressing
// offers when idle, agent loss, redirects from a standby and a leader change, basic
// authentication, a framework that survives a backend restart under its saved id, cancelling a
// launch no offer fits, excluding an agent where executors keep failing, and suppression that
// never leaves launches waiting (a refused REVIVE, a restart, a master that lost a REVIVE), nor
// does an offer whose ACCEPT or DECLINE was refused.

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "adapters/mesos/mesos_backend.h"
#include "adapters/testing/conformance.h"
#include "adapters/testing/sim_requests.h"
#include "net/http_client.h"
#include "sim/mesos/simulator.h"

// Options are written as designated initializers naming only what a test sets; gcc 12 warns
// about the fields left to their defaults, clang does not.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace berth {
namespace {

using namespace std::chrono_literals;
using conformance::BackendHarness;
using conformance::eventually;
namespace json = boost::json;

// The simulator on its own thread, an administration client, and what a pool's framework id
// store would keep.
class MesosSim {
 public:
  explicit MesosSim(sim::mesos::SimulatorOptions options = {}) : simulator_(io_.executor(), adjust(std::move(options))) {
    REQUIRE(simulator_.start().ok());
    net::HttpClientOptions client;
    client.base_url = "http://" + simulator_.address();
    admin_ = std::make_unique<net::HttpClient>(io_.executor(), client);
    REQUIRE(admin_->init().ok());
  }

  ~MesosSim() {
    admin_.reset();
    simulator_.stop();
    io_.stop();
  }

  void set_basic(const std::string& encoded) { admin_->set_default_header("authorization", "Basic " + encoded); }

  MesosPoolConfig config() const {
    MesosPoolConfig config;
    config.masters = {"http://" + simulator_.address()};
    config.user = "spark";
    config.refuse = 1s;
    config.retry_max_backoff = 300ms;
    config.request_timeout = 5s;
    config.kill_grace = 1s;
    return config;
  }

  std::string address() const { return simulator_.address(); }
  std::string standby() const { return simulator_.standby_address(); }

  json::value admin(const std::string& method, const std::string& target, const std::string& body = "") {
    std::promise<StatusOr<net::HttpResponse>> result;
    net::HttpClientRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    if (!body.empty()) request.headers["content-type"] = "application/json";
    admin_->request(request, [&](StatusOr<net::HttpResponse> r) { result.set_value(std::move(r)); });
    auto future = result.get_future();
    REQUIRE(future.wait_for(20s) == std::future_status::ready);
    auto response = future.get();
    REQUIRE(response.ok());
    INFO(target << " -> " << response->status << " " << response->body);
    REQUIRE(response->status < 300);
    boost::system::error_code ec;
    json::value value = json::parse(response->body, ec);
    return ec ? json::value() : value;
  }

  json::object state() { return admin("GET", "/sim/state").as_object(); }

  // The (only) framework as the master sees it; null before it registers.
  const json::object* framework() {
    state_ = state();
    const auto& frameworks = state_.at("frameworks").as_array();
    return frameworks.empty() ? nullptr : &frameworks[0].as_object();
  }

  // The master sends the framework no offers: its roles are suppressed and none is outstanding.
  bool suppressed() {
    const json::object* framework = this->framework();
    return framework != nullptr && framework->at("subscribed").as_bool() &&
           !framework->at("suppressed_roles").as_array().empty() &&
           framework->at("outstanding_offers").to_number<int>() == 0;
  }

  // Scheduler calls of `type` (REVIVE, SUPPRESS, ...) served since start or the last reset.
  int calls(const std::string& type) {
    const auto counts = conformance::executor_route_counts(
        json::serialize(admin("GET", "/sim/requests")),
        [&](const std::string&, const std::string& route) { return route == "/api/v1/scheduler " + type; });
    return counts.empty() ? 0 : counts.begin()->second;
  }

  void fault(const std::string& body) { admin("POST", "/sim/faults", body); }

  // A call of `type` (no payload) on the framework's current subscription, sent by someone else
  // than the backend: what a late call of its own, overtaking a newer one, would do.
  void call_behind_its_back(const std::string& type) {
    const json::object* framework = this->framework();
    REQUIRE(framework != nullptr);
    const std::string framework_id(framework->at("id").as_string());
    const std::string stream_id(framework->at("stream_id").as_string());
    std::promise<StatusOr<net::HttpResponse>> result;
    net::HttpClientRequest request;
    request.method = "POST";
    request.target = "/api/v1/scheduler";
    request.headers["content-type"] = "application/json";
    request.headers["mesos-stream-id"] = stream_id;
    request.body = json::serialize(json::object{{"framework_id", json::object{{"value", framework_id}}}, {"type", type}});
    admin_->request(request, [&](StatusOr<net::HttpResponse> r) { result.set_value(std::move(r)); });
    auto future = result.get_future();
    REQUIRE(future.wait_for(20s) == std::future_status::ready);
    auto response = future.get();
    REQUIRE(response.ok());
    REQUIRE(response->status == 202);
  }

  const json::object* task(const std::string& id) {
    state_ = state();
    for (const auto& item : state_.at("tasks").as_array()) {
      if (item.at("id") == id.c_str()) return &item.as_object();
    }
    return nullptr;
  }

  // What berthd's store keeps for the pool: the framework id across backend restarts.
  SaveFrameworkId saver() {
    return [this](const std::string& id, std::function<void(Status)> done) {
      {
        std::lock_guard lock(mutex_);
        saved_ = id;
        ++saves_;
      }
      done(Status::Ok());
    };
  }
  std::string saved() {
    std::lock_guard lock(mutex_);
    return saved_;
  }
  int saves() {
    std::lock_guard lock(mutex_);
    return saves_;
  }

  conformance::ConformanceTarget target(std::function<void(MesosPoolConfig&)> adjust = {}) {
    conformance::ConformanceTarget target;
    target.pool = "mesos";
    MesosPoolConfig config = this->config();
    if (adjust) adjust(config);
    target.make_backend = [this, config](boost::asio::any_io_executor strand) {
      return std::make_unique<MesosBackend>(strand, "mesos", config, "edge-1", "berth", saved(), saver());
    };
    target.exit_executor = [this](const std::string& name, int code, bool oom) {
      admin("POST", "/sim/tasks/" + name + "/exit",
            json::serialize(json::object{{"code", code}, {"oom", oom}}));
    };
    target.outage = [this](std::chrono::milliseconds duration) {
      admin("POST", "/sim/faults", json::serialize(json::object{{"down_for_ms", duration.count()}}));
    };
    target.name = "mesos";
    // Another daemon is another framework: its tasks are not this framework's to see.
    target.make_other_backend = [config](boost::asio::any_io_executor strand) {
      return std::make_unique<MesosBackend>(strand, "mesos", config, conformance::ConformanceTarget::kOtherDaemon,
                                            "other", "", [](const std::string&, std::function<void(Status)> done) {
                                              done(Status::Ok());
                                            });
    };
    target.ignore_sigterm = [](LaunchRequest& request) {
      request.spec.annotations["sim.berth.dev/shutdown-delay"] = "1h";
    };
    target.reset_requests = [this] { admin("POST", "/sim/requests/reset"); };
    target.executor_requests = [this] {
      return conformance::executor_route_counts(
          json::serialize(admin("GET", "/sim/requests")), [](const std::string&, const std::string& route) {
            return route == "/api/v1/scheduler ACCEPT" || route == "/api/v1/scheduler KILL";
          });
    };
    target.skip_reasons["unlabelled"] = "a Mesos task exists only inside a framework; there is no unlabelled task to make";
    target.skip_reasons["invalid"] =
        "Mesos refuses an invalid task after the ACCEPT (TASK_ERROR), so it reaches core as an observation, not "
        "as the launch's status";
    target.skip_reasons["quota"] = "Mesos quotas hold offers back; they never refuse a launch";
    target.fail_next_launch = [this] {
      admin("POST", "/sim/faults", json::serialize(json::object{{"fail_next", json::object{{"ACCEPT", 1}}}, {"error_code", 503}}));
    };
    return target;
  }

 private:
  sim::mesos::SimulatorOptions adjust(sim::mesos::SimulatorOptions options) {
    options.time_scale = options.time_scale == 1.0 ? 10.0 : options.time_scale;
    options.heartbeat_interval = 500ms;
    return options;
  }

  conformance::IoThread io_;
  sim::mesos::Simulator simulator_;
  std::unique_ptr<net::HttpClient> admin_;
  json::object state_;
  std::mutex mutex_;
  std::string saved_;
  int saves_ = 0;
};

struct MesosConformance {
  MesosSim sim;
  conformance::ConformanceTarget target_ = sim.target();
  conformance::ConformanceTarget& target() { return target_; }
};

BERTH_CONFORMANCE_SUITE("mesos", MesosConformance)

TEST_CASE("mesos: a restarted backend re-registers as the same framework and adopts its tasks") {
  MesosSim sim;
  auto target = sim.target();
  conformance::restart_adopts(target);
  const json::object state = sim.state();
  REQUIRE(state.at("frameworks").as_array().size() == 1);  // one framework, never a second
  CHECK(state.at("frameworks").as_array()[0].at("id") == sim.saved().c_str());
  CHECK(sim.saves() == 1);
}

TEST_CASE("mesos: two applications both progress when offers are scarce") {
  sim::mesos::SimulatorOptions options;
  options.agents = 0;  // the one agent comes once every launch is queued: one offer decides
  MesosSim sim(options);
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  std::vector<std::shared_future<Status>> launches;
  for (int i = 1; i <= 10; ++i) launches.push_back(harness.launch_async(target.request(i, "big")));
  for (int i = 1; i <= 2; ++i) launches.push_back(harness.launch_async(target.request(i, "small")));
  sim.admin("POST", "/sim/agents", R"({"hostname":"small-1","cpus":4,"mem":65536})");
  // Four cpus: both applications get executors although "big" asked first and for more.
  REQUIRE(eventually([&] {
    return harness.phase_is("berth-small-exec-1", ObservedPhase::kRunning) &&
           harness.phase_is("berth-small-exec-2", ObservedPhase::kRunning);
  }));
  int big_running = 0;
  for (int i = 1; i <= 10; ++i) big_running += harness.phase_is("berth-big-exec-" + std::to_string(i), ObservedPhase::kRunning);
  CHECK(big_running == 2);
  // Capacity freed by one of them lets the queue move on.
  REQUIRE(harness.kill("berth-small-exec-1").ok());
  REQUIRE(eventually([&] {
    int running = 0;
    for (int i = 1; i <= 10; ++i) running += harness.phase_is("berth-big-exec-" + std::to_string(i), ObservedPhase::kRunning);
    return running == 3;
  }));
}

TEST_CASE("mesos: offers are suppressed when nothing is pending and revived for a launch") {
  MesosSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  auto suppressed = [&] { return sim.suppressed(); };
  REQUIRE(eventually(suppressed));
  REQUIRE(harness.launch(target.request(1)).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning); }));
  REQUIRE(eventually(suppressed));
}

TEST_CASE("mesos: a lost agent makes its executors LOST with the host") {
  MesosSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  REQUIRE(harness.launch(target.request(1)).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning); }));
  const std::string agent(sim.task("berth-app-1-exec-1")->at("agent_id").as_string());
  const std::string host = harness.sink().latest("berth-app-1-exec-1")->host;
  CHECK_THAT(host, Catch::StartsWith("sim-agent-"));
  sim.admin("POST", "/sim/agents/" + agent + "/remove", R"({"mode":"unreachable"})");
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kLost); }));
  const BackendObject lost = *harness.sink().latest("berth-app-1-exec-1");
  CHECK(lost.host == host);
  CHECK_THAT(lost.reason, Catch::Contains("TASK_UNREACHABLE"));
}

TEST_CASE("mesos: a standby redirects to the leader, and a leader change is followed") {
  sim::mesos::SimulatorOptions options;
  options.standby_listen = "127.0.0.1:0";
  MesosSim sim(options);
  auto target = sim.target([&](MesosPoolConfig& config) { config.masters = {"http://" + sim.standby()}; });
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  REQUIRE(harness.launch(target.request(1)).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning); }));
  const std::size_t health_reports = harness.sink().health().size();
  sim.admin("POST", "/sim/leader");
  // The subscription breaks, the old leader redirects, the backend subscribes to the new one.
  REQUIRE(eventually([&] { return harness.sink().health().size() >= health_reports + 2 && harness.sink().healthy(); }));
  REQUIRE(harness.launch(target.request(2)).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-2", ObservedPhase::kRunning); }));
  CHECK(harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning));
  const json::object state = sim.state();
  CHECK(state.at("frameworks").as_array().size() == 1);
}

TEST_CASE("mesos: basic authentication with the principal and secret") {
  sim::mesos::SimulatorOptions options;
  options.principal = "berth";
  options.secret = "s3cret";
  MesosSim sim(options);
  sim.set_basic("YmVydGg6czNjcmV0");  // berth:s3cret
  auto good = sim.target([](MesosPoolConfig& config) {
    config.principal = "berth";
    config.secret = "s3cret";
  });
  BackendHarness harness;
  harness.start_backend(good.make_backend);
  REQUIRE(harness.launch(good.request(1)).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning); }));

  auto bad = sim.target([](MesosPoolConfig& config) {
    config.principal = "berth";
    config.secret = "wrong";
  });
  BackendHarness refused;
  refused.start_backend(bad.make_backend, false);
  REQUIRE(eventually([&] { return !refused.sink().health().empty(); }));
  CHECK_FALSE(refused.sink().health().back().ok());
  CHECK_THAT(refused.sink().health().back().message(), Catch::Contains("401"));
}

TEST_CASE("mesos: a rotated secret file is re-read when the master answers 401") {
  sim::mesos::SimulatorOptions options;
  options.principal = "berth";
  options.secret = "new-secret";
  MesosSim sim(options);
  char pattern[] = "/tmp/berth-mesos-secret-XXXXXX";
  const std::string dir = ::mkdtemp(pattern);
  const std::string file = dir + "/secret";
  std::ofstream(file) << "new-secret\n";
  auto target = sim.target([&](MesosPoolConfig& config) {
    config.principal = "berth";
    config.secret = "old-secret";  // what was read at start-up, before the rotation
    config.secret_file = file;
  });
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  REQUIRE(harness.launch(target.request(1)).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning); }));
  std::filesystem::remove_all(dir);
}

TEST_CASE("mesos: executors get host ports from the offer when the pool asks for them") {
  MesosSim sim;
  auto target = sim.target([](MesosPoolConfig& config) { config.ports = 2; });
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  REQUIRE(harness.launch(target.request(1)).ok());
  REQUIRE(harness.launch(target.request(2)).ok());
  REQUIRE(eventually([&] {
    return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning) &&
           harness.phase_is("berth-app-1-exec-2", ObservedPhase::kRunning);
  }));
  const json::object* task = sim.task("berth-app-1-exec-1");
  REQUIRE(task != nullptr);
  CHECK(task->at("resources").at("ports") != "[]");
}

TEST_CASE("mesos: killing a launch that no offer fits cancels it without a task") {
  MesosSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  LaunchRequest huge = target.request(1);
  huge.profile.cores = 64;  // more than any agent
  auto launch = harness.launch_async(huge);
  CHECK(launch.wait_for(300ms) == std::future_status::timeout);
  REQUIRE(harness.kill(huge.backend_name).ok());
  const Status cancelled = BackendHarness::wait(launch);
  CHECK_FALSE(cancelled.ok());
  CHECK_FALSE(cancelled.retryable());
  CHECK(sim.task(huge.backend_name) == nullptr);
}

TEST_CASE("mesos: an agent where executors keep failing is excluded for a while") {
  sim::mesos::SimulatorOptions options;
  options.agent_specs = {sim::mesos::AgentSpec{.hostname = "bad-1", .cpus = 4, .attributes = {{"rack", "r1"}}}};
  MesosSim sim(options);
  auto target = sim.target([](MesosPoolConfig& config) {
    config.agent_failure_limit = 2;
    config.agent_exclusion = 1h;
  });
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  for (int i = 1; i <= 2; ++i) {
    LaunchRequest crash = target.request(i);
    crash.spec.annotations = {{"sim.berth.dev/run-for", "1s"}, {"sim.berth.dev/exit-code", "1"}};
    REQUIRE(harness.launch(crash).ok());
  }
  REQUIRE(eventually([&] {
    return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kExited) &&
           harness.phase_is("berth-app-1-exec-2", ObservedPhase::kExited);
  }));
  // The only agent is now excluded: the next executor waits rather than failing there again.
  auto next = harness.launch_async(target.request(3));
  CHECK(next.wait_for(1500ms) == std::future_status::timeout);
  sim.admin("POST", "/sim/agents", R"({"hostname":"good-1","cpus":4,"mem":8192})");
  REQUIRE(BackendHarness::wait(next).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-3", ObservedPhase::kRunning); }));
  CHECK(harness.sink().latest("berth-app-1-exec-3")->host == "good-1");
}

TEST_CASE("mesos: a forced kill (grace 0) kills at once, not after the pool's kill grace") {
  MesosSim sim;
  auto target = sim.target([](MesosPoolConfig& config) { config.kill_grace = 1h; });
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  // Executors that ignore SIGTERM: only the grace decides when they end.
  for (ExecutorId id = 1; id <= 2; ++id) {
    LaunchRequest stuck = target.request(id);
    stuck.spec.annotations = {{"sim.berth.dev/shutdown-delay", "1h"}};
    REQUIRE(harness.launch(stuck).ok());
  }
  REQUIRE(eventually([&] {
    return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning) &&
           harness.phase_is("berth-app-1-exec-2", ObservedPhase::kRunning);
  }));
  // The pool's grace (1 h, 6 min of real time here) would outlast the deadlines below.
  REQUIRE(harness.kill("berth-app-1-exec-1", 0ms).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kExited); }, 10s));
  const BackendObject forced = *harness.sink().latest("berth-app-1-exec-1");
  CHECK(forced.message == "Command terminated with signal Killed");
  CHECK_FALSE(forced.deleted_externally);
  // A graceful kill gets the request's own grace too.
  REQUIRE(harness.kill("berth-app-1-exec-2", 2s).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-2", ObservedPhase::kExited); }, 10s));
  CHECK(harness.sink().latest("berth-app-1-exec-2")->message == "Command terminated with signal Killed");
}

TEST_CASE("mesos: executors that need no GPU are not placed on GPU agents; GPU executors are") {
  sim::mesos::SimulatorOptions options;
  options.agent_specs = {sim::mesos::AgentSpec{.hostname = "gpu-1", .cpus = 16, .gpus = 4}};
  MesosSim sim(options);
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  // Only a GPU agent: the plain executor waits for another agent.
  auto plain = harness.launch_async(target.request(1));
  CHECK(plain.wait_for(1500ms) == std::future_status::timeout);
  sim.admin("POST", "/sim/agents", R"({"hostname":"cpu-1","cpus":16,"mem":65536})");
  REQUIRE(BackendHarness::wait(plain).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning); }));
  CHECK(harness.sink().latest("berth-app-1-exec-1")->host == "cpu-1");
  // A GPU executor goes to the GPU agent.
  LaunchRequest gpu = target.request(2);
  gpu.profile.resources = {CustomResource{"gpu", "nvidia", 1}};
  REQUIRE(harness.launch(gpu).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-2", ObservedPhase::kRunning); }));
  CHECK(harness.sink().latest("berth-app-1-exec-2")->host == "gpu-1");
  const json::object* task = sim.task("berth-app-1-exec-2");
  REQUIRE(task != nullptr);
  CHECK(task->at("resources").at("gpus").to_number<double>() == 1);
}

TEST_CASE("mesos: resources reserved for the framework's role are used before unreserved ones") {
  sim::mesos::SimulatorOptions options;
  // The unreserved agent comes first, where the offer rotation starts.
  options.agent_specs = {sim::mesos::AgentSpec{.hostname = "open-1", .cpus = 8},
                         sim::mesos::AgentSpec{.hostname = "reserved-1", .cpus = 4,
                                               .reserved = {{"spark", {{"cpus", 2}, {"mem", 8192}}}}}};
  MesosSim sim(options);
  auto target = sim.target([](MesosPoolConfig& config) { config.roles = {"spark"}; });
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  for (ExecutorId id = 1; id <= 2; ++id) REQUIRE(harness.launch(target.request(id)).ok());
  REQUIRE(eventually([&] {
    return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning) &&
           harness.phase_is("berth-app-1-exec-2", ObservedPhase::kRunning);
  }));
  // Two executors of one core each: the agent whose offer holds the framework's reservation
  // takes both (its reserved cpus), the unreserved agent none.
  CHECK(harness.sink().latest("berth-app-1-exec-1")->host == "reserved-1");
  CHECK(harness.sink().latest("berth-app-1-exec-2")->host == "reserved-1");
}

TEST_CASE("mesos: a restarted backend knows the host of a task whose agent offers nothing, from its handle") {
  sim::mesos::SimulatorOptions options;
  // Exactly one executor's worth (1 cpu, 512 MiB heap + 384 MiB overhead): once it runs, the
  // agent has nothing left to offer.
  options.agent_specs = {sim::mesos::AgentSpec{.hostname = "full-1", .cpus = 1, .mem = 896}};
  MesosSim sim(options);
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  const LaunchRequest request = target.request(1);
  REQUIRE(harness.launch(request).ok());
  REQUIRE(eventually([&] { return harness.phase_is(request.backend_name, ObservedPhase::kRunning); }));
  const BackendObject running = *harness.sink().latest(request.backend_name);
  CHECK(running.host == "full-1");
  REQUIRE(running.handle.has_value());
  harness.stop_backend();

  BackendRecovery recovery;
  recovery.executors.push_back({request.backend_name, request.app, request.executor, *running.handle});
  const std::size_t seen = harness.sink().observed(request.backend_name).size();
  harness.start_backend([&](boost::asio::any_io_executor strand) {
    auto backend = target.make_backend(strand);
    backend->recover(recovery);
    return backend;
  });
  REQUIRE(eventually([&] { return harness.sink().observed(request.backend_name).size() > seen; }));
  CHECK(harness.sink().latest(request.backend_name)->host == "full-1");
}

// Issue 11, item 3: one refused REVIVE left the pool suppressed for good and the launch waiting.
TEST_CASE("mesos: issue 11: a launch whose REVIVE is refused still runs once the master answers again") {
  MesosSim sim;
  auto target = sim.target();  // retry_max_backoff 300ms
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  REQUIRE(eventually([&] { return sim.suppressed(); }));
  sim.admin("POST", "/sim/requests/reset");
  sim.fault(R"({"error_rate":{"REVIVE":1.0},"error_code":503})");
  const auto faulted = std::chrono::steady_clock::now();
  auto launch = harness.launch_async(target.request(1));
  // Refused, the REVIVE is sent again after the backoff; the framework stays suppressed meanwhile.
  REQUIRE(eventually([&] { return sim.calls("REVIVE") >= 4; }, 10s));
  CHECK(sim.suppressed());
  CHECK(launch.wait_for(0ms) == std::future_status::timeout);
  const int refused = sim.calls("REVIVE");
  const auto elapsed = std::chrono::steady_clock::now() - faulted;
  sim.fault(R"({"error_rate":{}})");
  // No storm: one REVIVE, then one per backoff delay (250 ms, then 300 ms), never more.
  CHECK(refused <= 2 + static_cast<int>(elapsed / 250ms));
  // Neither another launch nor a target change: the retry alone brings the offers.
  REQUIRE(launch.wait_for(10s) == std::future_status::ready);
  REQUIRE(launch.get().ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning); }));
  REQUIRE(eventually([&] { return sim.suppressed(); }));
  CHECK(sim.calls("REVIVE") <= refused + 1);
}

TEST_CASE("mesos: issue 11: a backend restarted while suppressed subscribes suppressed, and a launch then runs") {
  MesosSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  REQUIRE(eventually([&] { return sim.suppressed(); }));
  for (ExecutorId id = 1; id <= 3; ++id) {
    INFO("restart " << id);
    const std::string stream(sim.framework()->at("stream_id").as_string());
    harness.stop_backend();
    sim.admin("POST", "/sim/requests/reset");
    harness.start_backend(target.make_backend, false);
    REQUIRE(eventually([&] {
      const json::object* framework = sim.framework();
      return framework != nullptr && framework->at("subscribed").as_bool() && framework->at("stream_id") != stream.c_str();
    }));
    REQUIRE(eventually([&] { return harness.sink().healthy() && sim.suppressed(); }));
    // The SUBSCRIBE itself kept the framework suppressed: no offer was made to be declined, and
    // no SUPPRESS (or REVIVE) had to follow it.
    CHECK(sim.calls("DECLINE") == 0);
    CHECK(sim.calls("SUPPRESS") == 0);
    CHECK(sim.calls("REVIVE") == 0);
    const LaunchRequest request = target.request(id);
    auto launch = harness.launch_async(request);
    REQUIRE(launch.wait_for(10s) == std::future_status::ready);
    REQUIRE(launch.get().ok());
    REQUIRE(eventually([&] { return harness.phase_is(request.backend_name, ObservedPhase::kRunning); }));
    REQUIRE(eventually([&] { return sim.suppressed(); }));
    CHECK(sim.calls("REVIVE") == 1);
  }
  CHECK(sim.state().at("frameworks").as_array().size() == 1);
}

TEST_CASE("mesos: issue 11: launches that see no offer revive again, as when the master lost the REVIVE") {
  MesosSim sim;
  auto target = sim.target([](MesosPoolConfig& config) { config.revive_interval = 1s; });
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  REQUIRE(eventually([&] { return sim.suppressed(); }));
  // A launch no agent fits yet: revived, it is offered (and declines) everything there is.
  LaunchRequest big = target.request(1);
  big.profile.cores = 64;
  auto launch = harness.launch_async(big);
  REQUIRE(eventually([&] { return sim.calls("REVIVE") == 1 && sim.calls("DECLINE") >= 1; }));
  // The master ends up suppressing the framework although its REVIVE was confirmed (a late
  // SUPPRESS overtaking it would do this): nothing is offered any more, not even a new agent.
  sim.call_behind_its_back("SUPPRESS");
  REQUIRE(eventually([&] { return sim.suppressed(); }));
  sim.admin("POST", "/sim/requests/reset");
  const auto lost = std::chrono::steady_clock::now();
  sim.admin("POST", "/sim/agents", R"({"hostname":"big-1","cpus":128,"mem":262144})");
  // The periodic check sees the launch wait with no offer and revives.
  REQUIRE(launch.wait_for(10s) == std::future_status::ready);
  REQUIRE(launch.get().ok());
  REQUIRE(eventually([&] { return harness.phase_is(big.backend_name, ObservedPhase::kRunning); }));
  CHECK(harness.sink().latest(big.backend_name)->host == "big-1");
  // One REVIVE per revive_interval at most, never a storm.
  const int revives = sim.calls("REVIVE");
  CHECK(revives >= 1);
  CHECK(revives <= 1 + static_cast<int>((std::chrono::steady_clock::now() - lost) / 1s));
}

TEST_CASE("mesos: issue 11: the offer of an ACCEPT the master refused is declined, so the launch runs again") {
  sim::mesos::SimulatorOptions options;
  options.agents = 1;  // one offer at a time: an offer held by mistake stops every launch
  MesosSim sim(options);
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  REQUIRE(eventually([&] { return sim.suppressed(); }));
  // No leader for a moment: the ACCEPT is refused, and so is the first DECLINE of its offer.
  sim.fault(R"({"fail_next":{"ACCEPT":1,"DECLINE":1},"error_code":503})");
  const LaunchRequest request = target.request(1);
  const Status refused = harness.launch(request);
  INFO(refused.to_string());
  REQUIRE(refused.retryable());
  // The offer is still the framework's at the master until a DECLINE names it: sent again
  // after a backoff, it goes through and the agent is offered anew.
  auto launch = harness.launch_async(request);
  REQUIRE(launch.wait_for(10s) == std::future_status::ready);
  REQUIRE(launch.get().ok());
  REQUIRE(eventually([&] { return harness.phase_is(request.backend_name, ObservedPhase::kRunning); }));
  REQUIRE(eventually([&] { return sim.suppressed(); }));
  CHECK(sim.calls("DECLINE") >= 2);
  CHECK(sim.calls("ACCEPT") == 2);
}

TEST_CASE("mesos: issue 11: an offer whose DECLINE is refused is declined again, not held") {
  sim::mesos::SimulatorOptions options;
  options.agents = 1;
  MesosSim sim(options);
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  REQUIRE(eventually([&] { return sim.suppressed(); }));
  // A launch the agent does not fit: its offer is declined, and that DECLINE is refused.
  sim.fault(R"({"fail_next":{"DECLINE":1},"error_code":503})");
  LaunchRequest huge = target.request(1);
  huge.profile.cores = 64;
  auto waiting = harness.launch_async(huge);
  REQUIRE(eventually([&] { return sim.calls("DECLINE") >= 1; }));
  REQUIRE(harness.kill(huge.backend_name).ok());
  CHECK_FALSE(BackendHarness::wait(waiting).ok());
  // A launch that fits gets the agent: the refused DECLINE was sent again.
  const LaunchRequest fits = target.request(2);
  auto launch = harness.launch_async(fits);
  REQUIRE(launch.wait_for(10s) == std::future_status::ready);
  REQUIRE(launch.get().ok());
  REQUIRE(eventually([&] { return harness.phase_is(fits.backend_name, ObservedPhase::kRunning); }));
  CHECK(sim.calls("DECLINE") >= 2);
}

}  // namespace
}  // namespace berth
