#include "daemon/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

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
  prometheus::Family<prometheus::Counter>& launches;
  prometheus::Family<prometheus::Gauge>& app_target;
  prometheus::Family<prometheus::Gauge>& app_running;
  prometheus::Family<prometheus::Gauge>& app_pending;
  prometheus::Family<prometheus::Gauge>& app_launch_failures;
  // The per-application gauges set by the last refresh, by (app, profile), so that those of an
  // application that ended (or a profile that went away) are removed.
  struct AppGauges {
    prometheus::Gauge* target;
    prometheus::Gauge* running;
    prometheus::Gauge* pending;
    prometheus::Gauge* launch_failures;
  };
  std::map<std::pair<AppId, ProfileId>, AppGauges> app_gauges;
  std::map<std::string, std::uint64_t> launches_seen;  // pool -> last total
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
      prometheus::BuildCounter()
          .Name("berth_launches_total")
          .Help("Launch calls sent to backends, retries included")
          .Register(r),
      prometheus::BuildGauge()
          .Name("berth_app_target_executors")
          .Help("The executors an application's driver asks for, by resource profile")
          .Register(r),
      prometheus::BuildGauge()
          .Name("berth_app_running_executors")
          .Help("An application's RUNNING and DECOMMISSIONING executors, by resource profile")
          .Register(r),
      prometheus::BuildGauge()
          .Name("berth_app_pending_executors")
          .Help("An application's executors not yet running (REQUESTED, LAUNCHING, PENDING), by resource profile")
          .Register(r),
      prometheus::BuildGauge()
          .Name("berth_app_launch_failures")
          .Help("An application's executors whose launch the backend refused (LAUNCH_FAILED), by resource profile")
          .Register(r),
      {},
      {},
      {},
      {},
      {}});
}

Metrics::~Metrics() = default;

std::string Metrics::scrape() const { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

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
  for (const PoolStatus& pool : engine.pools()) {
    std::uint64_t& seen = series_->launches_seen[pool.policy.name];
    auto& launches = series_->launches.Add({{"pool", pool.policy.name}});
    if (pool.launches_sent > seen) launches.Increment(static_cast<double>(pool.launches_sent - seen));
    seen = pool.launches_sent;
  }
  std::map<AppPhase, int> phases{{AppPhase::kActive, 0}, {AppPhase::kOrphaned, 0}, {AppPhase::kEnded, 0}};
  for (const Application* app : engine.apps()) phases[app->phase]++;
  for (const auto& [phase, n] : phases) series_->applications.Add({{"phase", to_string(phase)}}).Set(n);
  refresh_apps(engine);
}

void Metrics::refresh_apps(const Engine& engine) {
  Series& s = *series_;
  std::map<std::pair<AppId, ProfileId>, Series::AppGauges> now;
  for (const Application* app : engine.apps()) {
    if (app->phase == AppPhase::kEnded) continue;
    const ProfileCounts counts = engine.counts(app->spec.id);
    for (const auto& entry : counts) {
      const ProfileId profile = entry.first;
      const std::map<ExecutorState, std::int32_t>& states = entry.second;
      const auto count = [&states](ExecutorState state) {
        auto it = states.find(state);
        return it == states.end() ? 0 : it->second;
      };
      auto target = app->targets.find(profile);
      const prometheus::Labels labels{
          {"app", app->spec.id}, {"tenant", app->spec.tenant}, {"profile", std::to_string(profile)}};
      const std::pair<AppId, ProfileId> key{app->spec.id, profile};
      auto known = s.app_gauges.find(key);
      Series::AppGauges gauges = known != s.app_gauges.end()
                                     ? known->second
                                     : Series::AppGauges{&s.app_target.Add(labels), &s.app_running.Add(labels),
                                                         &s.app_pending.Add(labels),
                                                         &s.app_launch_failures.Add(labels)};
      gauges.target->Set(target == app->targets.end() ? 0 : target->second);
      gauges.running->Set(count(ExecutorState::kRunning) + count(ExecutorState::kDecommissioning));
      gauges.pending->Set(count(ExecutorState::kRequested) + count(ExecutorState::kLaunching) +
                          count(ExecutorState::kPending));
      gauges.launch_failures->Set(count(ExecutorState::kLaunchFailed));
      now.emplace(key, gauges);
    }
  }
  for (const auto& [key, gauges] : s.app_gauges) {
    if (now.count(key) != 0) continue;
    s.app_target.Remove(gauges.target);
    s.app_running.Remove(gauges.running);
    s.app_pending.Remove(gauges.pending);
    s.app_launch_failures.Remove(gauges.launch_failures);
  }
  s.app_gauges = std::move(now);
}

void Metrics::record_grpc(const char* method, const char* code) {
  std::lock_guard lock(series_->grpc_mutex);
  series_->grpc_requests.Add({{"method", method}, {"code", code}}).Increment();
}

}  // namespace berth
