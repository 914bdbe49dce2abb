#include "bench/backend_figures.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "adapters/mesos/offers.h"
#include "adapters/mesos/recordio.h"
#include "adapters/mesos/tasks.h"
#include "adapters/nomad/job_spec.h"
#include "bench/process.h"
#include "berth/v1/berth.grpc.pb.h"
#include "net/http_client.h"

namespace berth::bench {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace json = boost::json;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

class IoThread {
 public:
  IoThread() : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~IoThread() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  boost::asio::io_context& io() { return io_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

StatusOr<net::HttpResponse> call(net::HttpClient& client, net::HttpClientRequest request) {
  std::promise<StatusOr<net::HttpResponse>> promise;
  auto future = promise.get_future();
  client.request(std::move(request), [&promise](StatusOr<net::HttpResponse> r) { promise.set_value(std::move(r)); });
  return future.get();
}

LaunchRequest launch_request(const std::string& app, int id, const std::string& pool) {
  LaunchRequest request;
  request.backend_name = "berth-" + app + "-exec-" + std::to_string(id);
  request.daemon_id = "bench";
  request.pool = pool;
  request.app = app;
  request.tenant = "default";
  request.executor = id;
  request.profile.cores = 1;
  request.profile.heap_mib = 1024;
  request.spec.image = "apache/spark:3.5.1";
  request.spec.command = {"/opt/entrypoint.sh", "executor"};
  request.driver.url = "spark://CoarseGrainedScheduler@driver:7078";
  return request;
}

// One berth-sim process with an HTTP client for its administration.
class Sim {
 public:
  bool start(const std::string& sim, const std::string& kind, const std::string& dir, const std::string& config,
             int connections = 16) {
    dir_ = dir;
    std::filesystem::create_directories(dir_);
    write_file(dir_ + "/sim.yaml", config);
    std::string error;
    if (!process_.start({sim, kind, "--listen", "127.0.0.1:0", "--config", dir_ + "/sim.yaml", "--port-file",
                         dir_ + "/sim.port"},
                        dir_ + "/sim.log", &error)) {
      std::cerr << "berth-bench: " << error << "\n";
      return false;
    }
    const auto deadline = Clock::now() + 30s;
    while (address_.empty() && Clock::now() < deadline) {
      std::ifstream in(dir_ + "/sim.port");
      std::getline(in, address_);
      if (address_.empty()) std::this_thread::sleep_for(5ms);
    }
    if (address_.empty()) return false;
    net::HttpClientOptions options;
    options.base_url = "http://" + address_;
    options.max_connections = static_cast<std::size_t>(connections);
    client_ = std::make_unique<net::HttpClient>(strand_, options);
    return client_->init().ok();
  }
  ~Sim() {
    client_.reset();
    process_.kill(SIGKILL);
  }

  json::object state() {
    auto response = call(*client_, {"GET", "/sim/state", {}, "", 0ms});
    boost::system::error_code ec;
    if (!response.ok()) return {};
    auto value = json::parse(response->body, ec);
    return !ec && value.is_object() ? value.as_object() : json::object{};
  }

  // Seconds from `since` until count() >= n, polling; negative on timeout.
  template <typename Count>
  double wait_for(long n, Clock::time_point since, Count count, std::chrono::seconds timeout = 120s) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (count() >= n) return seconds_since(since);
      std::this_thread::sleep_for(2ms);
    }
    return -1;
  }

  net::HttpClient& client() { return *client_; }
  boost::asio::any_io_executor strand() { return strand_; }
  const std::string& address() const { return address_; }
  boost::asio::io_context& io() { return io_.io(); }

 private:
  IoThread io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_ = boost::asio::make_strand(io_.io());
  ChildProcess process_;
  std::string dir_;
  std::string address_;
  std::unique_ptr<net::HttpClient> client_;
};

// berthd with one pool of the given YAML section; one driver application.
class Daemon {
 public:
  bool start(const std::string& berthd, const std::string& dir, const std::string& pool_yaml,
             const std::string& reconciler = "") {
    std::filesystem::create_directories(dir);
    write_file(dir + "/berthd.yaml", "state_dir: " + dir + "/state\nlisten: 127.0.0.1:0\n"
                                     "allow_unauthenticated_loopback: true\nmetrics_listen: \"\"\n"
                                     "logging: {level: warn}\n"
                                     "reconciler: {max_pending_per_app: 100000" + reconciler + "}\npools:\n" +
                                     pool_yaml);
    std::string error;
    if (!process_.start({berthd, "--config", dir + "/berthd.yaml", "--port-file", dir + "/ports"}, dir + "/berthd.log",
                        &error)) {
      std::cerr << "berth-bench: " << error << "\n";
      return false;
    }
    const std::string address = process_.wait_for_address(dir + "/ports", "grpc", 60s);
    if (address.empty()) {
      std::cerr << "berth-bench: berthd did not start; see " << dir << "/berthd.log\n";
      return false;
    }
    auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    stub_ = v1::Executors::NewStub(channel);
    admin_ = v1::Admin::NewStub(channel);
    return true;
  }

