#include "bench/kubernetes_figures.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <optional>
#include <thread>

#include "adapters/kubernetes/pod_spec.h"
#include "bench/process.h"
#include "berth/v1/berth.grpc.pb.h"
#include "net/http_client.h"

namespace berth::bench {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// An io_context on its own thread for the HTTP clients of the harness.
class IoThread {
 public:
  IoThread() : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~IoThread() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  boost::asio::any_io_executor executor() { return io_.get_executor(); }

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

// The simulator with room for every pod and no start delay for executors.
class Simulator {
 public:
  bool start(const KubernetesBenchOptions& options, const std::string& name) {
    dir_ = options.work_dir + "/" + name;
    std::filesystem::create_directories(dir_);
    std::string config =
        "history_limit: 500000\n"
        "nodes:\n";
    for (int i = 0; i < 10; ++i) {
      config += "  - {name: bench-node-" + std::to_string(i) +
                ", cpu: \"100000\", memory: 1000Ti, max_pods: 100000}\n";
    }
    config +=
        "behaviours:\n"
        "  - selector: spark-role=executor\n"
        "    annotations: {sim.berth.dev/start-delay: 0s}\n";
    write_file(dir_ + "/sim.yaml", config);
    std::string error;
    if (!process_.start({options.sim, "kubernetes", "--listen", "127.0.0.1:0", "--config", dir_ + "/sim.yaml",
                         "--port-file", dir_ + "/sim.port"},
                        dir_ + "/sim.log", &error)) {
      std::cerr << "berth-bench: " << error << "\n";
      return false;
    }
    // The simulator's port file holds the bare address.
    const auto deadline = Clock::now() + 30s;
    while (Clock::now() < deadline) {
      std::ifstream in(dir_ + "/sim.port");
      std::getline(in, address_);
      if (!address_.empty()) break;
      std::this_thread::sleep_for(5ms);
    }
    if (address_.empty()) {
      std::cerr << "berth-bench: berth-sim did not start; see " << dir_ << "/sim.log\n";
      return false;
    }
    net::HttpClientOptions client_options;
    client_options.base_url = "http://" + address_;
    client_options.max_connections = 64;
    client_ = std::make_unique<net::HttpClient>(io_.executor(), client_options);
    if (!client_->init().ok()) return false;
    write_file(dir_ + "/kubeconfig",
               "apiVersion: v1\nkind: Config\ncurrent-context: sim\n"
               "clusters: [{name: sim, cluster: {server: \"http://" + address_ + "\"}}]\n"
               "users: [{name: bench, user: {}}]\n"
               "contexts: [{name: sim, context: {cluster: sim, user: bench, namespace: bench}}]\n");
    return true;
  }

  ~Simulator() {
    if (watch_) watch_->cancel();
    process_.kill(SIGKILL);
  }

  long pods() {
    auto response = call(*client_, {"GET", "/sim/state", {}, "", 0ms});
    if (!response.ok() || response->status != 200) return -1;
    boost::system::error_code ec;
    auto state = boost::json::parse(response->body, ec);
    if (ec || !state.is_object()) return -1;
    return state.as_object().at("pods").to_number<long>();
  }

  // Seconds until the simulator holds at least n pods, polling every 2 ms; negative on timeout.
  double wait_for_pods(long n, Clock::time_point since, std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (pods() >= n) return seconds_since(since);
      std::this_thread::sleep_for(2ms);
    }
    return -1;
  }

  // Watches the namespace's pods from now on and records when each pod was first seen (ADDED).
  void watch_creations() {
    auto listed = call(*client_, {"GET", "/api/v1/namespaces/bench/pods?limit=1", {}, "", 0ms});
    std::string rv;
    boost::system::error_code ec;
    if (listed.ok()) {
      auto body = boost::json::parse(listed->body, ec);
      if (!ec && body.is_object()) rv = std::string(body.at("metadata").at("resourceVersion").as_string());
    }
    net::StreamCallbacks callbacks;
    callbacks.on_data = [this](std::string_view bytes) {
      const auto now = Clock::now();
      std::lock_guard lock(watch_mutex_);
      watch_buffer_.append(bytes);
      std::size_t start = 0;
      for (std::size_t end; (end = watch_buffer_.find('\n', start)) != std::string::npos; start = end + 1) {
        boost::system::error_code parse_ec;
        auto event = boost::json::parse(std::string_view(watch_buffer_).substr(start, end - start), parse_ec);
        if (parse_ec || !event.is_object() || event.at("type") != "ADDED") continue;
        const auto& name = event.at("object").at("metadata").at("name").as_string();
        created_.emplace(std::string(name), now);
      }
      watch_buffer_.erase(0, start);
    };
    callbacks.on_end = [](Status) {};
    watch_ = client_->stream({"GET", "/api/v1/namespaces/bench/pods?watch=true&resourceVersion=" + rv, {}, "", 0ms},
                             std::move(callbacks));
  }

