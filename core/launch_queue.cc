#include "core/launch_queue.h"

namespace berth {

void LaunchQueue::push(const ExecutorKey& key) {
  auto it = by_app_.find(key.app);
  if (it == by_app_.end()) {
    ring_.push_back(key.app);
    it = by_app_.emplace(key.app, AppQueue{{}, std::prev(ring_.end())}).first;
  }
  if (it->second.waiting.insert(key.id).second) ++size_;
}

void LaunchQueue::erase(const ExecutorKey& key) {
  auto it = by_app_.find(key.app);
  if (it == by_app_.end() || it->second.waiting.erase(key.id) == 0) return;
  --size_;
  if (it->second.waiting.empty()) {
    ring_.erase(it->second.turn);
    by_app_.erase(it);
  }
}

bool LaunchQueue::contains(const ExecutorKey& key) const {
  auto it = by_app_.find(key.app);
  return it != by_app_.end() && it->second.waiting.count(key.id) > 0;
}

std::optional<ExecutorKey> LaunchQueue::pop(const std::function<bool(const AppId&)>& eligible) {
  // One turn each at most: applications passed over keep their place in the ring.
  for (auto turn = ring_.begin(); turn != ring_.end(); ++turn) {
    if (!eligible(*turn)) continue;
    auto app = by_app_.find(*turn);
    AppQueue& queue = app->second;
    ExecutorKey key{app->first, *queue.waiting.begin()};
    queue.waiting.erase(queue.waiting.begin());
    --size_;
    if (queue.waiting.empty()) {
      ring_.erase(turn);
      by_app_.erase(app);
    } else {
      ring_.splice(ring_.end(), ring_, turn);  // to the back; the iterator stays valid
    }
    return key;
  }
  return std::nullopt;
}

void LaunchQueue::for_each(const std::function<void(const ExecutorKey&)>& visit) const {
  for (const auto& [app, queue] : by_app_) {
    for (ExecutorId id : queue.waiting) visit(ExecutorKey{app, id});
  }
}

}  // namespace berth
