// Conformance of NomadBackend against the Nomad API simulator (sim/nomad) over loopback: the
// shared conformance suite, then what is Nomad's own: killing one specific executor among several,
// placement failures reported with their reason until capacity comes, driver failures as launch
// failures, jobs stopped outside Berth, Nomad's plain-text validation errors, a dropped and
// compacted event stream caught up by the snapshot, leader loss, the connection limit's 429, list
// scoping, a rotating ACL token file, and TLS with a client certificate.

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>

#include "adapters/nomad/nomad_backend.h"
#include "adapters/testing/conformance.h"
#include "adapters/testing/sim_requests.h"
#include "net/http_client.h"
#include "net/tests/client_test_pki.h"
#include "sim/nomad/simulator.h"

// Options are written as designated initializers naming only what a test sets; gcc 12 warns
// about the fields left to their defaults, clang does not.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace berth {
namespace {

using namespace std::chrono_literals;
using conformance::BackendHarness;
using conformance::eventually;
namespace json = boost::json;

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/berth-nomad-sim-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
    return (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

// The simulator on its own thread, with an administration client.
class NomadSim {
 public:
  explicit NomadSim(sim::nomad::SimulatorOptions options = {}, const net::HttpClientOptions& tls = {})
      : tls_(!options.tls_cert_file.empty()), simulator_(io_.executor(), adjust(std::move(options))) {
    REQUIRE(simulator_.start().ok());
    net::HttpClientOptions client = tls;
    client.base_url = base_url();
    admin_ = std::make_unique<net::HttpClient>(io_.executor(), client);
    REQUIRE(admin_->init().ok());
    if (!token_.empty()) admin_->set_default_header("x-nomad-token", token_);
  }

  ~NomadSim() {
    admin_.reset();
    simulator_.stop();
    io_.stop();
  }

  std::string base_url() const { return std::string(tls_ ? "https://" : "http://") + simulator_.address(); }

  NomadPoolConfig config() const {
    NomadPoolConfig config;
    config.connection.address = base_url();
    config.connection.token = token_;
    config.kill_timeout = 2s;
    config.retry_max_backoff = 300ms;
    config.request_timeout = 5s;
    config.stream_idle_timeout = 5s;
    config.token_refresh_interval = 1s;
    return config;
  }

  net::HttpResponse call(const std::string& method, const std::string& target, const std::string& body = "") {
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
    return *response;
  }

  json::value admin(const std::string& method, const std::string& target, const std::string& body = "") {
    const net::HttpResponse response = call(method, target, body);
    INFO(target << " -> " << response.status << " " << response.body);
    REQUIRE(response.status < 300);
    boost::system::error_code ec;
    json::value value = json::parse(response.body, ec);
    return ec ? json::value() : value;
  }

  std::string alloc_of(const std::string& job) {
    std::string id;
    REQUIRE(eventually([&] {
      const json::value allocs = admin("GET", "/v1/job/" + job + "/allocations");
      if (!allocs.is_array() || allocs.as_array().empty()) return false;
      id = std::string(allocs.as_array().back().at("ID").as_string());
      return true;
    }));
    return id;
  }

  void faults(const json::object& fields) { admin("POST", "/sim/faults", json::serialize(fields)); }

  conformance::ConformanceTarget target(std::function<void(NomadPoolConfig&)> adjust = {}) {
    conformance::ConformanceTarget target;
    target.name = "nomad";
    target.pool = "nomad";
    NomadPoolConfig config = this->config();
    if (adjust) adjust(config);
    target.make_backend = [config](boost::asio::any_io_executor strand) {
      return std::make_unique<NomadBackend>(strand, "nomad", config, "edge-1", "berth");
    };
    // Another daemon has its own name prefix; the snapshot lists only this one's.
    target.make_other_backend = [config](boost::asio::any_io_executor strand) {
      return std::make_unique<NomadBackend>(strand, "nomad", config, conformance::ConformanceTarget::kOtherDaemon, "other");
    };
    target.exit_executor = [this](const std::string& name, int code, bool oom) {
      admin("POST", "/sim/allocations/" + alloc_of(name) + "/exit",
            json::serialize(json::object{{"code", code}, {"oom", oom}}));
    };
    target.outage = [this](std::chrono::milliseconds duration) {
      faults(json::object{{"down_for_ms", duration.count()}});
    };
    target.ignore_sigterm = [](LaunchRequest& request) {
      request.spec.annotations["sim.berth.dev/shutdown-delay"] = "1h";
    };
    target.reset_requests = [this] { admin("POST", "/sim/requests/reset"); };
    target.executor_requests = [this] {
      return conformance::executor_route_counts(
          call("GET", "/sim/requests").body, [](const std::string& method, const std::string& route) {
            return route.rfind("/v1/job/", 0) == 0 || route.rfind("/v1/allocation/", 0) == 0 ||
                   (route == "/v1/jobs" && method != "GET");
          });
    };
    // Named like Berth's jobs, so that only the missing Meta keeps it out.
    target.create_unlabelled = [this](const std::string& name) {
      admin("PUT", "/v1/jobs",
            json::serialize(json::object{
                {"Job", json::object{{"ID", name},
                                     {"Type", "batch"},
                                     {"TaskGroups", json::array{json::object{
                                                        {"Name", "main"},
                                                        {"Count", 1},
                                                        {"Tasks", json::array{json::object{
                                                                      {"Name", "main"},
                                                                      {"Driver", "docker"},
                                                                      {"Config", json::object{{"image", "busybox"}}}}}}}}}}}}));
    };
    target.unlabelled_running = [this](const std::string& name) {
      const json::value job = admin("GET", "/v1/job/" + name);
      return job.at("Stop") == false && job.at("Status") == "running";
    };
    target.make_invalid = [](LaunchRequest& request) {
      request.profile.cores = 0;
      return std::string("minimum CPU value is 1; got 0");
    };
    target.skip_reasons["quota"] = "the Nomad simulator has no quotas (Nomad Enterprise)";
    target.fail_next_launch = [this] {
      faults(json::object{{"fail_next", json::object{{"register", 1}}}, {"error_code", 503}});
    };
    return target;
  }

 private:
  sim::nomad::SimulatorOptions adjust(sim::nomad::SimulatorOptions options) {
    if (options.time_scale == 1.0) options.time_scale = 10.0;
    options.heartbeat_interval = 500ms;
    token_ = options.acl_token;
    return options;
  }

  conformance::IoThread io_;
  bool tls_ = false;
  std::string token_;
  sim::nomad::Simulator simulator_;
  std::unique_ptr<net::HttpClient> admin_;
};

struct NomadConformance {
  NomadSim sim;
  conformance::ConformanceTarget target_ = sim.target();
  conformance::ConformanceTarget& target() { return target_; }
};

BERTH_CONFORMANCE_SUITE("nomad", NomadConformance)

TEST_CASE("nomad: a killed executor's job is deregistered, not purged") {
  NomadSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  const LaunchRequest request = target.request(1);
  REQUIRE(harness.launch(request).ok());
  REQUIRE(eventually([&] { return harness.phase_is(request.backend_name, ObservedPhase::kRunning); }));
  REQUIRE(harness.kill(request.backend_name, 1s).ok());
  REQUIRE(eventually([&] { return harness.ended(request.backend_name); }));
  // `nomad job status` still explains it.
  const json::value job = sim.admin("GET", "/v1/job/" + request.backend_name);
  CHECK(job.at("Stop") == true);
}

TEST_CASE("nomad: one specific executor is killed among several, and only its job stops") {
  NomadSim sim;
  auto target = sim.target([](NomadPoolConfig& config) { config.purge_on_kill = true; });
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  for (ExecutorId id = 1; id <= 3; ++id) REQUIRE(harness.launch(target.request(id)).ok());
  REQUIRE(eventually([&] {
    for (ExecutorId id = 1; id <= 3; ++id) {
      if (!harness.phase_is("berth-app-1-exec-" + std::to_string(id), ObservedPhase::kRunning)) return false;
    }
    return true;
  }));
  REQUIRE(harness.kill("berth-app-1-exec-2", 1s).ok());
  REQUIRE(eventually([&] {
    auto latest = harness.sink().latest("berth-app-1-exec-2");
    return latest && (latest->phase == ObservedPhase::kExited || latest->phase == ObservedPhase::kGone);
  }));
  CHECK_FALSE(harness.sink().latest("berth-app-1-exec-2")->deleted_externally);
  CHECK(harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning));
  CHECK(harness.phase_is("berth-app-1-exec-3", ObservedPhase::kRunning));
  // Purged: the job is gone from Nomad, and that is the end of Berth's kill.
  REQUIRE(eventually([&] { return sim.call("GET", "/v1/job/berth-app-1-exec-2").status == 404; }));
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-2", ObservedPhase::kExited); }));
  CHECK_FALSE(harness.sink().latest("berth-app-1-exec-2")->deleted_externally);
}

TEST_CASE("nomad: a job Berth purged ends as Berth's kill, never as gone or deleted externally") {
  // core reads kGone as someone else's deletion (LOST deleted_externally), which turned a
  // decommissioned executor of a purge_on_kill pool into a loss.
  NomadSim sim;
  auto target = sim.target([](NomadPoolConfig& config) { config.purge_on_kill = true; });
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  const LaunchRequest request = target.request(1);
  REQUIRE(harness.launch(request).ok());
  REQUIRE(eventually([&] { return harness.phase_is(request.backend_name, ObservedPhase::kRunning); }));
  REQUIRE(harness.kill(request.backend_name, 0ms).ok());
  REQUIRE(eventually([&] { return harness.phase_is(request.backend_name, ObservedPhase::kExited); }));
  CHECK(sim.call("GET", "/v1/job/" + request.backend_name).status == 404);
  const BackendObject ended = *harness.sink().latest(request.backend_name);
  CHECK(ended.reason == "Deregistered");
  CHECK(ended.host != "");
  // Nor does anything later (the stream's events, a list without the job) say otherwise.
  auto listed = harness.list();
  REQUIRE(listed.ok());
  for (const auto& object : *listed) CHECK(object.backend_name != request.backend_name);
  const LaunchRequest other = target.request(2);
  REQUIRE(harness.launch(other).ok());
  REQUIRE(eventually([&] { return harness.phase_is(other.backend_name, ObservedPhase::kRunning); }));
  for (const auto& object : harness.sink().observed(request.backend_name)) {
    CHECK(object.phase != ObservedPhase::kGone);
    CHECK_FALSE(object.deleted_externally);
  }
  CHECK(harness.sink().latest(request.backend_name)->phase == ObservedPhase::kExited);
}

// Issue 11: a pool kept every dead job in its cache (2,098 ended jobs took berthd from 30 to
// 101 MB). Now the cache holds the live executors; what ended is not reported again, by the
// stream, core's list or a resync, nor after a restart unless core still has it live.
TEST_CASE("nomad: ended jobs are forgotten and not reported again (issue 11)") {
  NomadSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  auto cached = [&] {
    std::size_t jobs = 0;
    harness.on_strand([&] { jobs = dynamic_cast<NomadBackend&>(harness.backend()).cached_jobs(); });
    return jobs;
  };
  constexpr ExecutorId kEnded = 500;
  constexpr ExecutorId kWave = 50;  // what the simulator's nodes run at once, with room to spare
  const LaunchRequest keeper = target.request(kEnded + 1);
  REQUIRE(harness.launch(keeper).ok());

  // Waves of executors: the even ones exit by themselves (half with an error), the odd ones are
  // killed by Berth once running (deregistered, not purged: Nomad keeps them, dead).
  std::set<std::string> ended;
  std::size_t most_cached = 0;
  for (ExecutorId first = 1; first <= kEnded; first += kWave) {
    std::vector<LaunchRequest> wave;
    for (ExecutorId id = first; id < first + kWave; ++id) {
      LaunchRequest request = target.request(id);
      if (id % 2 == 0) {
        request.spec.annotations["sim.berth.dev/run-for"] = "1s";
        request.spec.annotations["sim.berth.dev/exit-code"] = id % 4 == 0 ? "0" : "3";
      }
      REQUIRE(harness.launch(request).ok());
      wave.push_back(request);
    }
    for (const auto& request : wave) {
      if (request.executor % 2 == 0) continue;
      REQUIRE(eventually([&] { return harness.phase_is(request.backend_name, ObservedPhase::kRunning); }));
      REQUIRE(harness.kill(request.backend_name, 0s).ok());
    }
    for (const auto& request : wave) {
      INFO(request.backend_name);
      REQUIRE(eventually([&] { return harness.phase_is(request.backend_name, ObservedPhase::kExited); }));
      ended.insert(request.backend_name);
    }
    most_cached = std::max(most_cached, cached());
  }
  CHECK(most_cached <= static_cast<std::size_t>(kWave) + 1);
  REQUIRE(eventually([&] { return cached() == 1; }));  // the keeper
  for (const auto& object : harness.sink().all()) {
    if (ended.count(object.backend_name) == 0) continue;
    INFO(object.backend_name << " " << to_string(object.phase) << " " << object.reason);
    CHECK_FALSE(object.deleted_externally);
  }
  const std::size_t seen = harness.sink().count();

  // Core's periodic list: nothing ended in it (its end was reported already).
  auto listed = harness.list();
  REQUIRE(listed.ok());
  for (const auto& object : *listed) CHECK(ended.count(object.backend_name) == 0);

  // A resync: the stream is cut, so a new snapshot is taken and reported whole.
  auto job_lists = [&] { return sim.admin("GET", "/sim/state").at("ListRequests").at("Jobs").to_number<int>(); };
  const int lists_before = job_lists();
  sim.faults(json::object{{"drop_streams", true}});
  REQUIRE(eventually([&] { return job_lists() > lists_before; }));
  // A launch seen running after the resync: the snapshot and the stream since are taken in.
  const LaunchRequest later = target.request(kEnded + 2);
  REQUIRE(harness.launch(later).ok());
  REQUIRE(eventually([&] { return harness.phase_is(later.backend_name, ObservedPhase::kRunning); }));
  CHECK(cached() == 2);
  const auto after = harness.sink().all();
  for (std::size_t i = seen; i < after.size(); ++i) {
    INFO(after[i].backend_name << " " << to_string(after[i].phase) << " " << after[i].reason);
    CHECK(ended.count(after[i].backend_name) == 0);
  }

  // berthd restarts while the keeper exits; core still has it (and `later`) live, not the rest.
  harness.stop_backend();
  sim.admin("POST", "/sim/allocations/" + sim.alloc_of(keeper.backend_name) + "/exit", R"({"code":5})");
  const std::size_t before_restart = harness.sink().count();
  harness.start_backend([&](boost::asio::any_io_executor strand) {
    auto backend = target.make_backend(strand);
    BackendRecovery recovery;
    for (const auto* request : {&keeper, &later}) {
      recovery.executors.push_back({request->backend_name, request->app, request->executor, {}});
    }
    backend->recover(recovery);
    return backend;
  });
  REQUIRE(eventually([&] { return harness.sink().count() > before_restart + 1; }));
  REQUIRE(eventually([&] { return cached() == 1; }));  // `later`
  CHECK(harness.phase_is(keeper.backend_name, ObservedPhase::kExited));
  CHECK(harness.sink().latest(keeper.backend_name)->exit_code == 5);
  CHECK(harness.phase_is(later.backend_name, ObservedPhase::kRunning));
  const auto restarted = harness.sink().all();
  for (std::size_t i = before_restart; i < restarted.size(); ++i) {
    INFO(restarted[i].backend_name << " " << to_string(restarted[i].phase) << " " << restarted[i].reason);
    CHECK(ended.count(restarted[i].backend_name) == 0);
  }
}

TEST_CASE("nomad: start-up lists jobs and allocations once, for both the snapshot and core's first list") {
  NomadSim sim;
  auto target = sim.target();
  {
    BackendHarness before;  // a previous run of berthd left an executor
    before.start_backend(target.make_backend);
    REQUIRE(before.launch(target.request(1)).ok());
    REQUIRE(eventually([&] { return before.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning); }));
  }
  auto lists = [&](const char* route) {
    return sim.admin("GET", "/sim/state").at("ListRequests").at(route).to_number<int>();
  };
  const int jobs_before = lists("Jobs");
  const int allocs_before = lists("Allocations");

