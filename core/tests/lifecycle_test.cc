#include <catch2/catch.hpp>

#include "core/lifecycle.h"

using namespace berth;
using S = ExecutorState;
using E = LifecycleEventType;
using X = SideEffect;

namespace {

struct Row {
  S from;
  LifecycleEvent event;
  bool changed;
  S next;
  X effect;
  const char* loss_reason;  // nullptr: no loss recorded
  bool caused_by_app = false;
  bool host_lost = false;
};

LifecycleEvent ev(E type) { return LifecycleEvent{type, std::nullopt, false, "", "", ""}; }
LifecycleEvent exited(int code) { return LifecycleEvent{E::kExited, code, false, "", "", ""}; }
LifecycleEvent oom() { return LifecycleEvent{E::kExited, 137, true, "", "", ""}; }
LifecycleEvent unknown_exit() { return LifecycleEvent{E::kExited, std::nullopt, false, "", "", ""}; }
LifecycleEvent kill(const char* reason) { return LifecycleEvent{E::kKill, std::nullopt, false, reason, "", ""}; }
LifecycleEvent node_lost() { return LifecycleEvent{E::kNodeLost, std::nullopt, false, "", "", "host-1"}; }

}  // namespace

TEST_CASE("transition table") {
  const Row rows[] = {
      // launch acceptance and progress
      {S::kRequested, ev(E::kLaunchAccepted), true, S::kLaunching, X::kNone, nullptr},
      {S::kLaunching, ev(E::kLaunchAccepted), false, S::kLaunching, X::kNone, nullptr},
      {S::kRunning, ev(E::kLaunchAccepted), false, S::kRunning, X::kNone, nullptr},
      {S::kRequested, ev(E::kPlaced), true, S::kPending, X::kNone, nullptr},
      {S::kLaunching, ev(E::kPlaced), true, S::kPending, X::kNone, nullptr},
      {S::kPending, ev(E::kPlaced), false, S::kPending, X::kNone, nullptr},
      {S::kRunning, ev(E::kPlaced), false, S::kRunning, X::kNone, nullptr},
      {S::kRequested, ev(E::kStarted), true, S::kRunning, X::kNone, nullptr},
      {S::kLaunching, ev(E::kStarted), true, S::kRunning, X::kNone, nullptr},
      {S::kPending, ev(E::kStarted), true, S::kRunning, X::kNone, nullptr},
      {S::kRunning, ev(E::kStarted), false, S::kRunning, X::kNone, nullptr},
      {S::kDecommissioning, ev(E::kStarted), false, S::kDecommissioning, X::kNone, nullptr},
      // exits
      {S::kRunning, exited(0), true, S::kSucceeded, X::kNone, "exited"},
      {S::kRunning, exited(1), true, S::kFailed, X::kNone, "exited", true},
      {S::kPending, exited(2), true, S::kFailed, X::kNone, "exited", true},
      {S::kRunning, oom(), true, S::kFailed, X::kNone, "oom_killed", true},
      {S::kRunning, unknown_exit(), true, S::kFailed, X::kNone, "exited_unobserved", false},
      {S::kDecommissioning, exited(0), true, S::kSucceeded, X::kNone, "decommissioned"},
      {S::kDecommissioning, exited(143), true, S::kFailed, X::kNone, "decommissioned"},
      // losses
      {S::kRunning, node_lost(), true, S::kLost, X::kNone, "node_lost", false, true},
      {S::kPending, ev(E::kVanished), true, S::kLost, X::kNone, "vanished"},
      {S::kRunning, ev(E::kDeletedExternally), true, S::kLost, X::kNone, "deleted_externally"},
      // launch failures and timeouts
      {S::kRequested, ev(E::kLaunchRefused), true, S::kLaunchFailed, X::kNone, "launch_failed"},
      {S::kLaunching, ev(E::kLaunchRefused), true, S::kLaunchFailed, X::kNone, "launch_failed"},
      {S::kPending, ev(E::kLaunchRefused), true, S::kLaunchFailed, X::kNone, "launch_failed"},
      {S::kRunning, ev(E::kLaunchRefused), false, S::kRunning, X::kNone, nullptr},
      {S::kRequested, ev(E::kLaunchTimedOut), true, S::kCancelled, X::kKillObject, "launch_timeout"},
      {S::kLaunching, ev(E::kLaunchTimedOut), true, S::kCancelled, X::kKillObject, "launch_timeout"},
      {S::kPending, ev(E::kLaunchTimedOut), false, S::kPending, X::kNone, nullptr},
      // scale down never touches a running executor
      {S::kRequested, ev(E::kCancel), true, S::kCancelled, X::kKillObject, "cancelled"},
      {S::kLaunching, ev(E::kCancel), true, S::kCancelled, X::kKillObject, "cancelled"},
      {S::kPending, ev(E::kCancel), true, S::kCancelled, X::kKillObject, "cancelled"},
      {S::kRunning, ev(E::kCancel), false, S::kRunning, X::kNone, nullptr},
      {S::kDecommissioning, ev(E::kCancel), false, S::kDecommissioning, X::kNone, nullptr},
      // kills by id
      {S::kRequested, kill("killed_by_driver"), true, S::kKilled, X::kKillObject, "killed_by_driver"},
      {S::kRunning, kill("killed_by_driver"), true, S::kKilled, X::kKillObject, "killed_by_driver"},
      {S::kDecommissioning, kill("decommission_timeout"), true, S::kKilled, X::kKillObject, "decommission_timeout"},
      {S::kPending, kill("lease_expired"), true, S::kKilled, X::kKillObject, "lease_expired"},
      // decommission
      {S::kRunning, ev(E::kDecommission), true, S::kDecommissioning, X::kDecommissionObject, nullptr},
      {S::kPending, ev(E::kDecommission), true, S::kCancelled, X::kKillObject, "decommissioned"},
      {S::kDecommissioning, ev(E::kDecommission), false, S::kDecommissioning, X::kNone, nullptr},
  };

  for (const Row& row : rows) {
    INFO(to_string(row.from) << " + " << to_string(row.event.type));
    Transition t = transition(row.from, row.event);
    CHECK(t.changed == row.changed);
    CHECK(t.next == row.next);
    CHECK(t.effect == row.effect);
    if (row.loss_reason == nullptr) {
      CHECK_FALSE(t.loss.has_value());
    } else {
      REQUIRE(t.loss.has_value());
      CHECK(t.loss->reason == row.loss_reason);
      CHECK(t.loss->caused_by_app == row.caused_by_app);
      CHECK(t.loss->host_lost == row.host_lost);
    }
  }
}

TEST_CASE("terminal states absorb every event") {
  const S terminal[] = {S::kSucceeded, S::kFailed, S::kKilled, S::kLost, S::kLaunchFailed, S::kCancelled};
  for (S from : terminal) {
    for (int e = 0; e <= static_cast<int>(E::kDecommission); ++e) {
      INFO(to_string(from) << " + " << to_string(static_cast<E>(e)));
      Transition t = transition(from, ev(static_cast<E>(e)));
      CHECK_FALSE(t.changed);
      CHECK(t.next == from);
      CHECK(t.effect == X::kNone);
    }
  }
}

TEST_CASE("exit messages carry the code and OOM carries OOMKilled") {
  CHECK(transition(S::kRunning, exited(3)).loss->message == "exited with code 3");
  CHECK(transition(S::kRunning, oom()).loss->message == "OOMKilled");
  CHECK(transition(S::kRunning, node_lost()).loss->message == "node host-1 lost");
}