  // Kills executors 1..n of `app` (Spark's killExecutors, target lowered with them).
  bool kill(const std::string& app, int n) {
    grpc::ClientContext ctx;
    v1::KillExecutorsRequest request;
    request.set_app_id(app);
    for (int id = 1; id <= n; ++id) request.add_executor_ids(id);
    request.set_adjust_target(true);
    v1::KillExecutorsResponse out;
    return stub_->KillExecutors(&ctx, request, &out).ok();
  }

  // How many of `app`'s executors are in `states`.
  long count(const std::string& app, const std::set<v1::ExecutorState>& states) {
    grpc::ClientContext ctx;
    v1::ListExecutorsRequest request;
    request.set_app_id(app);
    v1::ListExecutorsResponse out;
    if (!stub_->ListExecutors(&ctx, request, &out).ok()) return -1;
    long n = 0;
    for (const auto& executor : out.executors()) n += states.count(executor.state()) > 0;
    return n;
  }

  // Full lists of the (only) pool berthd has completed.
  long lists() {
    grpc::ClientContext ctx;
    v1::ListPoolsResponse out;
    if (!admin_->ListPools(&ctx, v1::ListPoolsRequest{}, &out).ok() || out.pools().empty()) return -1;
    return static_cast<long>(out.pools(0).lists());
  }
  ~Daemon() { process_.kill(SIGTERM); }

  bool driver(const std::string& app, int target) {
    {
      grpc::ClientContext ctx;
      v1::RegisterApplicationRequest request;
      request.set_app_id(app);
      auto* profile = request.add_profiles();
      profile->set_cores(1);
      profile->set_heap_mib(1024);
      request.mutable_launch()->set_image("apache/spark:3.5.1");
      request.mutable_launch()->add_command("/opt/entrypoint.sh");
      request.mutable_launch()->add_args("executor");
      v1::Application out;
      if (!stub_->RegisterApplication(&ctx, request, &out).ok()) return false;
    }
    grpc::ClientContext ctx;
    v1::RequestTotalExecutorsRequest request;
    request.set_app_id(app);
    (*request.mutable_totals())[0] = target;
    v1::RequestTotalExecutorsResponse out;
    return stub_->RequestTotalExecutors(&ctx, request, &out).ok();
  }

