#include "daemon/event_logger.h"

#include <spdlog/spdlog.h>

namespace berth {

void EventLogger::on_event(const Event& event) {
  if (event.type == Event::Type::kApplication) {
    const Application& app = *event.app;
    spdlog::debug("application {} revision {}: phase {}, conditions [{}]", app.spec.id, event.revision,
                  to_string(app.phase), fmt::join(app.conditions, "; "));
    if (app.phase == AppPhase::kOrphaned) {
      spdlog::warn("application {}: lease lapsed, its executors are killed if the driver does not return",
                   app.spec.id);
    }
    return;
  }
  const Executor& e = event.executor;
  switch (e.state) {
    case ExecutorState::kLaunchFailed:
      spdlog::warn("application {} executor {} on pool {} ({}): launch refused: {}", e.app, e.id, e.pool,
                   e.backend_name, e.loss.message);
      return;
    case ExecutorState::kLost:
    case ExecutorState::kFailed:
      spdlog::info("application {} executor {} on pool {} ({}) {}: {}{}", e.app, e.id, e.pool, e.backend_name,
                   to_string(e.state), e.loss.message, e.host.empty() ? "" : " on host " + e.host);
      return;
    default:
      spdlog::debug("application {} executor {} on pool {} ({}) {}", e.app, e.id, e.pool, e.backend_name,
                    to_string(e.state));
  }
}

}  // namespace berth
