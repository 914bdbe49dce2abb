// engine-bench: the cost of core alone. Drives the Engine with an instant fake backend and an
// in-memory store (no I/O, no gRPC) from 0 to N live executors across A applications, then
// measures a full resync and the memory held per executor (the in-memory store's copy included). What is left of berthd's per-executor
// cost after this is I/O: the store, the backend and gRPC.

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "core/engine.h"
#include "core/testing/fakes.h"
#include "store/memory_store.h"

using namespace berth;
using namespace std::chrono_literals;

namespace {

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"engine-bench: core's cost per executor, without I/O"};
  int executors = 100'000;
  int apps = 1'000;
  cli.add_option("--executors", executors, "live executors to reach");
  cli.add_option("--apps", apps, "applications they are spread over");
  CLI11_PARSE(cli, argc, argv);

  FakeClock clock;
  testing::ManualScheduler scheduler;
  MemoryStore store;
  testing::FakeBackend backend("sim", scheduler);
  EngineOptions options;
  options.max_pending_per_app = 1'000'000;
  options.event_window = 100'000;
  const long rss_before = rss_kib();
  Engine engine(options, "bench", clock, store, scheduler);
  engine.add_pool(PoolPolicy{"sim", "fake", 1'000'000}, &backend);
  engine.set_tenants({TenantPolicy{"default", {}, {"sim"}, {}}});
  (void)engine.restore(StoreSnapshot{});
  engine.start();
  scheduler.run_all();

  const auto ramp_start = std::chrono::steady_clock::now();
  const int per_app = executors / apps;
  for (int a = 0; a < apps; ++a) {
    AppSpec spec;
    spec.id = "app-" + std::to_string(a);
    spec.tenant = "default";
    spec.profiles = {ResourceProfile{}};
    spec.launch = LaunchSpec{.command = {"executor"}};
    (void)engine.register_app(spec);
    (void)engine.set_targets(spec.id, {{0, per_app}});
  }
  scheduler.run_all(100'000'000);
  backend.run_all_pending();
  scheduler.run_all(100'000'000);
  const double ramp_seconds = seconds_since(ramp_start);
  const long rss_after = rss_kib();

  int running = 0;
  for (const Application* app : engine.apps()) {
    for (const Executor* e : engine.executors(app->spec.id)) running += e->state == ExecutorState::kRunning ? 1 : 0;
  }

  const auto resync_start = std::chrono::steady_clock::now();
  clock.advance(options.resync_interval);
  engine.tick();
  scheduler.run_all(100'000'000);
  const double resync_seconds = seconds_since(resync_start);

  const auto tick_start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {
    clock.advance(100ms);
    engine.tick();
    scheduler.run_all(100'000'000);
  }
  const double tick_ms = seconds_since(tick_start) * 1000 / 10;

  std::printf("executors running        %d of %d (%d apps)\n", running, per_app * apps, apps);
  std::printf("ramp 0 -> N through core %.3f s (%.0f executors/s: create, commit, launch, observe running)\n",
              ramp_seconds, running / ramp_seconds);
  std::printf("full resync of the pool  %.3f s\n", resync_seconds);
  std::printf("idle tick                %.3f ms\n", tick_ms);
  std::printf("memory                   %.1f MiB for the engine and the fake backend, %.0f bytes per executor\n",
              (rss_after - rss_before) / 1024.0, (rss_after - rss_before) * 1024.0 / std::max(1, running));
  std::printf("store commits            %zu\n", store.committed());
  return 0;
}