  // As core does: start, then list at once, in one turn of its strand.
  BackendHarness harness;
  std::unique_ptr<Backend> backend;
  auto listed = std::make_shared<std::promise<StatusOr<std::vector<BackendObject>>>>();
  harness.on_strand([&] {
    backend = target.make_backend(harness.strand());
    backend->start(&harness.sink());
    backend->list([listed](StatusOr<std::vector<BackendObject>> r) { listed->set_value(std::move(r)); });
  });
  auto future = listed->get_future();
  REQUIRE(future.wait_for(20s) == std::future_status::ready);
  const auto objects = future.get();
  REQUIRE(objects.ok());
  REQUIRE(objects->size() == 1);
  CHECK(objects->front().backend_name == "berth-app-1-exec-1");
  CHECK(objects->front().phase == ObservedPhase::kRunning);
  REQUIRE(eventually([&] { return harness.sink().healthy(); }));
  REQUIRE(eventually([&] { return sim.admin("GET", "/sim/state").at("StreamSubscribers").to_number<int>() >= 1; }));
  CHECK(lists("Jobs") - jobs_before == 1);
  CHECK(lists("Allocations") - allocs_before == 1);
  CHECK(harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning));

  // A later list is a snapshot of its own.
  auto again = std::make_shared<std::promise<StatusOr<std::vector<BackendObject>>>>();
  harness.on_strand([&] {
    backend->list([again](StatusOr<std::vector<BackendObject>> r) { again->set_value(std::move(r)); });
  });
  auto again_future = again->get_future();
  REQUIRE(again_future.wait_for(20s) == std::future_status::ready);
  REQUIRE(again_future.get().ok());
  CHECK(lists("Jobs") - jobs_before == 2);
  CHECK(lists("Allocations") - allocs_before == 2);
  harness.on_strand([&] {
    backend->stop();
    backend.reset();
  });
}

