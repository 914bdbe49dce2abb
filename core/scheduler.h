#pragma once
// Scheduler: how core asks to run something later on its own strand. The daemon posts to the
// Asio strand; tests queue tasks and run them when they choose, which makes every interleaving
// deterministic. post() is thread-safe (store completions arrive on the store's thread).

#include <functional>

namespace berth {

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual void post(std::function<void()> task) = 0;
};

}  // namespace berth
