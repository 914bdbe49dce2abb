#pragma once
// EventLog: the revisioned history of state changes that WatchEvents streams from. Every change
// of an executor or an application gets the next revision. The log keeps a bounded window in
// memory; a reader asking for a revision that fell out of the window must resync (snapshot), as
// a Kubernetes watch past its compaction window gets 410 Gone.
//
// Not thread-safe: owned by the Engine and touched on its strand only.

#include <algorithm>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "core/types.h"

namespace berth {

// An application's executors per resource profile and state; every profile with a target is
// present, possibly empty.
using ProfileCounts = std::map<ProfileId, std::map<ExecutorState, std::int32_t>>;

struct Event {
  enum class Type { kExecutor, kApplication };
  Type type = Type::kExecutor;
  Revision revision = 0;
  // The tenant of the application the event is about, when it happened: readers filter by it, not
  // by whoever owns the application id later (a forgotten id may be registered by another tenant).
  TenantName tenant;
  Executor executor;                       // kExecutor: its state after the change
  std::shared_ptr<const Application> app;  // kApplication: its state after the change (shared:
                                           // application records are large, their events rare)
  ProfileCounts counts;                    // kApplication: its executors' counts at that revision
  const AppId& app_id() const { return type == Type::kExecutor ? executor.app : app->spec.id; }
};

class EventLog {
 public:
  explicit EventLog(std::size_t window) : window_(window) {}

  // `first` is the revision the log starts after (restored from the store at start-up): events
  // up to and including it are not in memory.
  void reset(Revision first) {
    events_.clear();
    oldest_known_ = first;
  }

  void append(Event event) {
    events_.push_back(std::move(event));
    if (events_.size() > window_) {
      oldest_known_ = events_.front().revision;
      events_.pop_front();
    }
  }

  // Events with revision > from, or nullopt when some of them are no longer in memory.
  std::optional<std::vector<Event>> since(Revision from) const {
    if (from < oldest_known_) return std::nullopt;
    auto first_after = std::partition_point(events_.begin(), events_.end(),
                                            [from](const Event& e) { return e.revision <= from; });
    return std::vector<Event>(first_after, events_.end());
  }

  std::size_t size() const { return events_.size(); }

 private:
  std::size_t window_;
  std::deque<Event> events_;
  Revision oldest_known_ = 0;  // every revision <= this one has left the window
};

}  // namespace berth