TEST_CASE("nomad: a placement failure stays pending with the reason until capacity comes") {
  NomadSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  LaunchRequest big = target.request(1);
  big.profile.cores = 48;  // 48,000 MHz: no default node has that much
  REQUIRE(harness.launch(big).ok());
  REQUIRE(eventually([&] {
    auto latest = harness.sink().latest(big.backend_name);
    return latest && latest->reason == "Unschedulable";
  }));
  const BackendObject pending = *harness.sink().latest(big.backend_name);
  CHECK(pending.phase == ObservedPhase::kPending);
  CHECK_THAT(pending.message, Catch::StartsWith("0 of "));
  CHECK_THAT(pending.message, Catch::Contains("exhausted (cpu"));
  sim.admin("POST", "/sim/nodes", R"({"name":"big-1","cpu_mhz":64000,"memory_mb":262144,"cores":64})");
  REQUIRE(eventually([&] { return harness.phase_is(big.backend_name, ObservedPhase::kRunning); }));
  CHECK(harness.sink().latest(big.backend_name)->host == "big-1");
}

TEST_CASE("nomad: a driver failure is a launch failure with the driver's message") {
  NomadSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  LaunchRequest request = target.request(1);
  request.spec.annotations = {{"sim.berth.dev/driver-failure", "true"}};
  REQUIRE(harness.launch(request).ok());
  REQUIRE(eventually([&] { return harness.phase_is(request.backend_name, ObservedPhase::kExited); }));
  const BackendObject failed = *harness.sink().latest(request.backend_name);
  CHECK(failed.start_failed);
  CHECK(failed.reason == "DriverFailure");
  CHECK_THAT(failed.message, Catch::Contains("Failed to pull"));
}

