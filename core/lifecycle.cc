#include "core/lifecycle.h"

namespace berth {
namespace {

Transition to(ExecutorState next, SideEffect effect = SideEffect::kNone) {
  return Transition{true, next, effect, std::nullopt};
}

Transition end(ExecutorState next, Loss loss, SideEffect effect = SideEffect::kNone) {
  return Transition{true, next, effect, std::move(loss)};
}

Transition ignored(ExecutorState from) { return Transition{false, from, SideEffect::kNone, std::nullopt}; }

std::string exit_message(const LifecycleEvent& event) {
  if (!event.message.empty()) return event.message;
  if (!event.exit_code) return "exit status unknown";
  return "exited with code " + std::to_string(*event.exit_code);
}

Transition on_exit(ExecutorState from, const LifecycleEvent& event) {
  if (from == ExecutorState::kDecommissioning) {
    // Spark's ExecutorDecommission: leaving was asked for, whatever the code.
    Loss loss{"decommissioned", false, exit_message(event), false};
    return end(event.exit_code == 0 ? ExecutorState::kSucceeded : ExecutorState::kFailed, loss);
  }
  if (event.oom_killed) {
    return end(ExecutorState::kFailed,
               Loss{"oom_killed", true, event.message.empty() ? "OOMKilled" : event.message, false});
  }
  if (!event.exit_code) {
    // Ended while nobody watched: do not blame the app for what we cannot know.
    return end(ExecutorState::kFailed, Loss{"exited_unobserved", false, exit_message(event), false});
  }
  if (*event.exit_code == 0) {
    return end(ExecutorState::kSucceeded, Loss{"exited", false, exit_message(event), false});
  }
  return end(ExecutorState::kFailed, Loss{"exited", true, exit_message(event), false});
}

}  // namespace

const char* to_string(LifecycleEventType type) {
  switch (type) {
    case LifecycleEventType::kLaunchAccepted: return "launch_accepted";
    case LifecycleEventType::kPlaced: return "placed";
    case LifecycleEventType::kStarted: return "started";
    case LifecycleEventType::kExited: return "exited";
    case LifecycleEventType::kNodeLost: return "node_lost";
    case LifecycleEventType::kVanished: return "vanished";
    case LifecycleEventType::kDeletedExternally: return "deleted_externally";
    case LifecycleEventType::kLaunchRefused: return "launch_refused";
    case LifecycleEventType::kLaunchTimedOut: return "launch_timed_out";
    case LifecycleEventType::kCancel: return "cancel";
    case LifecycleEventType::kKill: return "kill";
    case LifecycleEventType::kDecommission: return "decommission";
  }
  return "unknown";
}

Transition transition(ExecutorState from, const LifecycleEvent& event) {
  using S = ExecutorState;
  using E = LifecycleEventType;
  if (is_terminal(from)) return ignored(from);

  switch (event.type) {
    case E::kLaunchAccepted:
      return from == S::kRequested ? to(S::kLaunching) : ignored(from);

    case E::kPlaced:
      return (from == S::kRequested || from == S::kLaunching) ? to(S::kPending) : ignored(from);

    case E::kStarted:
      return is_pending(from) ? to(S::kRunning) : ignored(from);

    case E::kExited:
      return on_exit(from, event);

    case E::kNodeLost:
      return end(S::kLost, Loss{"node_lost", false,
                                event.message.empty() ? "node " + event.host + " lost" : event.message,
                                true});

    case E::kVanished:
      return end(S::kLost, Loss{"vanished", false,
                                event.message.empty() ? "vanished from the backend" : event.message,
                                false});

    case E::kDeletedExternally:
      return end(S::kLost, Loss{"deleted_externally", false,
                                event.message.empty() ? "deleted outside Berth" : event.message,
                                false});

    case E::kLaunchRefused:
      // PENDING too: placed, but it can never start (its image cannot be pulled).
      if (!is_pending(from)) return ignored(from);
      return end(S::kLaunchFailed, Loss{"launch_failed", false, event.message, false});

    case E::kLaunchTimedOut:
      if (from != S::kRequested && from != S::kLaunching) return ignored(from);
      return end(S::kCancelled,
                 Loss{"launch_timeout", false,
                      event.message.empty() ? "not observed on the backend in time" : event.message,
                      false},
                 SideEffect::kKillObject);

    case E::kCancel:
      if (!is_pending(from)) return ignored(from);
      return end(S::kCancelled,
                 Loss{"cancelled", false, event.message.empty() ? "target lowered" : event.message, false},
                 SideEffect::kKillObject);

    case E::kKill:
      return end(S::kKilled,
                 Loss{event.reason.empty() ? "killed" : event.reason, false,
                      event.message.empty() ? "killed" : event.message, false},
                 SideEffect::kKillObject);

    case E::kDecommission:
      if (from == S::kRunning) return to(S::kDecommissioning, SideEffect::kDecommissionObject);
      if (is_pending(from)) {
        // Not running yet: nothing to migrate, leaving means not starting.
        return end(S::kCancelled, Loss{"decommissioned", false, "decommissioned before it ran", false},
                   SideEffect::kKillObject);
      }
      return ignored(from);
  }
  return ignored(from);
}

}  // namespace berth
