#pragma once
// HealthReporter: tells core whether a pool's backend can be reached. report() passes a failure
// to BackendSink::on_health once (the first error of an outage is the one core sees) and the
// recovery once; repeated reports of the state already reported are dropped. Nothing is reported
// before a sink is attached (Backend::start).
//
// Thread-safety: not thread-safe; used on the adapter's strand, where the sink expects its calls.

#include "base/status.h"
#include "core/backend.h"

namespace berth::adapters {

class HealthReporter {
 public:
  explicit HealthReporter(PoolName pool) : pool_(std::move(pool)) {}

  void attach(BackendSink* sink) { sink_ = sink; }
  // OK: the backend answers; an error: it cannot be reached (the pool freezes).
  void report(const Status& status);
  // What was last reported; false before any report.
  bool healthy() const { return healthy_; }

 private:
  PoolName pool_;
  BackendSink* sink_ = nullptr;
  bool reported_ = false;
  bool healthy_ = false;
};

}  // namespace berth::adapters