TEST_CASE("nomad: a job stopped outside Berth is reported deleted externally") {
  NomadSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  REQUIRE(harness.launch(target.request(1)).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning); }));
  sim.admin("DELETE", "/v1/job/berth-app-1-exec-1");  // `nomad job stop`
  REQUIRE(eventually([&] {
    auto latest = harness.sink().latest("berth-app-1-exec-1");
    return latest && latest->deleted_externally;
  }));
  CHECK(harness.sink().latest("berth-app-1-exec-1")->reason == "JobStopped");
}

TEST_CASE("nomad: jobs removed by Nomad's garbage collection: ended ones stay ended, one missed is reported once") {
  NomadSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  const LaunchRequest killed = target.request(1), missed = target.request(2), later = target.request(3);
  auto reports = [&](const std::string& name) { return harness.sink().observed(name).size(); };
  for (const auto* request : {&killed, &missed}) REQUIRE(harness.launch(*request).ok());
  REQUIRE(eventually([&] {
    return harness.phase_is(killed.backend_name, ObservedPhase::kRunning) &&
           harness.phase_is(missed.backend_name, ObservedPhase::kRunning);
  }));
  REQUIRE(harness.kill(killed.backend_name, 0s).ok());
  REQUIRE(eventually([&] { return harness.phase_is(killed.backend_name, ObservedPhase::kExited); }));

  // While no stream is open, `missed` is stopped outside Berth and Nomad collects both jobs.
  const std::string missed_alloc = sim.alloc_of(missed.backend_name);
  sim.faults(json::object{{"fail_next", json::object{{"stream", 1000}, {"list", 1000}}}, {"drop_streams", true}});
  sim.admin("DELETE", "/v1/job/" + missed.backend_name);
  REQUIRE(eventually([&] { return sim.admin("GET", "/v1/allocation/" + missed_alloc).at("ClientStatus") == "complete"; }));
  sim.admin("PUT", "/v1/system/gc");
  REQUIRE(sim.call("GET", "/v1/job/" + missed.backend_name).status == 404);
  REQUIRE(sim.call("GET", "/v1/job/" + killed.backend_name).status == 404);
  const std::size_t killed_reports = reports(killed.backend_name);
  sim.faults(json::object{{"reset", true}});

  // The snapshot after the outage no longer holds `missed`: its end is reported, as gone.
  REQUIRE(eventually([&] {
    auto latest = harness.sink().latest(missed.backend_name);
    return latest && latest->phase != ObservedPhase::kRunning;
  }));
  CHECK(harness.sink().latest(missed.backend_name)->deleted_externally);
  CHECK(harness.sink().latest(missed.backend_name)->reason == "JobRemoved");
  // A launch seen running: the stream is back; the collected jobs said nothing more.
  REQUIRE(harness.launch(later).ok());
  REQUIRE(eventually([&] { return harness.phase_is(later.backend_name, ObservedPhase::kRunning); }));
  CHECK(reports(killed.backend_name) == killed_reports);
  const std::size_t missed_reports = reports(missed.backend_name);
  // A collection seen on the stream (JobBatchDeregistered) of a job whose end was reported: nothing.
  REQUIRE(harness.kill(later.backend_name, 0s).ok());
  REQUIRE(eventually([&] { return harness.phase_is(later.backend_name, ObservedPhase::kExited); }));
  const std::string later_alloc = sim.alloc_of(later.backend_name);
  REQUIRE(eventually([&] { return sim.admin("GET", "/v1/allocation/" + later_alloc).at("ClientStatus") == "complete"; }));
  const std::size_t later_reports = reports(later.backend_name);
  sim.admin("PUT", "/v1/system/gc");
  REQUIRE(sim.call("GET", "/v1/job/" + later.backend_name).status == 404);
  REQUIRE(harness.list().ok());
  CHECK(reports(later.backend_name) == later_reports);
  CHECK(reports(missed.backend_name) == missed_reports);
  CHECK(harness.phase_is(later.backend_name, ObservedPhase::kExited));
  REQUIRE(eventually([&] {
    std::size_t jobs = 1;
    harness.on_strand([&] { jobs = dynamic_cast<NomadBackend&>(harness.backend()).cached_jobs(); });
    return jobs == 0;
  }));
}

