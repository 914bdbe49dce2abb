#include "core/pool_sync.h"

#include <algorithm>

namespace berth {

bool PoolSync::begin_list() {
  if (list_in_flight_) return false;
  list_in_flight_ = true;
  return true;
}

void PoolSync::list_succeeded(Timestamp now) {
  list_in_flight_ = false;
  if (!healthy_) last_error_.clear();  // recovered (or never failed): the old error is history
  answered_ = true;
  synced_ = true;
  healthy_ = true;
  lists_++;
  next_list_ = now + policy_.resync_interval;
}

void PoolSync::list_failed(const Status& status, Timestamp now) {
  list_in_flight_ = false;
  answered_ = true;
  healthy_ = false;
  list_errors_++;
  last_error_ = status.to_string();
  next_list_ = now + std::min(policy_.resync_interval, policy_.backoff_max);
}

void PoolSync::health(const Status& status) {
  const bool was_healthy = healthy_;
  healthy_ = status.ok();
  if (!status.ok()) last_error_ = status.to_string();
  if (healthy_ && !was_healthy) last_error_.clear();
  if (healthy_ && !was_healthy && synced_) next_list_ = Timestamp{};
}

void PoolSync::launch_accepted() {
  if (backoff_.count() != 0) last_error_.clear();  // launches work again
  backoff_ = Duration(0);
  backoff_until_ = Timestamp{};
}

void PoolSync::launch_failed(const Status& status, Timestamp now) {
  launch_errors_++;
  if (!status.retryable()) return;
  backoff_ = std::min(policy_.backoff_max, backoff_.count() == 0 ? policy_.backoff_initial : backoff_ * 2);
  backoff_until_ = now + backoff_;
  last_error_ = status.to_string();
}

void PoolSync::kill_failed(const Status& status) {
  kill_errors_++;
  last_error_ = status.to_string();
}

}  // namespace berth
