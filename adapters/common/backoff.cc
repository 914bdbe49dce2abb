#include "adapters/common/backoff.h"

#include <algorithm>

#include "adapters/common/time_source.h"

namespace berth::adapters {

Backoff::Backoff(Duration initial, Duration max, std::function<double()> uniform)
    : initial_(initial), max_(max), uniform_(std::move(uniform)) {}

Duration Backoff::next() {
  base_ = base_.count() == 0 ? initial_ : std::min(max_, base_ * 2);
  return base_ + Duration(uniform_int(uniform_, base_.count() / 5));
}

}  // namespace berth::adapters