TEST_CASE("nomad: Nomad's validation errors are kInvalidArgument with its text; a second launch adopts") {
  NomadSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  LaunchRequest zero = target.request(1);
  zero.profile.cores = 0;
  const Status refused = harness.launch(zero);
  CHECK(refused.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(refused.message(), Catch::Contains("minimum CPU value is 1; got 0"));
  CHECK_FALSE(refused.retryable());
  const LaunchRequest ok = target.request(2);
  REQUIRE(harness.launch(ok).ok());
  CHECK(harness.launch(ok).code() == StatusCode::kAlreadyExists);
}

TEST_CASE("nomad: changes made while the event stream is cut and its buffer compacted are caught") {
  NomadSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  for (ExecutorId id = 1; id <= 2; ++id) REQUIRE(harness.launch(target.request(id)).ok());
  REQUIRE(eventually([&] {
    return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning) &&
           harness.phase_is("berth-app-1-exec-2", ObservedPhase::kRunning);
  }));
  const std::string alloc = sim.alloc_of("berth-app-1-exec-1");
  // Streams refused for a while: the exit below happens while nothing streams, and the
  // compaction makes sure a resumed stream could not replay it.
  sim.faults(json::object{{"fail_next", json::object{{"stream", 5}}}, {"drop_streams", true}});
  sim.admin("POST", "/sim/allocations/" + alloc + "/exit", R"({"code":7})");
  sim.faults(json::object{{"compact_events", true}});
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kExited); }));
  CHECK(harness.sink().latest("berth-app-1-exec-1")->exit_code == 7);
  CHECK(harness.phase_is("berth-app-1-exec-2", ObservedPhase::kRunning));
}

