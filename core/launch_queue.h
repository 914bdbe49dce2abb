#pragma once
// LaunchQueue: one pool's executors whose records are durable and whose launch has not been sent
// yet, in the order they are served: round-robin across applications, each application's
// executors oldest request first (executor ids are issued in request order). Applications take
// turns in the order their oldest waiting request arrived, so the first to ask is the first
// served, and one application asking for thousands does not starve another asking for two.
//
// A plain container: no I/O, not thread-safe; the Engine owns one per pool on its strand.
// Every operation costs O(log n).

#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>

#include "core/types.h"

namespace berth {

class LaunchQueue {
 public:
  // Queues an executor (again, after a retryable failure: it keeps its place by id).
  void push(const ExecutorKey& key);
  // Removes an executor that no longer waits (cancelled, killed, launched). No-op if absent.
  void erase(const ExecutorKey& key);
  bool contains(const ExecutorKey& key) const;

  // The next executor to launch among applications for which `eligible(app)` holds, removed
  // from the queue; its application moves to the back of the ring. nullopt when none is.
  std::optional<ExecutorKey> pop(const std::function<bool(const AppId&)>& eligible);

  bool empty() const { return by_app_.empty(); }
  std::size_t size() const { return size_; }
  // Visits every queued executor (for invariant checks).
  void for_each(const std::function<void(const ExecutorKey&)>& visit) const;

 private:
  struct AppQueue {
    std::set<ExecutorId> waiting;
    std::list<AppId>::iterator turn;  // this application's place in ring_
  };
  std::map<AppId, AppQueue> by_app_;
  std::list<AppId> ring_;  // applications with something waiting, next turn first
  std::size_t size_ = 0;
};

}  // namespace berth