 private:
  ChildProcess process_;
  std::unique_ptr<v1::Executors::Stub> stub_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

// ---------------------------------------------------------------------------------------------
// Nomad
// ---------------------------------------------------------------------------------------------

std::string nomad_sim_config() {
  std::string config = "event_buffer_size: 1000000\nmax_conns_per_client: 0\nnodes:\n";
  for (int i = 0; i < 10; ++i) {
    config += "  - {name: bench-node-" + std::to_string(i) + ", cpu_mhz: 100000000, memory_mb: 1000000000, cores: 100000}\n";
  }
  config += "behaviours:\n  - job_prefix: berth-\n    meta: {sim.berth.dev/start-delay: 0s}\n";
  return config;
}

long nomad_jobs(Sim& sim) {
  const json::object state = sim.state();
  const auto* jobs = state.if_contains("Jobs");
  if (jobs == nullptr || !jobs->is_object()) return -1;
  long total = 0;
  for (const auto& [status, count] : jobs->as_object()) total += count.to_number<long>();
  return total;
}

double nomad_raw_rate(Sim& sim, const std::vector<std::string>& bodies, int connections) {
  // Read the event stream as berthd does, so that the simulator does the same work for both.
  net::StreamCallbacks discard;
  discard.on_data = [](std::string_view) {};
  discard.on_end = [](Status) {};
  auto stream = sim.client().stream(
      {"GET", "/v1/event/stream?topic=Job&topic=Allocation&topic=Evaluation", {}, "", 0ms}, std::move(discard));
  std::atomic<std::size_t> next{0};
  std::atomic<int> failures{0};
  const auto start = Clock::now();
  std::vector<std::thread> senders;
  for (int c = 0; c < connections; ++c) {
    senders.emplace_back([&] {
      for (std::size_t i = next++; i < bodies.size(); i = next++) {
        auto response = call(sim.client(), {"POST", "/v1/jobs", {{"content-type", "application/json"}}, bodies[i], 0ms});
        if (!response.ok() || response->status != 200) failures++;
      }
    });
  }
  for (auto& t : senders) t.join();
  const double rate = static_cast<double>(bodies.size()) / seconds_since(start);
  stream->cancel();
  if (failures > 0) std::cerr << "berth-bench: nomad raw register: " << failures << " failures\n";
  return rate;
}

// ---------------------------------------------------------------------------------------------
// Mesos: a minimal framework for the raw baseline
// ---------------------------------------------------------------------------------------------

std::string mesos_sim_config() {
  std::string config = "heartbeat_interval: 5s\nagents:\n";
  for (int i = 0; i < 10; ++i) {
    config += "  - {hostname: bench-agent-" + std::to_string(i) + ", cpus: 100000, mem: 1000000000}\n";
  }
  config += "behaviours:\n  - match: {berth.dev/daemon: bench}\n    labels: {sim.berth.dev/start-delay: 0s}\n";
  return config;
}

long mesos_tasks(Sim& sim) {
  const json::object state = sim.state();
  const auto* tasks = state.if_contains("tasks");
  return tasks != nullptr && tasks->is_array() ? static_cast<long>(tasks->as_array().size()) : -1;
}

// Subscribes, then launches `n` tasks (the TaskInfos berthd would send) on the offers it gets,
// packing each offer, one ACCEPT per offer.
class RawFramework {
 public:
  RawFramework(Sim& sim, int n) : sim_(sim) {
    for (int i = 1; i <= n; ++i) pending_.push_back(launch_request("raw", i, "mesos"));
  }

  void start() {
    json::object body{{"type", "SUBSCRIBE"},
                      {"subscribe", json::object{{"framework_info",
                                                  json::object{{"user", "bench"},
                                                               {"name", "bench-raw"},
                                                               {"roles", json::array{"*"}},
                                                               {"capabilities", json::array{json::object{{"type", "MULTI_ROLE"}}}},
                                                               {"failover_timeout", 3600.0}}}}}};
    net::StreamCallbacks callbacks;
    callbacks.on_headers = [this](int, const net::Headers& headers) {
      if (auto it = headers.find("mesos-stream-id"); it != headers.end()) stream_id_ = it->second;
    };
    callbacks.on_data = [this](std::string_view bytes) {
      (void)reader_.feed(bytes, [this](std::string_view record) {
        boost::system::error_code ec;
        auto event = json::parse(record, ec);
        if (!ec && event.is_object()) on_event(event.as_object());
      });
    };
    callbacks.on_end = [](Status) {};
    stream_ = sim_.client().stream({"POST", "/api/v1/scheduler",
                                    {{"content-type", "application/json"}, {"accept", "application/json"}},
                                    json::serialize(body), 0ms},
                                   std::move(callbacks));
  }

  ~RawFramework() {
    if (stream_) stream_->cancel();
  }

 private:
  void send(const std::string& type, const std::string& field, json::object payload) {
    json::object body{{"framework_id", json::object{{"value", framework_id_}}}, {"type", type}, {field, std::move(payload)}};
    sim_.client().request({"POST", "/api/v1/scheduler", {{"content-type", "application/json"}, {"mesos-stream-id", stream_id_}},
                           json::serialize(body), 0ms},
                          [](StatusOr<net::HttpResponse>) {});
  }

  void on_event(const json::object& event) {
    const auto type = event.at("type").as_string();
    if (type == "SUBSCRIBED") {
      framework_id_ = std::string(event.at("subscribed").at("framework_id").at("value").as_string());
    } else if (type == "OFFERS") {
      for (const auto& item : event.at("offers").at("offers").as_array()) offers_.push_back(item.as_object());
      if (going_) launch_on_offers();
    }
  }