TEST_CASE("nomad: leader loss makes launches retryable and the pool unhealthy, then it recovers") {
  NomadSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  REQUIRE(harness.launch(target.request(1)).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning); }));
  sim.faults(json::object{{"leader_loss_for_ms", 2000}});
  const Status during = harness.launch(target.request(2));
  CHECK(during.retryable());
  CHECK_THAT(during.message(), Catch::Contains("No cluster leader"));
  REQUIRE(eventually([&] { return !harness.sink().healthy(); }));
  REQUIRE(eventually([&] { return harness.sink().healthy(); }, 30s));
  REQUIRE(harness.launch(target.request(2)).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-2", ObservedPhase::kRunning); }));
  for (const auto& object : harness.sink().observed("berth-app-1-exec-1")) CHECK(object.phase != ObservedPhase::kLost);
}

TEST_CASE("nomad: the connection limit's 429 is retryable") {
  NomadSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  sim.faults(json::object{{"fail_next", json::object{{"register", 1}}}, {"error_code", 429}});
  const Status limited = harness.launch(target.request(1));
  CHECK(limited.code() == StatusCode::kUnavailable);
  CHECK_THAT(limited.message(), Catch::Contains("too many concurrent connections"));
  REQUIRE(harness.launch(target.request(1)).ok());
}

