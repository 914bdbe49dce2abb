#include "daemon/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <mutex>

namespace berth {

struct Metrics::Series {
  prometheus::Family<prometheus::Gauge>& executors;
  prometheus::Family<prometheus::Counter>& transitions;
  prometheus::Family<prometheus::Histogram>& launch_latency;
  prometheus::Counter& ticks;
  prometheus::Family<prometheus::Counter>& backend_errors;
  prometheus::Family<prometheus::Counter>& grpc_requests;
  prometheus::Family<prometheus::Gauge>& applications;
  prometheus::Family<prometheus::Counter>& kills;
  prometheus::Family<prometheus::Gauge>& kills_pending;
  std::map<std::string, std::uint64_t> kills_seen;  // pool -> last total
  std::map<std::pair<std::string, std::string>, std::uint64_t> errors_seen;  // (pool, call) -> last total
  std::mutex grpc_mutex;  // Family::Add is thread-safe, but keep one lock for the lookups
};

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  series_.reset(new Series{
      prometheus::BuildGauge().Name("berth_executors").Help("Executors by pool and state").Register(r),
      prometheus::BuildCounter().Name("berth_executor_transitions_total").Help("Executor state changes").Register(r),
      prometheus::BuildHistogram()
          .Name("berth_launch_latency_seconds")
          .Help("Time from an executor's request to the backend accepting its launch")
          .Register(r),
      prometheus::BuildCounter().Name("berth_reconcile_ticks_total").Help("Reconciler ticks").Register(r).Add({}),
      prometheus::BuildCounter().Name("berth_backend_errors_total").Help("Failed backend calls").Register(r),
      prometheus::BuildCounter().Name("berth_grpc_requests_total").Help("gRPC requests by method and code").Register(r),
      prometheus::BuildGauge().Name("berth_applications").Help("Applications by phase").Register(r),
      prometheus::BuildCounter()
          .Name("berth_backend_kills_total")
          .Help("Kill calls sent to backends, a bulk kill counted once")
          .Register(r),
      prometheus::BuildGauge()
          .Name("berth_backend_kills_pending")
          .Help("Kills sent whose backend objects are not seen gone yet")
          .Register(r),
      {},
      {},
      {}});
}

Metrics::~Metrics() = default;

StatusOr<std::string> Metrics::serve(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    // CivetWeb binds without SO_REUSEPORT: a port taken by another process fails here.
    return Status::Unavailable("metrics_listen " + address + ": cannot listen (the address is in use or cannot be bound): " +
                               e.what());
  }
  exposer_->RegisterCollectable(registry_);
  auto ports = exposer_->GetListeningPorts();
  std::string host = address.substr(0, address.rfind(':'));
  return host + ":" + std::to_string(ports.empty() ? 0 : ports.front());
}

void Metrics::on_event(const Event& event) {
  if (event.type != Event::Type::kExecutor) return;
  const Executor& e = event.executor;
  series_->transitions.Add({{"pool", e.pool}, {"state", to_string(e.state)}}).Increment();
  if (e.state == ExecutorState::kLaunching && e.launched >= e.requested) {
    static const prometheus::Histogram::BucketBoundaries kBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                 0.1,   0.25,   0.5,   1,    2.5,   5, 10};
    const double seconds = std::chrono::duration<double>(e.launched - e.requested).count();
    series_->launch_latency.Add({{"pool", e.pool}}, kBuckets).Observe(seconds);
  }
}

void Metrics::refresh(const Engine& engine) {
  series_->ticks.Increment();
  for (const PoolStatus& pool : engine.pools()) {
    for (int i = 0; i < kExecutorStateCount; ++i) {
      auto state = static_cast<ExecutorState>(i);
      auto it = pool.counts.find(state);
      series_->executors.Add({{"pool", pool.policy.name}, {"state", to_string(state)}})
          .Set(it == pool.counts.end() ? 0 : it->second);
    }
    const std::pair<const char*, std::uint64_t> calls[] = {
        {"launch", pool.launch_errors}, {"kill", pool.kill_errors}, {"list", pool.list_errors}};
    for (const auto& [call, total] : calls) {
      std::uint64_t& seen = series_->errors_seen[{pool.policy.name, call}];
      auto& counter = series_->backend_errors.Add({{"pool", pool.policy.name}, {"call", call}});
      if (total > seen) counter.Increment(static_cast<double>(total - seen));
      seen = total;
    }
    std::uint64_t& kills_seen = series_->kills_seen[pool.policy.name];
    auto& kills = series_->kills.Add({{"pool", pool.policy.name}});
    if (pool.kills_sent > kills_seen) kills.Increment(static_cast<double>(pool.kills_sent - kills_seen));
    kills_seen = pool.kills_sent;
    series_->kills_pending.Add({{"pool", pool.policy.name}}).Set(static_cast<double>(pool.kills_tracked));
  }
  std::map<AppPhase, int> phases{{AppPhase::kActive, 0}, {AppPhase::kOrphaned, 0}, {AppPhase::kEnded, 0}};
  for (const Application* app : engine.apps()) phases[app->phase]++;
  for (const auto& [phase, n] : phases) series_->applications.Add({{"phase", to_string(phase)}}).Set(n);
}

void Metrics::record_grpc(const char* method, const char* code) {
  std::lock_guard lock(series_->grpc_mutex);
  series_->grpc_requests.Add({{"method", method}, {"code", code}}).Increment();
}

}  // namespace berth