  std::optional<Clock::time_point> created(const std::string& name) {
    std::lock_guard lock(watch_mutex_);
    auto it = created_.find(name);
    if (it == created_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<std::string> nodes() {
    std::vector<std::string> names;
    for (int i = 0; i < 10; ++i) names.push_back("bench-node-" + std::to_string(i));
    return names;
  }

  bool kill_node(const std::string& name) {
    auto response = call(*client_, {"POST", "/sim/nodes/" + name + "/kill", {{"content-type", "application/json"}},
                                    R"({"mode":"fail"})", 0ms});
    return response.ok() && response->status == 200;
  }

  net::HttpClient& client() { return *client_; }
  double cpu_seconds() const { return process_.cpu_seconds(); }
  const std::string& dir() const { return dir_; }
  const std::string& address() const { return address_; }

 private:
  IoThread io_;
  ChildProcess process_;
  std::string dir_;
  std::string address_;
  std::unique_ptr<net::HttpClient> client_;
  std::shared_ptr<net::HttpStream> watch_;
  std::mutex watch_mutex_;
  std::string watch_buffer_;
  std::map<std::string, Clock::time_point> created_;
};

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

// Pod bodies exactly as berthd's adapter builds them, for the direct-client baselines.
std::vector<std::string> pod_bodies(int n, const std::string& app) {
  KubernetesPoolConfig config;
  config.name_space = "bench";
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i) {
    LaunchRequest request;
    request.backend_name = "berth-" + app + "-exec-" + std::to_string(i);
    request.daemon_id = "bench";
    request.pool = "k8s";
    request.app = app;
    request.tenant = "default";
    request.executor = i;
    request.spec.image = "apache/spark:3.5.1";
    request.spec.command = {"/opt/entrypoint.sh", "executor"};
    request.driver.url = "spark://CoarseGrainedScheduler@driver:7078";
    auto pod = kubernetes::build_pod(request, config);
    if (pod.ok()) out.push_back(boost::json::serialize(*pod));
  }
  return out;
}

// Baseline A: the simulator's raw create capacity over `connections` keep-alive connections.
double raw_create_rate(Simulator& sim, const std::vector<std::string>& bodies, int connections) {
  std::atomic<std::size_t> next{0};
  std::atomic<int> failures{0};
  const auto start = Clock::now();
  std::vector<std::thread> senders;
  for (int c = 0; c < connections; ++c) {
    senders.emplace_back([&] {
      for (std::size_t i = next++; i < bodies.size(); i = next++) {
        auto response = call(sim.client(), {"POST", "/api/v1/namespaces/bench/pods",
                                            {{"content-type", "application/json"}}, bodies[i], 0ms});
        if (!response.ok() || response->status != 201) failures++;
      }
    });
  }
  for (auto& t : senders) t.join();
  const double seconds = seconds_since(start);
  if (failures > 0) std::cerr << "berth-bench: raw create: " << failures << " failures\n";
  return static_cast<double>(bodies.size()) / seconds;
}

// Baseline B: Spark's ExecutorPodsAllocator pacing: a batch of 10 pods, then wait for the batch
// and for spark.kubernetes.allocation.batch.delay (1 s) before the next one.
double spark_paced_rate(Simulator& sim, const std::vector<std::string>& bodies) {
  const auto start = Clock::now();
  for (std::size_t first = 0; first < bodies.size(); first += 10) {
    const auto batch_start = Clock::now();
    std::vector<std::thread> batch;
    for (std::size_t i = first; i < std::min(bodies.size(), first + 10); ++i) {
      batch.emplace_back([&sim, &bodies, i] {
        (void)call(sim.client(), {"POST", "/api/v1/namespaces/bench/pods", {{"content-type", "application/json"}},
                                  bodies[i], 0ms});
      });
    }
    for (auto& t : batch) t.join();
    if (first + 10 < bodies.size()) std::this_thread::sleep_until(batch_start + 1s);
  }
  return static_cast<double>(bodies.size()) / seconds_since(start);
}

// Baseline C: the official Python client creating pods one by one. Returns 0 when the client is
// not installed.
double python_client_rate(const KubernetesBenchOptions& options, Simulator& sim, const std::vector<std::string>& bodies) {
  const std::string bodies_file = sim.dir() + "/python-pods.json";
  {
    std::ofstream out(bodies_file);
    out << "[";
    for (std::size_t i = 0; i < bodies.size(); ++i) out << (i ? "," : "") << bodies[i];
    out << "]";
  }
  const std::string& script = options.python_script;
  const std::string result_file = sim.dir() + "/python-result";
  ChildProcess python;
  std::string error;
  if (!python.start({"/usr/bin/python3", script, sim.dir() + "/kubeconfig", bodies_file, result_file},
                    sim.dir() + "/python.log", &error)) {
    return 0;
  }
  python.wait();
  std::ifstream in(result_file);
  double rate = 0;
  in >> rate;
  return rate;
}

class Berthd {
 public:
  bool start(const KubernetesBenchOptions& options, Simulator& sim, const std::string& name, bool fresh = true) {
    dir_ = options.work_dir + "/" + name;
    if (fresh) {
      std::filesystem::remove_all(dir_);
      std::filesystem::create_directories(dir_);
      write_file(dir_ + "/berthd.yaml",
                 "state_dir: " + dir_ + "/state\n"
                 "listen: 127.0.0.1:0\n"
                 "allow_unauthenticated_loopback: true\n"
                 "metrics_listen: \"\"\n"
                 "logging: {level: warn}\n"
                 "reconciler: {max_pending_per_app: 100000, event_window: 100000}\n"
                 "pools:\n"
                 "  - name: k8s\n"
                 "    type: kubernetes\n"
                 "    max_pending: 1000000\n"
                 "    kubernetes:\n"
                 "      kubeconfig: " + sim.dir() + "/kubeconfig\n"
                 "      qps: 0\n"
                 "      max_connections: " + std::to_string(options.connections) + "\n");
    }
    std::filesystem::remove(dir_ + "/ports");
    std::string error;
    started_ = Clock::now();
    if (!process_.start({options.berthd, "--config", dir_ + "/berthd.yaml", "--port-file", dir_ + "/ports"},
                        dir_ + "/berthd.log", &error)) {
      std::cerr << "berth-bench: " << error << "\n";
      return false;
    }
    address_ = process_.wait_for_address(dir_ + "/ports", "grpc", 120s);
    serving_seconds_ = seconds_since(started_);
    if (address_.empty()) {
      std::cerr << "berth-bench: berthd did not start; see " << dir_ << "/berthd.log\n";
      return false;
    }
    channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    executors_ = v1::Executors::NewStub(channel_);
    admin_ = v1::Admin::NewStub(channel_);
    return true;
  }