TEST_CASE("nomad: list returns Berth jobs of every daemon in the pool, never other jobs") {
  NomadSim sim;
  auto target = sim.target();
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  REQUIRE(harness.launch(target.request(1)).ok());
  auto other_daemon = target;
  other_daemon.daemon_id = "edge-2";
  REQUIRE(harness.launch(other_daemon.request(2)).ok());
  const std::string foreign = R"({"Job":{"ID":"berth-lookalike","Type":"batch","TaskGroups":[{"Name":"g","Tasks":[
      {"Name":"t","Driver":"docker","Config":{"image":"x"}}]}]}})";
  sim.admin("POST", "/v1/jobs", foreign);
  auto listed = harness.list();
  REQUIRE(listed.ok());
  std::set<std::string> names;
  for (const auto& object : *listed) names.insert(object.backend_name + "@" + object.daemon_id);
  CHECK(names == std::set<std::string>{"berth-app-1-exec-1@edge-1", "berth-app-1-exec-2@edge-2"});
  // The stream reports only this daemon's jobs.
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning); }));
  CHECK(harness.sink().observed("berth-app-1-exec-2").empty());
  CHECK(harness.sink().observed("berth-lookalike").empty());
}

TEST_CASE("nomad: a rotated ACL token file is re-read and the pool recovers") {
  TempDir dir;
  sim::nomad::SimulatorOptions options;
  options.acl_token = "right-token";
  NomadSim sim(options);
  const std::string token_file = dir.write("token", "stale-token\n");
  auto target = sim.target([&](NomadPoolConfig& config) {
    config.connection.token.clear();
    config.connection.token_file = token_file;
  });
  BackendHarness harness;
  harness.start_backend(target.make_backend, false);
  REQUIRE(eventually([&] { return !harness.sink().health().empty(); }));
  CHECK_FALSE(harness.sink().healthy());
  CHECK_THAT(harness.sink().health().back().message(), Catch::Contains("ACL token not found"));
  const Status refused = harness.launch(target.request(1));
  CHECK(refused.code() == StatusCode::kPermissionDenied);
  dir.write("token", "right-token\n");
  REQUIRE(eventually([&] { return harness.sink().healthy(); }));
  REQUIRE(harness.launch(target.request(1)).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning); }));
}

