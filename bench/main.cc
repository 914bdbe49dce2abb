// berth-bench: measures Berth beside its baselines in one run on one machine and writes
// bench/results/<name>.md and .json. It starts what it needs itself (berthd with a generated
// configuration, an in-process gRPC echo service) on loopback.
//
// Figures so far:
//   API: RequestTotalExecutors and ListExecutors calls/s and p50/p99 latency at rising
//        concurrency, beside a trivial gRPC echo service (the gRPC ceiling on this machine).

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <thread>

#include "bench/backend_figures.h"
#include "bench/kubernetes_figures.h"
#include "bench/load.h"
#include "bench/process.h"
#include "bench/report.h"
#include "berth/bench/echo.grpc.pb.h"
#include "berth/v1/berth.grpc.pb.h"

namespace {

using namespace berth::bench;
using namespace std::chrono_literals;

class EchoService final : public berth::bench::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* ctx, const EchoMessage* request,
                                 EchoMessage* response) override {
    response->set_payload(request->payload());
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Several channels, each its own HTTP/2 connection, so one connection is not the limit.
std::vector<std::shared_ptr<grpc::Channel>> channels(const std::string& address, int n) {
  std::vector<std::shared_ptr<grpc::Channel>> out;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("berth.bench.channel", i);  // distinct arguments: distinct subchannels
    out.push_back(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  }
  return out;
}

struct Options {
  std::string self;
  std::string berthd;
  std::string results_dir = "bench/results";
  std::string name = "short";
  int runs = 3;
  std::chrono::milliseconds duration{2000};
  std::vector<int> concurrency{1, 8, 32, 128};
  bool full = false;
  std::set<std::string> figures{"api", "kubernetes", "scale", "nomad", "mesos", "requests"};
  int scale_executors = 0;  // 0: 10,000 (100,000 with --full)
  bool wants(const std::string& group) const { return figures.count(group) > 0; }
};

std::string berthd_config(const std::string& dir) {
  return "state_dir: " + dir + "/state\n"
         "listen: 127.0.0.1:0\n"
         "allow_unauthenticated_loopback: true\n"
         "metrics_listen: \"\"\n"
         "logging: {level: warn}\n"
         "pools:\n"
         "  - name: local\n"
         "    type: local\n"
         "    max_pending: 100000\n"
         "    local: {allow_root: true}\n";
}

int run(const Options& options) {
  Report report(options.name);
  const int kChannels = 4;
  const int kApps = 64;

  const std::string dir = make_temp_dir("berth-bench");

  // Baseline: the echo service, in its own process like berthd (this binary, --serve-echo).
  ChildProcess echo_process;
  std::string error;
  if (!echo_process.start({options.self, "--serve-echo", dir + "/echo-port"}, dir + "/echo.log", &error)) {
    std::cerr << "berth-bench: " << error << "\n";
    return 1;
  }
  const std::string echo_address = echo_process.wait_for_address(dir + "/echo-port", "grpc", 30s);
  auto echo_channels = channels(echo_address, kChannels);
  std::vector<std::unique_ptr<berth::bench::Echo::Stub>> echo_stubs;
  for (auto& c : echo_channels) echo_stubs.push_back(berth::bench::Echo::NewStub(c));

  // Berth: berthd on a generated configuration.
  write_file(dir + "/berthd.yaml", berthd_config(dir));
  ChildProcess berthd;
  if (!berthd.start({options.berthd, "--config", dir + "/berthd.yaml", "--port-file", dir + "/ports"},
                    dir + "/berthd.log", &error)) {
    std::cerr << "berth-bench: " << error << "\n";
    return 1;
  }
  const std::string address = berthd.wait_for_address(dir + "/ports", "grpc", 30s);
  if (address.empty()) {
    std::cerr << "berth-bench: berthd did not start; see " << dir << "/berthd.log\n";
    return 1;
  }
  auto berth_channels = channels(address, kChannels);
  std::vector<std::unique_ptr<berth::v1::Executors::Stub>> stubs;
  for (auto& c : berth_channels) stubs.push_back(berth::v1::Executors::NewStub(c));
  auto admin = berth::v1::Admin::NewStub(berth_channels.front());

  // Applications for the API figure live on a drained pool: their targets change with every
  // call (each call is a durable change) but nothing is launched.
  {
    grpc::ClientContext ctx;
    berth::v1::DrainPoolRequest drain;
    drain.set_pool("local");
    berth::v1::DrainPoolResponse drained;
    admin->DrainPool(&ctx, drain, &drained);
  }
  for (int i = 0; i < kApps; ++i) {
    grpc::ClientContext ctx;
    berth::v1::RegisterApplicationRequest request;
    request.set_app_id("bench-api-" + std::to_string(i));
    auto* profile = request.add_profiles();
    profile->set_cores(1);
    profile->set_heap_mib(1024);
    request.mutable_launch()->add_command("/bin/true");
    berth::v1::Application app;
    grpc::Status status = stubs[0]->RegisterApplication(&ctx, request, &app);
    if (!status.ok()) {
      std::cerr << "berth-bench: register: " << status.error_message() << "\n";
      return 1;
    }
  }

  std::atomic<std::uint64_t> sequence{0};
  const IssueCall request_total = [&](int caller, std::function<void(bool, const std::string&)> done) {
    auto ctx = std::make_shared<grpc::ClientContext>();
    auto request = std::make_shared<berth::v1::RequestTotalExecutorsRequest>();
    auto response = std::make_shared<berth::v1::RequestTotalExecutorsResponse>();
    request->set_app_id("bench-api-" + std::to_string(caller % kApps));
    (*request->mutable_totals())[0] = static_cast<int>(1 + (sequence++ % 2));
    stubs[static_cast<std::size_t>(caller % kChannels)]->async()->RequestTotalExecutors(
        ctx.get(), request.get(), response.get(),
        [ctx, request, response, done = std::move(done)](grpc::Status s) { done(s.ok(), s.error_message()); });
  };
  const IssueCall list_executors = [&](int caller, std::function<void(bool, const std::string&)> done) {
    auto ctx = std::make_shared<grpc::ClientContext>();
    auto request = std::make_shared<berth::v1::ListExecutorsRequest>();
    auto response = std::make_shared<berth::v1::ListExecutorsResponse>();
    request->set_app_id("bench-api-" + std::to_string(caller % kApps));
    stubs[static_cast<std::size_t>(caller % kChannels)]->async()->ListExecutors(
        ctx.get(), request.get(), response.get(),
        [ctx, request, response, done = std::move(done)](grpc::Status s) { done(s.ok(), s.error_message()); });
  };
  const IssueCall echo_call = [&](int caller, std::function<void(bool, const std::string&)> done) {
    auto ctx = std::make_shared<grpc::ClientContext>();
    auto request = std::make_shared<EchoMessage>();
    auto response = std::make_shared<EchoMessage>();
    request->set_payload("bench-api-0");
    echo_stubs[static_cast<std::size_t>(caller % kChannels)]->async()->Echo(
        ctx.get(), request.get(), response.get(),
        [ctx, request, response, done = std::move(done)](grpc::Status s) { done(s.ok(), s.error_message()); });
  };

  struct Measured {
    std::vector<double> rate, p50, p99;
  };
  auto measure = [&](const IssueCall& call, int concurrency, Measured* out) {
    (void)run_closed_loop(concurrency, 200ms, call);  // warm-up
    for (int r = 0; r < options.runs; ++r) {
      LoadResult result = run_closed_loop(concurrency, options.duration, call);
      if (result.errors > 0) std::cerr << "berth-bench: " << result.errors << " errors, first: " << result.first_error << "\n";
      out->rate.push_back(result.rate());
      out->p50.push_back(result.p50_ms);
      out->p99.push_back(result.p99_ms);
    }
  };

  for (int concurrency : options.wants("api") ? options.concurrency : std::vector<int>{}) {
    Measured echo_m, total_m, list_m;
    measure(echo_call, concurrency, &echo_m);
    measure(request_total, concurrency, &total_m);
    measure(list_executors, concurrency, &list_m);
    const std::string c = " (" + std::to_string(concurrency) + " in flight)";
    report.add({"RequestTotalExecutors" + c, Spread::of(total_m.rate), "gRPC echo", Spread::of(echo_m.rate), "calls/s", true,
                concurrency == options.concurrency.front()
                    ? "every call changes a target, so every reply waits for its SQLite commit (group commit)"
                    : ""});
    report.add({"RequestTotalExecutors p50" + c, Spread::of(total_m.p50), "gRPC echo", Spread::of(echo_m.p50), "ms", false, ""});
    report.add({"RequestTotalExecutors p99" + c, Spread::of(total_m.p99), "gRPC echo", Spread::of(echo_m.p99), "ms", false, ""});
    report.add({"ListExecutors" + c, Spread::of(list_m.rate), "gRPC echo", Spread::of(echo_m.rate), "calls/s", true, ""});
    report.add({"ListExecutors p99" + c, Spread::of(list_m.p99), "gRPC echo", Spread::of(echo_m.p99), "ms", false, ""});
    std::cerr << "berth-bench: concurrency " << concurrency << " done\n";
  }
  report.note("berthd, the echo service (a process of its own, like berthd) and the load generator share the "
              "machine's cores.");
  berthd.kill(SIGTERM);
  echo_process.kill(SIGTERM);

  KubernetesBenchOptions k8s;
  k8s.self = options.self;
  k8s.berthd = options.berthd;
  k8s.sim = (std::filesystem::path(options.self).parent_path() / "berth-sim").string();
  k8s.python_script = BERTH_BENCH_SOURCE_DIR "/k8s_python_baseline.py";
  k8s.work_dir = dir + "/kubernetes";
  k8s.runs = options.runs;
  if (options.full) {
    k8s.scale_executors = 100'000;
    k8s.spark_pods = 100;
  } else {
    k8s.spark_pods = 50;
    k8s.python_pods = 100;
  }
  if (options.scale_executors > 0) k8s.scale_executors = options.scale_executors;
  k8s.launch_figures = options.wants("kubernetes");
  k8s.scale_figures = options.wants("scale");
  run_kubernetes_figures(k8s, report);

  BackendBenchOptions backends;
  backends.berthd = options.berthd;
  backends.sim = k8s.sim;
  backends.work_dir = dir + "/backends";
  backends.runs = options.runs;
  if (options.wants("nomad")) run_nomad_figures(backends, report);
  if (options.wants("mesos")) run_mesos_figures(backends, report);
  if (options.wants("requests")) run_request_figures(backends, report);
  std::cout << report.write(options.results_dir, options.runs);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}

}  // namespace