  void launch_on_offers() {
    MesosPoolConfig config;
    auto offers = std::move(offers_);
    offers_.clear();
    {
      for (const auto& item : offers) {
        const mesos::Offer offer = mesos::parse_offer(item);
        mesos::OfferResources resources(offer.resources);
        json::array tasks;
        while (!pending_.empty()) {
          auto taken = resources.take(mesos::demand_of(pending_.back().profile));
          if (!taken) break;
          tasks.push_back(mesos::build_task_info(pending_.back(), config, offer, std::move(*taken), framework_id_));
          pending_.pop_back();
        }
        json::object accept{{"offer_ids", json::array{json::object{{"value", offer.id}}}},
                            {"operations", json::array{json::object{{"type", "LAUNCH"},
                                                                    {"launch", json::object{{"task_infos", std::move(tasks)}}}}}}};
        send("ACCEPT", "accept", std::move(accept));
      }
    }
  }

 public:
  // Subscribed and holding offers: the clock starts now.
  bool subscribed() {
    std::promise<bool> ready;
    boost::asio::post(sim_.strand(), [&] { ready.set_value(!framework_id_.empty() && !offers_.empty()); });
    return ready.get_future().get();
  }
  void go() {
    boost::asio::post(sim_.strand(), [this] {
      going_ = true;
      launch_on_offers();
    });
  }

 private:

  Sim& sim_;
  std::vector<LaunchRequest> pending_;
  std::shared_ptr<net::HttpStream> stream_;
  mesos::RecordIoReader reader_;
  std::string stream_id_;
  std::string framework_id_;
  std::vector<json::object> offers_;
  bool going_ = false;
};

void add_rows(Report& report, const std::string& backend, int n, const std::vector<double>& berth_times,
              const std::vector<double>& raw_rates, const std::string& baseline, const std::string& note,
              const std::string& units) {
  std::vector<double> berth_rates;
  for (double t : berth_times) berth_rates.push_back(n / t);
  report.add({backend + ": executors created per second, one driver 0 -> " + std::to_string(n), Spread::of(berth_rates),
              baseline, Spread::of(raw_rates), units, true, note});
  report.add({backend + ": time for one driver to reach " + std::to_string(n) + " executors created",
              Spread::of(berth_times), "", {}, "s", false, ""});
}

}  // namespace

void run_nomad_figures(const BackendBenchOptions& options, Report& report) {
  std::vector<std::string> bodies;
  NomadPoolConfig config;
  for (int i = 1; i <= options.executors; ++i) {
    auto job = nomad::build_job(launch_request("raw", i, "nomad"), config);
    if (job.ok()) {
      bodies.push_back(json::serialize(json::object{{"Job", std::move(*job)}, {"EnforceIndex", true}, {"JobModifyIndex", 0}}));
    }
  }
  std::vector<double> raw_rates, berth_times;
  for (int run = 0; run < options.runs; ++run) {
    const std::string dir = options.work_dir + "/nomad-" + std::to_string(run);
    {
      Sim sim;
      if (!sim.start(options.sim, "nomad", dir + "/raw", nomad_sim_config(), options.connections)) return;
      raw_rates.push_back(nomad_raw_rate(sim, bodies, options.connections));
    }
    Sim sim;
    if (!sim.start(options.sim, "nomad", dir + "/berth", nomad_sim_config())) return;
    Daemon berthd;
    if (!berthd.start(options.berthd, dir + "/berthd",
                      "  - name: nomad\n    type: nomad\n    max_pending: 1000000\n    max_inflight_launches: " +
                          std::to_string(options.connections * 4) + "\n    nomad:\n      address: http://" +
                          sim.address() + "\n      max_connections: " + std::to_string(options.connections) + "\n")) {
      return;
    }
    const auto start = Clock::now();
    if (!berthd.driver("driver-1", options.executors)) return;
    const double seconds = sim.wait_for(options.executors, start, [&] { return nomad_jobs(sim); });
    if (seconds > 0) berth_times.push_back(seconds);
    std::cerr << "berth-bench: nomad run " << run + 1 << " done\n";
  }
  add_rows(report, "Nomad", options.executors, berth_times, raw_rates, "simulator's raw register capacity",
           "baseline: the same job bodies registered directly (create-only) over " + std::to_string(options.connections) +
               " keep-alive connections; for scale, Nomad's published record is about 3,750 placements/s on a real cluster",
           "jobs/s");
}

void run_mesos_figures(const BackendBenchOptions& options, Report& report) {
  std::vector<double> raw_rates, berth_times;
  for (int run = 0; run < options.runs; ++run) {
    const std::string dir = options.work_dir + "/mesos-" + std::to_string(run);
    {
      Sim sim;
      if (!sim.start(options.sim, "mesos", dir + "/raw", mesos_sim_config())) return;
      RawFramework raw(sim, options.executors);
      raw.start();
      const auto subscribed_by = Clock::now() + 30s;
      while (!raw.subscribed() && Clock::now() < subscribed_by) std::this_thread::sleep_for(5ms);
      const auto start = Clock::now();
      raw.go();
      const double seconds = sim.wait_for(options.executors, start, [&] { return mesos_tasks(sim); });
      if (seconds > 0) raw_rates.push_back(options.executors / seconds);
    }
    Sim sim;
    if (!sim.start(options.sim, "mesos", dir + "/berth", mesos_sim_config())) return;
    Daemon berthd;
    if (!berthd.start(options.berthd, dir + "/berthd",
                      "  - name: mesos\n    type: mesos\n    max_pending: 1000000\n    max_inflight_launches: 100000\n"
                      "    mesos:\n      masters: [http://" + sim.address() + "]\n")) {
      return;
    }
    // The framework subscribes first; the clock starts at the driver's request.
    std::this_thread::sleep_for(200ms);
    const auto start = Clock::now();
    if (!berthd.driver("driver-1", options.executors)) return;
    const double seconds = sim.wait_for(options.executors, start, [&] { return mesos_tasks(sim); });
    if (seconds > 0) berth_times.push_back(seconds);
    std::cerr << "berth-bench: mesos run " << run + 1 << " done\n";
  }
  add_rows(report, "Mesos", options.executors, berth_times, raw_rates, "minimal framework launching directly",
           "baseline: a minimal framework that subscribes and packs every offer with the same TaskInfos; Spark's own "
           "Mesos backend declines unmatched offers for 120 s and never revives",
           "tasks/s");
}

// ---------------------------------------------------------------------------------------------
// Backend requests per executor lifecycle
// ---------------------------------------------------------------------------------------------

namespace {

// One backend's lifecycle scenario: how to start its simulator and pool, and which of the
// simulator's routes act on executors (create, kill, per-object reads). Lists, watches and event
// streams serve every executor at once and are left out.
struct LifecycleScenario {
  std::string backend;
  std::string kind;  // berth-sim's argument
  std::function<std::string()> sim_config;
  std::function<std::string(Sim& sim, const std::string& dir)> pool_yaml;
  std::function<bool(const std::string& method, const std::string& route)> acts_on_executors;
};

// Requests the simulator counted on executor routes since its last reset.
long executor_requests(Sim& sim, const LifecycleScenario& scenario) {
  auto response = call(sim.client(), {"GET", "/sim/requests", {}, "", 0ms});
  if (!response.ok() || response->status != 200) return -1;
  boost::system::error_code ec;
  const json::value counts = json::parse(response->body, ec);
  if (ec || !counts.is_object() || !counts.as_object().contains("requests")) return -1;
  long total = 0;
  for (const json::value& entry : counts.at("requests").as_array()) {
    const std::string method(entry.at("method").as_string());
    const std::string route(entry.at("route").as_string());
    if (scenario.acts_on_executors(method, route)) total += static_cast<long>(entry.at("count").as_int64());
  }
  return total;
}

template <typename Predicate>
bool wait_until(Predicate predicate, std::chrono::seconds timeout = 60s) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return predicate();
}

// Launch n executors, wait until they run, kill them all by id, wait until every one has ended
// and berthd has listed the pool three more times; requests on executor routes per executor.
double lifecycle_requests(const BackendBenchOptions& options, const LifecycleScenario& scenario, int n,
                          const std::string& reconciler, const std::string& dir) {
  Sim sim;
  if (!sim.start(options.sim, scenario.kind, dir + "/sim", scenario.sim_config())) return -1;
  Daemon berthd;
  if (!berthd.start(options.berthd, dir + "/berthd", scenario.pool_yaml(sim, dir), reconciler)) return -1;
  const std::string app = "lifecycle";
  if (!berthd.driver(app, 0)) return -1;
  if (!call(sim.client(), {"POST", "/sim/requests/reset", {}, "", 0ms}).ok()) return -1;
  if (!berthd.driver(app, n)) return -1;
  if (!wait_until([&] { return berthd.count(app, {v1::RUNNING}) == n; })) return -1;
  if (!berthd.kill(app, n)) return -1;
  if (!wait_until([&] { return berthd.count(app, {v1::KILLED}) == n; })) return -1;
  const long lists = berthd.lists();
  if (!wait_until([&] { return berthd.lists() >= lists + 3; })) return -1;
  const long requests = executor_requests(sim, scenario);
  return requests < 0 ? -1 : static_cast<double>(requests) / n;
}

std::vector<LifecycleScenario> lifecycle_scenarios() {
  std::vector<LifecycleScenario> scenarios;
  scenarios.push_back(
      {"Kubernetes", "kubernetes",
       [] {
         return std::string(
             "nodes:\n  - {name: bench-node-0, cpu: \"100000\", memory: 1000Ti, max_pods: 100000}\n"
             "behaviours:\n  - selector: spark-role=executor\n    annotations: {sim.berth.dev/start-delay: 0s}\n");
       },
       [](Sim& sim, const std::string& dir) {
         write_file(dir + "/kubeconfig",
                    "apiVersion: v1\nkind: Config\ncurrent-context: sim\n"
                    "clusters: [{name: sim, cluster: {server: \"http://" + sim.address() + "\"}}]\n"
                    "users: [{name: bench, user: {}}]\n"
                    "contexts: [{name: sim, context: {cluster: sim, user: bench, namespace: bench}}]\n");
         return "  - name: k8s\n    type: kubernetes\n    kubernetes:\n      kubeconfig: " + dir + "/kubeconfig\n";
       },
       [](const std::string& method, const std::string& route) {
         return route.find("/pods/{name}") != std::string::npos ||
                (route == "/api/v1/namespaces/{ns}/pods" && (method == "POST" || method == "DELETE"));
       }});
  scenarios.push_back({"Nomad", "nomad", [] { return nomad_sim_config(); },
                       [](Sim& sim, const std::string&) {
                         return "  - name: nomad\n    type: nomad\n    nomad:\n      address: http://" + sim.address() +
                                "\n";
                       },
                       [](const std::string& method, const std::string& route) {
                         return route.find("{id}") != std::string::npos ||
                                (route == "/v1/jobs" && (method == "POST" || method == "PUT"));
                       }});
  scenarios.push_back({"Mesos", "mesos", [] { return mesos_sim_config(); },
                       [](Sim& sim, const std::string&) {
                         return "  - name: mesos\n    type: mesos\n    mesos:\n      masters: [http://" +
                                sim.address() + "]\n";
                       },
                       [](const std::string& method, const std::string& route) {
                         return method == "POST" &&
                                (route == "/api/v1/scheduler ACCEPT" || route == "/api/v1/scheduler KILL");
                       }});
  return scenarios;
}

}  // namespace

