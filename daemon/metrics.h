#pragma once
// Metrics: Berth's Prometheus series, in the text exposition format that StatusServer serves on
// /metrics (daemon/status_server.h).
//   berth_executors{pool,state}                 gauge, refreshed every tick
//   berth_executor_transitions_total{pool,state} counter, every state change
//   berth_launch_latency_seconds{pool}          histogram, requested -> accepted by the backend
//   berth_reconcile_ticks_total                 counter
//   berth_backend_errors_total{pool,call}       counter (launch, kill, list)
//   berth_backend_kills_total{pool}             counter, kill calls sent (a bulk kill once)
//   berth_backend_kills_pending{pool}           gauge, kills sent whose objects are not gone yet
//   berth_grpc_requests_total{method,code}      counter
//   berth_applications{phase}                   gauge
//   berth_launches_total{pool}                  counter, launch calls sent (retries included)
// Per application and resource profile, for dynamic allocation; an application's series are
// removed once it has ended, so their number follows the live applications:
//   berth_app_target_executors{app,tenant,profile}   gauge, the driver's requested total
//   berth_app_running_executors{app,tenant,profile}  gauge, RUNNING and DECOMMISSIONING
//   berth_app_pending_executors{app,tenant,profile}  gauge, REQUESTED, LAUNCHING and PENDING
//   berth_app_launch_failures{app,tenant,profile}    gauge, executors whose launch was refused
//
// Thread-safety: record_grpc() is called from gRPC threads and scrape() from the HTTP server's;
// on_event() and refresh() on the strand.

#include <map>
#include <memory>
#include <string>

#include "core/engine.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace berth {

class Metrics final : public EngineListener {
 public:
  Metrics();
  ~Metrics() override;

  // Every series in Prometheus' text exposition format (version 0.0.4). Any thread.
  std::string scrape() const;

  void on_event(const Event& event) override;
  void refresh(const Engine& engine);  // gauges, on every tick
  void record_grpc(const char* method, const char* code);

 private:
  struct Series;
  void refresh_apps(const Engine& engine);
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Series> series_;
};

}  // namespace berth