  bool register_app(const std::string& app) {
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
    grpc::Status status = executors_->RegisterApplication(&ctx, request, &out);
    if (!status.ok()) std::cerr << "berth-bench: register " << app << ": " << status.error_message() << "\n";
    return status.ok();
  }

  bool target(const std::string& app, int n) {
    grpc::ClientContext ctx;
    v1::RequestTotalExecutorsRequest request;
    request.set_app_id(app);
    (*request.mutable_totals())[0] = n;
    v1::RequestTotalExecutorsResponse out;
    return executors_->RequestTotalExecutors(&ctx, request, &out).ok();
  }

  // Sends a target without waiting for the reply (open-loop load).
  void target_async(const std::string& app, int n) {
    auto ctx = std::make_shared<grpc::ClientContext>();
    auto request = std::make_shared<v1::RequestTotalExecutorsRequest>();
    auto response = std::make_shared<v1::RequestTotalExecutorsResponse>();
    request->set_app_id(app);
    (*request->mutable_totals())[0] = n;
    executors_->async()->RequestTotalExecutors(ctx.get(), request.get(), response.get(),
                                               [ctx, request, response](grpc::Status) {});
  }

  bool drain(const std::string& pool) {
    grpc::ClientContext ctx;
    v1::DrainPoolRequest request;
    request.set_pool(pool);
    v1::DrainPoolResponse out;
    return admin_->DrainPool(&ctx, request, &out).ok();
  }

