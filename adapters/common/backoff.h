#pragma once
// Backoff: the delays between the reconnects (or relists, or resubscriptions) of one connection
// to a backend: `initial`, then doubling up to `max`, each with up to a fifth more added at random
// so that the pools of many daemons do not retry in step. reset() once the backend answers.
//
// Thread-safety: not thread-safe; one Backoff per connection, used on the adapter's strand.

#include <functional>

#include "core/types.h"

namespace berth::adapters {

class Backoff {
 public:
  // `uniform`: draws from [0, 1) (TimeSource::uniform).
  Backoff(Duration initial, Duration max, std::function<double()> uniform);

  // The next delay to wait, jitter included; each call doubles the base.
  Duration next();
  // The backend answered: the next delay is `initial` again.
  void reset() { base_ = Duration(0); }
  // The base of the last delay returned (0 after reset()), without its jitter.
  Duration base() const { return base_; }

 private:
  Duration initial_;
  Duration max_;
  std::function<double()> uniform_;
  Duration base_{0};
};

}  // namespace berth::adapters
