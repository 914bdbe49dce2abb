#pragma once
// EventLogger: writes executor and application changes to the daemon's log with the ids an
// operator needs (app, executor, pool, backend object). Routine progress is logged at debug;
// endings that need attention (launch refused, lost, failed) at info or warn.

#include "core/engine.h"

namespace berth {

class EventLogger final : public EngineListener {
 public:
  void on_event(const Event& event) override;
};

}  // namespace berth
