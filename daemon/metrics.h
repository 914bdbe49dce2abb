#pragma once
// Metrics: Berth's Prometheus series, served on /metrics by prometheus-cpp's exposer.
//   berth_executors{pool,state}                 gauge, refreshed every tick
//   berth_executor_transitions_total{pool,state} counter, every state change
//   berth_launch_latency_seconds{pool}          histogram, requested -> accepted by the backend
//   berth_reconcile_ticks_total                 counter
//   berth_backend_errors_total{pool,call}       counter (launch, kill, list)
//   berth_backend_kills_total{pool}             counter, kill calls sent (a bulk kill once)
//   berth_backend_kills_pending{pool}           gauge, kills sent whose objects are not gone yet
//   berth_grpc_requests_total{method,code}      counter
//   berth_applications{phase}                   gauge
//
// Thread-safety: record_grpc() is called from gRPC threads; everything else on the strand.

#include <map>
#include <memory>
#include <string>

#include "core/engine.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace berth {

class Metrics final : public EngineListener {
 public:
  Metrics();
  ~Metrics() override;

  // Serves /metrics on `address` ("127.0.0.1:0" picks a port). Returns the bound address.
  // Errors: kUnavailable naming the address when it cannot be bound (a port in use included).
  StatusOr<std::string> serve(const std::string& address);

  void on_event(const Event& event) override;
  void refresh(const Engine& engine);  // gauges, on every tick
  void record_grpc(const char* method, const char* code);

 private:
  struct Series;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<Series> series_;
};

}  // namespace berth