TEST_CASE("nomad: HTTPS with a client certificate, verified against the agent's CA") {
  TempDir dir;
  const auto pki = net::testing::make_test_pki({"server.global.nomad"});
  sim::nomad::SimulatorOptions options;
  options.tls_cert_file = dir.write("server.pem", pki.server.cert_pem);
  options.tls_key_file = dir.write("server-key.pem", pki.server.key_pem);
  options.client_ca_file = dir.write("ca.pem", pki.ca.cert_pem);
  net::HttpClientOptions tls;
  tls.ca_pem = pki.ca.cert_pem;
  tls.client_cert_pem = pki.client.cert_pem;
  tls.client_key_pem = pki.client.key_pem;
  tls.server_name = "server.global.nomad";
  NomadSim sim(options, tls);
  auto target = sim.target([&](NomadPoolConfig& config) {
    config.connection.ca_pem = pki.ca.cert_pem;
    config.connection.client_cert_pem = pki.client.cert_pem;
    config.connection.client_key_pem = pki.client.key_pem;
    config.connection.server_name = "server.global.nomad";
  });
  BackendHarness harness;
  harness.start_backend(target.make_backend);
  REQUIRE(harness.launch(target.request(1)).ok());
  REQUIRE(eventually([&] { return harness.phase_is("berth-app-1-exec-1", ObservedPhase::kRunning); }));
}

}  // namespace
}  // namespace berth
