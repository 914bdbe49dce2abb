#pragma once
// The executor state machine. transition() is pure: given the current state and what happened,
// it says the next state, the side effect to perform and the loss to record. The engine applies
// it; adapters only translate backend observations into LifecycleEvents.
//
//   REQUESTED --accepted--> LAUNCHING --placed--> PENDING --started--> RUNNING --> DECOMMISSIONING
//   not yet RUNNING --cancel / launch timeout--> CANCELLED
//   any non-terminal --> SUCCEEDED | FAILED | KILLED | LOST | LAUNCH_FAILED (terminal, absorbing)

#include <optional>
#include <string>

#include "core/types.h"

namespace berth {

enum class LifecycleEventType {
  kLaunchAccepted,     // the backend accepted the launch (or the object already existed)
  kPlaced,             // observed placed / pending
  kStarted,            // observed running
  kExited,             // the executor's process ended (exit_code; oom_killed)
  kNodeLost,           // its node is gone (host)
  kVanished,           // absent from the backend past the grace period
  kDeletedExternally,  // removed by someone other than Berth
  kLaunchRefused,      // non-retryable launch error, or it can never start (message)
  kLaunchTimedOut,     // never observed within launch_timeout
  kCancel,             // the target dropped below the live count
  kKill,               // killed by the driver, an operator or the lease (reason)
  kDecommission,       // asked to leave gracefully
};
const char* to_string(LifecycleEventType type);

struct LifecycleEvent {
  LifecycleEventType type;
  std::optional<std::int32_t> exit_code;
  bool oom_killed = false;
  std::string reason;   // kKill: "killed_by_driver", "lease_expired", ...
  std::string message;
  std::string host;
};

enum class SideEffect {
  kNone,
  kKillObject,          // stop the backend object (it may or may not exist yet)
  kDecommissionObject,  // signal the executor to leave gracefully
};

struct Transition {
  bool changed = false;        // false: the event does not apply in this state (ignored)
  ExecutorState next = ExecutorState::kRequested;
  SideEffect effect = SideEffect::kNone;
  std::optional<Loss> loss;    // set when the transition ends the executor
};

Transition transition(ExecutorState from, const LifecycleEvent& event);

}  // namespace berth