  v1::Executors::Stub& executors() { return *executors_; }

  // Executors RUNNING in the pool, and whether nothing is on its way (pending states).
  std::pair<long, long> running_and_pending() {
    grpc::ClientContext ctx;
    v1::ListPoolsResponse pools;
    if (!admin_->ListPools(&ctx, v1::ListPoolsRequest{}, &pools).ok() || pools.pools().empty()) return {-1, -1};
    const auto& counts = pools.pools(0).counts();
    auto get = [&](const char* s) -> long { auto it = counts.find(s); return it == counts.end() ? 0 : it->second; };
    if (!pools.pools(0).synced()) return {-1, -1};
    return {get("RUNNING"), get("REQUESTED") + get("LAUNCHING") + get("PENDING")};
  }

  double wait_for_running(long n, std::chrono::seconds timeout) {
    const auto start = Clock::now();
    const auto deadline = start + timeout;
    while (Clock::now() < deadline) {
      auto [running, pending] = running_and_pending();
      if (running >= n && pending == 0) return seconds_since(start);
      std::this_thread::sleep_for(5ms);
    }
    return -1;
  }

  ChildProcess& process() { return process_; }
  double serving_seconds() const { return serving_seconds_; }
  Clock::time_point started() const { return started_; }

 private:
  ChildProcess process_;
  std::string dir_;
  std::string address_;
  Clock::time_point started_;
  double serving_seconds_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Executors::Stub> executors_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

}  // namespace

void run_launch_figures(const KubernetesBenchOptions& options, Report& report);
void run_scale_figures(const KubernetesBenchOptions& options, Report& report);

void run_kubernetes_figures(const KubernetesBenchOptions& options, Report& report) {
  if (options.launch_figures) run_launch_figures(options, report);
  if (options.scale_figures) run_scale_figures(options, report);
}

void run_launch_figures(const KubernetesBenchOptions& options, Report& report) {
  std::vector<double> raw_rates, berth_rates, berth_times, spark_rates, python_rates;
  std::vector<double> berthd_cpu_per_launch, sim_busy;  // where the time goes
  const auto raw_bodies = pod_bodies(options.raw_pods, "raw");
  const auto spark_bodies = pod_bodies(options.spark_pods, "spark");
  const auto python_bodies = pod_bodies(options.python_pods, "python");

  for (int run = 0; run < options.runs; ++run) {
    {
      Simulator sim;
      if (!sim.start(options, "raw-" + std::to_string(run))) return;
      raw_rates.push_back(raw_create_rate(sim, raw_bodies, options.connections));
    }
    {
      Simulator sim;
      if (!sim.start(options, "berth-" + std::to_string(run))) return;
      Berthd berthd;
      if (!berthd.start(options, sim, "berthd-" + std::to_string(run))) return;
      berthd.register_app("driver-1");
      const double berthd_cpu_before = berthd.process().cpu_seconds();
      const double sim_cpu_before = sim.cpu_seconds();
      const auto start = Clock::now();
      berthd.target("driver-1", options.executors_per_driver);
      const double seconds = sim.wait_for_pods(options.executors_per_driver, start, 120s);
      if (seconds > 0) {
        berth_times.push_back(seconds);
        berth_rates.push_back(options.executors_per_driver / seconds);
        berthd_cpu_per_launch.push_back((berthd.process().cpu_seconds() - berthd_cpu_before) * 1e6 /
                                        options.executors_per_driver);
        sim_busy.push_back((sim.cpu_seconds() - sim_cpu_before) / seconds);
      }
      berthd.process().kill(SIGTERM);
    }
    std::cerr << "berth-bench: launch run " << run + 1 << " done\n";
  }
  {
    Simulator sim;
    if (sim.start(options, "spark")) spark_rates.push_back(spark_paced_rate(sim, spark_bodies));
  }
  {
    Simulator sim;
    if (sim.start(options, "python")) {
      const double rate = python_client_rate(options, sim, python_bodies);
      if (rate > 0) python_rates.push_back(rate);
    }
  }

  const std::string n = std::to_string(options.executors_per_driver);
  report.add({"executors created per second, one driver 0 -> " + n, Spread::of(berth_rates),
              "simulator's raw create capacity (A)", Spread::of(raw_rates), "pods/s", true,
              "A: the same pod bodies POSTed directly over " + std::to_string(options.connections) +
                  " keep-alive connections, as many as berthd's pool uses"});
  if (!berthd_cpu_per_launch.empty()) {
    report.add({"berthd CPU per executor launched (0 -> " + n + ")", Spread::of(berthd_cpu_per_launch), "", {}, "us",
                false,
                "where the time goes: berthd's CPU over the ramp (its record committed, the pod built and POSTed, "
                "the watch events parsed) divided by the executors; the simulator was busy " +
                    std::to_string(static_cast<int>(Spread::of(sim_busy).median * 100)) +
                    "% of one core meanwhile; when berthd's figure times the rate nears one core, berthd is the limit"});
  }
  report.add({"executors created per second, one driver 0 -> " + n, Spread::of(berth_rates),
              "Spark's allocator pacing (B)", Spread::of(spark_rates), "pods/s", true,
              "B: batches of 10, each after the previous one was created and 1 s after it started "
              "(spark.kubernetes.allocation.batch.size/delay defaults), " +
                  std::to_string(options.spark_pods) + " pods"});
  if (!python_rates.empty()) {
    report.add({"executors created per second, one driver 0 -> " + n, Spread::of(berth_rates),
                "official Python client, one by one (C)", Spread::of(python_rates), "pods/s", true,
                "C: python3-kubernetes create_namespaced_pod in a loop, " + std::to_string(options.python_pods) +
                    " pods"});
  } else {
    report.note("Baseline C (the official Python client) was not measured: python3-kubernetes is not installed.");
  }
  std::vector<double> spark_times;
  for (double r : spark_rates) spark_times.push_back(options.executors_per_driver / r);
  report.add({"time for one driver to reach " + n + " executors created", Spread::of(berth_times),
              "Spark's allocator pacing (B), extrapolated", Spread::of(spark_times), "s", false,
              "B's time is its measured rate applied to " + n + " pods"});

  // Latency added: open-loop launches at 10%, 50% and 90% of the rate measured above, from the
  // scheduled send time of RequestTotalExecutors (+1) to the pod's ADDED on a watch of the
  // simulator; beside the same measure for pods POSTed directly at the same rate.
  if (!berth_rates.empty()) {
    const double max_rate = Spread::of(berth_rates).median;
    Simulator sim;
    Berthd berthd;
    if (!sim.start(options, "latency") || !berthd.start(options, sim, "berthd-latency")) return;
    constexpr int kApps = 50;
    for (int a = 0; a < kApps; ++a) berthd.register_app("lat-" + std::to_string(a));
    sim.watch_creations();
    std::vector<int> counts(kApps, 0);
    for (const int percent : {10, 50, 90}) {
      const double rate = max_rate * percent / 100.0;
      const int total = std::max(50, static_cast<int>(rate * options.latency_seconds));
      // Through berthd.
      std::vector<std::pair<std::string, Clock::time_point>> sent;
      const auto start = Clock::now();
      for (int i = 0; i < total; ++i) {
        const auto when = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i / rate));
        std::this_thread::sleep_until(when);
        const int app = i % kApps;
        const int n = ++counts[static_cast<std::size_t>(app)];
        sent.emplace_back("berth-lat-" + std::to_string(app) + "-exec-" + std::to_string(n), when);
        berthd.target_async("lat-" + std::to_string(app), n);
      }
      // Directly, the same pod bodies at the same rate.
      const auto bodies = pod_bodies(total, "direct-" + std::to_string(percent));
      std::vector<std::pair<std::string, Clock::time_point>> direct;
      const auto direct_start = Clock::now();
      for (int i = 0; i < total; ++i) {
        const auto when =
            direct_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i / rate));
        std::this_thread::sleep_until(when);
        direct.emplace_back("berth-direct-" + std::to_string(percent) + "-exec-" + std::to_string(i + 1), when);
        sim.client().request({"POST", "/api/v1/namespaces/bench/pods", {{"content-type", "application/json"}},
                              bodies[static_cast<std::size_t>(i)], 0ms},
                             [](StatusOr<net::HttpResponse>) {});
      }
      auto latencies = [&sim](const std::vector<std::pair<std::string, Clock::time_point>>& what, long* missing) {
        std::vector<double> ms;
        const auto deadline = Clock::now() + 60s;
        for (const auto& [name, when] : what) {
          std::optional<Clock::time_point> created;
          while (!(created = sim.created(name)) && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
          if (!created) {
            ++*missing;
            continue;
          }
          ms.push_back(std::chrono::duration<double, std::milli>(*created - when).count());
        }
        return ms;
      };
      long missing = 0, direct_missing = 0;
      const auto through = latencies(sent, &missing);
      const auto baseline = latencies(direct, &direct_missing);
      if (missing + direct_missing > 0) {
        report.note("Latency at " + std::to_string(percent) + "%: " + std::to_string(missing) + " pods through berthd and " +
                    std::to_string(direct_missing) + " direct ones were not seen within 60 s.");
      }
      const std::string at = " at " + std::to_string(percent) + "% of the maximum rate (" +
                             std::to_string(static_cast<int>(rate)) + " launches/s)";
      report.add({"request to pod created, p50" + at, Spread::of({percentile(through, 0.5)}),
                  "pod POSTed directly at the same rate", Spread::of({percentile(baseline, 0.5)}), "ms", false,
                  percent == 10 ? "open loop: latency from each call's scheduled send time to the pod's ADDED event on "
                                  "a watch of the simulator, " + std::to_string(total) + " launches per level"
                                : ""});
      report.add({"request to pod created, p99" + at, Spread::of({percentile(through, 0.99)}),
                  "pod POSTed directly at the same rate", Spread::of({percentile(baseline, 0.99)}), "ms", false, ""});
    }
    berthd.process().kill(SIGTERM);
    std::cerr << "berth-bench: latency done\n";
  }

}

