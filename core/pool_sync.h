#pragma once
// PoolSync: what core knows of one pool's backend as a whole: whether it has answered a full
// list (synced), whether it can be reached now (healthy), when to list it next, and the launch
// backoff after retryable errors. A pool acts only when synced and healthy; while it is not, it is
// frozen: nothing in it is launched, timed out or declared lost, because the backend is silent,
// not refusing.
//
// A plain value type: no I/O, no clock of its own (every call takes `now`). Not thread-safe; the
// Engine owns one per pool and uses it on its strand.

#include <cstdint>
#include <string>

#include "base/status.h"
#include "core/types.h"

namespace berth {

struct PoolSyncPolicy {
  Duration resync_interval{std::chrono::seconds(60)};  // between full lists
  Duration backoff_initial{std::chrono::seconds(1)};   // first launch backoff; doubles
  Duration backoff_max{std::chrono::seconds(60)};      // also the longest wait before a failed list is retried
};

class PoolSync {
 public:
  explicit PoolSync(PoolSyncPolicy policy = {}) : policy_(policy) {}

  bool answered() const { return answered_; }  // a first list has completed, well or not
  bool synced() const { return synced_; }      // a full list has succeeded since start
  bool healthy() const { return healthy_; }    // the last contact succeeded
  bool frozen() const { return !synced_ || !healthy_; }
  // Launches may be sent: synced, healthy, and past any launch backoff.
  bool launchable(Timestamp now) const { return !frozen() && now >= backoff_until_; }
  Timestamp backoff_until() const { return backoff_until_; }
  // Why the pool last failed; cleared when it recovers (healthy again, or a launch accepted
  // after a backoff).
  const std::string& last_error() const { return last_error_; }

  // --- full lists ---------------------------------------------------------------------------
  // Whether a list should start now (none in flight, and it is due).
  bool list_due(Timestamp now) const { return !list_in_flight_ && now >= next_list_; }
  // A list starts; false when one is already in flight (the caller sends none).
  bool begin_list();
  void list_succeeded(Timestamp now);
  void list_failed(const Status& status, Timestamp now);

  // --- the watch's view ---------------------------------------------------------------------
  // The backend became reachable or unreachable. Back after an outage, the next list is due at
  // once rather than trusting the watch alone.
  void health(const Status& status);

  // --- launches and kills -------------------------------------------------------------------
  void launch_accepted();  // the backoff ends
  // A launch failed: a retryable failure starts or doubles the backoff.
  void launch_failed(const Status& status, Timestamp now);
  void kill_failed(const Status& status);
  // Says why, when the pool cannot work at all (a pool removed from the configuration).
  void set_error(std::string error) { last_error_ = std::move(error); }

  std::uint64_t lists() const { return lists_; }
  std::uint64_t launch_errors() const { return launch_errors_; }
  std::uint64_t kill_errors() const { return kill_errors_; }
  std::uint64_t list_errors() const { return list_errors_; }

 private:
  PoolSyncPolicy policy_;
  bool answered_ = false;
  bool synced_ = false;
  bool healthy_ = false;
  bool list_in_flight_ = false;
  Timestamp next_list_{};
  Duration backoff_{0};
  Timestamp backoff_until_{};
  std::string last_error_;
  std::uint64_t lists_ = 0;
  std::uint64_t launch_errors_ = 0;
  std::uint64_t kill_errors_ = 0;
  std::uint64_t list_errors_ = 0;
};

}  // namespace berth
