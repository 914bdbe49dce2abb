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
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
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
  // What the event holds in memory, roughly (its strings, the application's record without its
  // launch spec): the window is bounded by the sum of these, and of the launch specs its events
  // share (each counted once), as well as by their number.
  std::size_t bytes = 0;
  const AppId& app_id() const { return type == Type::kExecutor ? executor.app : app->spec.id; }
  // kApplication: the launch spec the event shares with the application's other records.
  const LaunchSpec* shared_launch() const { return type == Type::kApplication ? &*app->spec.launch : nullptr; }
};

class EventLog {
 public:
  // At most `window` events and `max_bytes` of them (Event::bytes); the oldest leave first.
  explicit EventLog(std::size_t window, std::size_t max_bytes = std::numeric_limits<std::size_t>::max())
      : window_(window), max_bytes_(max_bytes) {}

  // `first` is the revision the log starts after (restored from the store at start-up): events
  // up to and including it are not in memory.
  void reset(Revision first) {
    events_.clear();
    shared_.clear();
    bytes_ = 0;
    oldest_known_ = first;
  }

  void append(Event event) {
    bytes_ += event.bytes;
    if (const LaunchSpec* launch = event.shared_launch()) {
      SharedSpec& shared = shared_[launch];
      if (shared.events++ == 0) {
        shared.bytes = approximate_bytes(*launch);
        bytes_ += shared.bytes;
      }
    }
    events_.push_back(std::move(event));
    while (!events_.empty() && (events_.size() > window_ || (bytes_ > max_bytes_ && events_.size() > 1))) {
      drop_oldest();
    }
  }

  // Events with revision > from, or nullopt when some of them are no longer in memory.
  std::optional<std::vector<Event>> since(Revision from) const {
    if (from < oldest_known_) return std::nullopt;
    auto first_after = std::partition_point(events_.begin(), events_.end(),
                                            [from](const Event& e) { return e.revision <= from; });
    return std::vector<Event>(first_after, events_.end());
  }

  // Calls `visit` with each event whose revision > from, oldest first, until it returns false.
  // Returns false (visiting nothing) when some of those events are no longer in memory.
  bool visit_since(Revision from, const std::function<bool(const Event&)>& visit) const {
    if (from < oldest_known_) return false;
    auto it = std::partition_point(events_.begin(), events_.end(),
                                   [from](const Event& e) { return e.revision <= from; });
    for (; it != events_.end(); ++it) {
      if (!visit(*it)) break;
    }
    return true;
  }

  // Calls `visit` with each event in memory, newest first, until it returns false.
  void visit_newest(const std::function<bool(const Event&)>& visit) const {
    for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
      if (!visit(*it)) return;
    }
  }

  std::size_t size() const { return events_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  void drop_oldest() {
    const Event& oldest = events_.front();
    oldest_known_ = oldest.revision;
    bytes_ -= oldest.bytes;
    if (const LaunchSpec* launch = oldest.shared_launch()) {
      auto it = shared_.find(launch);
      if (--it->second.events == 0) {
        bytes_ -= it->second.bytes;
        shared_.erase(it);
      }
    }
    events_.pop_front();
  }

  struct SharedSpec {
    std::size_t events = 0;  // events in the window that hold it
    std::size_t bytes = 0;
  };

  std::size_t window_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::deque<Event> events_;
  // The launch specs the window's events share, by address: a spec stays alive while an event
  // holds it, so its address identifies it for as long as it is a key here.
  std::unordered_map<const LaunchSpec*, SharedSpec> shared_;
  Revision oldest_known_ = 0;  // every revision <= this one has left the window
};

}  // namespace berth
