#include "adapters/common/health.h"

namespace berth::adapters {

void HealthReporter::report(const Status& status) {
  if (sink_ == nullptr) return;
  if (reported_ && healthy_ == status.ok()) return;
  reported_ = true;
  healthy_ = status.ok();
  sink_->on_health(pool_, status);
}

}  // namespace berth::adapters