// Scale and recovery: many live executors across many applications.
void run_scale_figures(const KubernetesBenchOptions& options, Report& report) {
  {
    Simulator sim;
    if (!sim.start(options, "scale")) return;
    Berthd berthd;
    if (!berthd.start(options, sim, "berthd-scale")) return;
    const int per_app = std::max(1, options.scale_executors / options.scale_apps);
    for (int a = 0; a < options.scale_apps; ++a) berthd.register_app("app-" + std::to_string(a));
    const long rss_empty_kib = berthd.process().rss_kib();
    const double cpu_before = berthd.process().cpu_seconds();
    const double sim_cpu_before = sim.cpu_seconds();
    const auto ramp_start = Clock::now();
    for (int a = 0; a < options.scale_apps; ++a) berthd.target("app-" + std::to_string(a), per_app);
    const long live = static_cast<long>(per_app) * options.scale_apps;
    const double ramp_seconds = berthd.wait_for_running(live, 600s);
    if (ramp_seconds < 0) {
      report.note("Scale: berthd did not reach " + std::to_string(live) + " running executors within 10 minutes.");
      return;
    }
    const double ramp_wall = seconds_since(ramp_start);
    const long rss_kib = berthd.process().rss_kib();
    const double cpu = berthd.process().cpu_seconds() - cpu_before;
    const double sim_cpu = sim.cpu_seconds() - sim_cpu_before;
    const std::string label = std::to_string(live) + " live executors across " + std::to_string(options.scale_apps) + " applications";
    report.add({"berthd RSS with " + label, Spread::of({rss_kib / 1024.0}), "", {}, "MiB", false,
                "RSS with the applications registered and no executor: " + std::to_string(rss_empty_kib / 1024) + " MiB"});
    report.add({"memory per live executor", Spread::of({(rss_kib - rss_empty_kib) * 1024.0 / live}), "", {}, "bytes",
                false, ""});
    report.add({"ramp to " + label + " (all RUNNING)", Spread::of({ramp_wall}), "", {}, "s", false,
                "berthd used " + std::to_string(cpu).substr(0, 5) + " CPU seconds for it, the simulator " +
                    std::to_string(sim_cpu).substr(0, 5) + " (it is single-threaded: when it nears the ramp's "
                    "wall time, the simulator is the limit)"});

    // Recovery: kill -9 and restart on the same state.
    berthd.process().kill(SIGKILL);
    Berthd restarted;
    if (!restarted.start(options, sim, "berthd-scale", /*fresh=*/false)) return;
    const double serving = restarted.serving_seconds();
    const double reconciled = restarted.wait_for_running(live, 600s);
    report.add({"restart after kill -9 with " + label + ": time to serving", Spread::of({serving}), "", {}, "s",
                false, "from exec to the gRPC port accepting calls (the first list of every pool is done)"});
    if (reconciled >= 0) {
      report.add({"restart after kill -9: time until every pool is reconciled", Spread::of({serving + reconciled}),
                  "", {}, "s", false, "every executor adopted RUNNING and nothing pending"});
    }

    // Watch ingestion: every node fails at once; each executor's change to LOST is absorbed from
    // the pod watch, committed and forwarded to a WatchEvents client. The pool is drained first
    // so that no replacement competes for the CPU.
    if (reconciled >= 0 && restarted.drain("k8s")) {
      // The watcher counts each executor's LOST once; a watcher that falls too far behind is
      // ended by berthd (RESOURCE_EXHAUSTED) and resumes from the last revision it saw.
      std::atomic<long> lost{0};
      std::atomic<bool> synced{false};
      std::atomic<bool> stopping{false};
      std::atomic<int> resumed{0};
      std::mutex context_mutex;
      std::unique_ptr<grpc::ClientContext> watch_context;
      std::thread watcher([&] {
        std::set<std::pair<std::string, std::int64_t>> seen;
        std::uint64_t revision = 0;
        while (!stopping) {
          v1::WatchEventsRequest request;
          request.set_from_revision(revision);
          grpc::ClientContext* context;
          {
            std::lock_guard lock(context_mutex);
            if (stopping) break;
            watch_context = std::make_unique<grpc::ClientContext>();
            context = watch_context.get();
          }
          auto reader = restarted.executors().WatchEvents(context, request);
          v1::Event event;
          while (reader->Read(&event)) {
            revision = std::max<std::uint64_t>(revision, event.revision());
            if (event.type() == v1::Event::SYNCED) synced = true;
            if (synced && event.type() == v1::Event::EXECUTOR && event.executor().state() == v1::LOST &&
                seen.insert({event.executor().app_id(), event.executor().executor_id()}).second) {
              ++lost;
            }
          }
          reader->Finish();
          if (!stopping) ++resumed;
        }
      });
      const auto sync_deadline = Clock::now() + 120s;
      while (!synced && Clock::now() < sync_deadline) std::this_thread::sleep_for(5ms);
      const double cpu_before_burst = restarted.process().cpu_seconds();
      const auto burst = Clock::now();
      for (const auto& node : sim.nodes()) sim.kill_node(node);
      const auto deadline = Clock::now() + 300s;
      while (lost < live && Clock::now() < deadline) std::this_thread::sleep_for(2ms);
      const double wall = seconds_since(burst);
      const double burst_cpu = restarted.process().cpu_seconds() - cpu_before_burst;
      {
        std::lock_guard lock(context_mutex);
        stopping = true;
        if (watch_context) watch_context->TryCancel();
      }
      watcher.join();
      if (lost >= live) {
        report.add({"watch ingestion: status changes absorbed and forwarded to a WatchEvents client",
                    Spread::of({static_cast<double>(live) / wall}), "", {}, "changes/s", true,
                    std::to_string(live) + " executors LOST at once (every node failed); berthd used " +
                        std::to_string(burst_cpu).substr(0, 5) + " CPU seconds for them, " +
                        std::to_string(static_cast<long>(live / std::max(burst_cpu, 1e-3))) +
                        " changes per CPU second; the wall time includes the simulator emitting them" +
                        (resumed > 0 ? "; the watcher fell behind and resumed " + std::to_string(resumed.load()) + " time(s)"
                                     : "")});
      } else {
        report.note("Watch ingestion: only " + std::to_string(lost.load()) + " of " + std::to_string(live) +
                    " LOST events arrived within 300 s.");
      }
    }
    restarted.process().kill(SIGTERM);
  }
}

}  // namespace berth::bench