// --serve-echo PORT_FILE: the baseline server process.
int serve_echo(const std::string& port_file) {
  EchoService echo;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&echo);
  auto server = builder.BuildAndStart();
  write_file(port_file + ".tmp", "grpc=127.0.0.1:" + std::to_string(port) + "\n");
  std::filesystem::rename(port_file + ".tmp", port_file);
  server->Wait();
  return 0;
}

int main(int argc, char** argv) {
  CLI::App cli{"berth-bench: Berth's figures beside their baselines, measured in one run"};
  Options options;
  bool full = false;
  cli.add_option("--berthd", options.berthd, "berthd binary (default: next to berth-bench)");
  cli.add_option("--results", options.results_dir, "where <name>.md and <name>.json go");
  cli.add_option("--name", options.name, "report name");
  cli.add_option("--runs", options.runs, "runs per figure (min/median/max)");
  cli.add_option("--figures", options.figures, "which groups to measure: api, kubernetes, scale, nomad, mesos, requests (default all)")
      ->delimiter(',');
  cli.add_option("--scale-executors", options.scale_executors, "live executors for the scale figures");
  cli.add_flag("--full", full, "the full run: longer windows, more runs, more concurrency levels");
  std::string echo_port_file;
  cli.add_option("--serve-echo", echo_port_file, "internal: serve the echo baseline, write its address to FILE");
  CLI11_PARSE(cli, argc, argv);
  if (!echo_port_file.empty()) return serve_echo(echo_port_file);
  options.self = std::filesystem::read_symlink("/proc/self/exe").string();
  if (options.berthd.empty()) {
    options.berthd = (std::filesystem::path(options.self).parent_path() / "berthd").string();
  }
  options.full = full;
  if (full) {
    options.runs = std::max(options.runs, 5);
    options.duration = std::chrono::milliseconds(5000);
    options.concurrency = {1, 8, 32, 128, 512};
    if (options.name == "short") options.name = "full";
  }
  signal(SIGPIPE, SIG_IGN);
  return run(options);
}