void run_request_figures(const BackendBenchOptions& options, Report& report) {
  const int n = 20;
  // berthd as configured (kills tracked), and berthd made to send a kill again on every sighting
  // of a live object (grace, margin and cap of 1 ms): what every kill cost before kills were
  // tracked, when only a kill in flight suppressed another.
  const std::string tracked = ", resync_interval: 1s, kill_grace: 2s";
  const std::string untracked = ", resync_interval: 1s, kill_grace: 1ms, kill_retry_margin: 1ms, kill_retry_max: 1ms";
  for (const LifecycleScenario& scenario : lifecycle_scenarios()) {
    std::vector<double> berth, baseline;
    for (int run = 0; run < options.runs; ++run) {
      const std::string dir = options.work_dir + "/requests-" + scenario.kind + "-" + std::to_string(run);
      const double with = lifecycle_requests(options, scenario, n, tracked, dir + "/tracked");
      const double without = lifecycle_requests(options, scenario, n, untracked, dir + "/untracked");
      if (with >= 0) berth.push_back(with);
      if (without >= 0) baseline.push_back(without);
    }
    std::cerr << "berth-bench: " << scenario.kind << " request counts done\n";
    if (berth.empty()) continue;
    report.add({scenario.backend + ": backend requests per executor lifecycle (launch -> kill -> gone, " +
                    std::to_string(n) + " executors)",
                Spread::of(berth), "kills re-sent on every sighting", Spread::of(baseline), "requests", false,
                "counted by the simulator on the routes that act on executors, until berthd has listed the pool "
                "three times after every executor ended; the budget is 3 (creation, one kill, at most one "
                "follow-up)"});
  }
}

}  // namespace berth::bench
