#!/usr/bin/python3
"""berth-chaos: a seeded fault campaign against the real berthd on every backend.

For each backend asked for (local, kubernetes, nomad, mesos), it starts the backend (a simulator,
or this host for local) and one berthd, then plays N rounds. A round registers a few applications
and plays random actions: target changes, kills of executors by id (with and without adjusting
the target), faults injected into the backend (error rates and "fail the next N" on its calls,
latency, outages, dropped or expired watches and streams, compaction, node or agent loss,
leader loss and failover, REVIVE failures, executors exiting or being evicted) and kill -9 of
berthd followed by a restart on the same state dir. Then it heals the backend and waits, with a
deadline, until the invariants hold, reading the backend itself:

  target     berthd keeps every target it acknowledged (lowered by kills that adjusted it)
  alive      exactly the target of executors RUNNING, none left in flight
  view       berthd's RUNNING executors are exactly what the backend runs for the app (same
             names, same hosts), and the backend holds nothing else of it
  duplicate  no executor twice on the backend; no executor id twice in berthd's list
  id-reuse   an id once ended never comes back; next_executor_id never goes back
  leak       nothing of an unregistered (or unknown) application is left on the backend, and
             berthd has no live executor of an application it ended
  pool       the pool is synced and healthy once the backend is
  stuck-pool launches never wait on a pool that cannot launch (Mesos: a suppressed framework)
  framework  Mesos: exactly one framework of the pool, subscribed

It finally unregisters the round's applications and waits until nothing of them is left. The
safety invariants (duplicate ids in one list, id reuse) are checked at every observation, the
others once the backend is healed.

A round's randomness comes only from (seed, backend, round): `--seed S --round R --backends X`
replays round R of backend X on a fresh backend and berthd. What a replay cannot repeat exactly
is timing (thread scheduling, the simulators' own random draws on a different request order).

Standard library only; it reuses tests/e2e/berth_harness.py and nomad_harness.py. The binaries
come from BERTHD, BERTHCTL and BERTH_SIM (default: build/bin of the checkout). See README.md.
"""

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import berth_harness as harness  # noqa: E402
import chaos_backends  # noqa: E402

PYTHON = "/usr/bin/python3"
SCRIPT = "tests/chaos/berth_chaos.py"

# Short durations, so that a round converges in seconds (berth_harness.FAST_RECONCILER, and kill
# follow-ups and ended applications that do not wait minutes).
RECONCILER = dict(harness.FAST_RECONCILER, kill_retry_margin="2s", kill_retry_max="5s", ended_retention="20s")

MAX_TARGET = 5
IN_FLIGHT = ("REQUESTED", "LAUNCHING", "PENDING")
TERMINAL = ("SUCCEEDED", "FAILED", "KILLED", "LOST", "LAUNCH_FAILED", "CANCELLED")

# Actions of a round and their weights.
ACTIONS = (("target", 4), ("kill", 3), ("fault", 4), ("crash", 2), ("ramp_crash", 1), ("pause", 2), ("churn", 1))


class HarnessError(Exception):
    """The tool could not do what it meant to (a backend or berthd that would not start): not a
    finding about berthd's invariants, but it ends the round as a violation all the same."""


class Finding(Exception):
    """A violation that ends the round at once: berthd died without being killed
    ("berthd-exit"), or did not start again on its state dir ("restart")."""

    def __init__(self, invariant, details):
        super().__init__(details)
        self.invariant = invariant


# -------------------------------------------------------------------------------------------------
# What the driver asked for
# -------------------------------------------------------------------------------------------------

class AppModel:
    """One application as the driver (this tool) knows it: the targets berthd may hold (one value,
    or two when a call's outcome is unknown) and whether it is registered."""

    def __init__(self, app_id):
        self.app_id = app_id
        self.targets = {0}
        self.live = True

    def set_target(self, value, certain=True):
        self.targets = {value} if certain else self.targets | {value}

    def lower(self, killed):
        self.targets = {max(0, t - killed) for t in self.targets}


class IdLedger:
    """What berthd has said about executor ids, to catch an id reused or issued twice."""

    def __init__(self):
        self.identities = {}  # (app, id) -> (backend name, requested time) first seen
        self.ended = {}       # (app, id) -> the terminal state it was seen in
        self.highest = {}    # app -> highest id seen
        self.reported = set()

    def observe(self, app, executors, next_id=None):
        """`next_id`: the application's next_executor_id, read before `executors` (so it is
        compared with the ids of earlier observations only)."""
        problems = []
        if next_id is not None and next_id <= self.highest.get(app, 0):
            problems.append(("id-reuse", "%s's next_executor_id is %d but id %d was issued already"
                             % (app, next_id, self.highest[app])))
        ids = [harness.executor_id(e) for e in executors]
        if len(ids) != len(set(ids)):
            problems.append(("duplicate", "berthd lists an executor id of %s twice: %s" % (app, sorted(ids))))
        for executor in executors:
            key = (app, harness.executor_id(executor))
            identity = (executor.get("backendName"), executor.get("times", {}).get("requested"))
            seen = self.identities.setdefault(key, identity)
            if seen != identity:
                problems.append(("id-reuse", "executor %d of %s was issued twice: as %s requested at %s, then as %s "
                                 "requested at %s (now %s)" % (key[1], app, seen[0], seen[1], identity[0],
                                                               identity[1], executor["state"])))
            if executor["state"] in TERMINAL:
                self.ended[key] = executor["state"]
            elif key in self.ended:
                problems.append(("id-reuse", "executor %d of %s was %s and is %s again"
                                 % (key[1], app, self.ended[key], executor["state"])))
        if ids:
            self.highest[app] = max(self.highest.get(app, 0), max(ids))
        fresh = [p for p in problems if p not in self.reported]
        self.reported.update(fresh)
        return fresh


# -------------------------------------------------------------------------------------------------
# One backend's campaign
# -------------------------------------------------------------------------------------------------

class Campaign:
    """The rounds of one backend: one backend and one berthd, restarted only by kill -9 (and
    started afresh after a round that found a violation, so that the next one starts clean)."""

    def __init__(self, kind, options, root):
        self.kind = kind
        self.options = options
        self.root = root
        self.world = 0
        self.backend = None
        self.daemon = None
        self.stats = {"rounds": 0, "kills": 0, "faults": 0, "violations": 0, "times": []}
        self.violations = []

    # The world: backend + berthd ---------------------------------------------------------------

    def start_world(self):
        self.world += 1
        directory = os.path.join(self.root, "%s-%d" % (self.kind, self.world))
        os.makedirs(directory)
        self.directory = directory
        marker = uuid.uuid4().hex
        seed = random.Random("berth-chaos/%d/%s/sim/%d" % (self.options.seed, self.kind, self.world)).randrange(1, 2**31)
        self.backend = chaos_backends.BACKENDS[self.kind](directory, marker, seed)
        self.backend.start()
        config = harness.base_config(os.path.join(directory, "state"), pools=[self.backend.pool_config()],
                                     reconciler=RECONCILER)
        config["logging"] = {"level": "debug" if self.options.verbose else "info"}
        self.daemon = harness.Daemon(directory, config)
        self.daemon.start()

    def stop_world(self):
        if self.daemon is not None:
            try:
                self.daemon.kill9()
            except Exception:  # noqa: BLE001 - keep cleaning up
                pass
        if self.backend is not None:
            try:
                self.backend.stop()
            except Exception:  # noqa: BLE001
                pass
        self.daemon = self.backend = None

    def restart_daemon(self):
        """Starts berthd again on its state dir after a kill -9."""
        try:
            self.daemon.start()
        except AssertionError as error:
            raise Finding("restart", "berthd did not start again on its state dir: %s" % error) from None

    def expect_running(self):
        """Raises Finding when berthd exited although nobody killed it."""
        if not self.daemon.running():
            raise Finding("berthd-exit", "berthd exited by itself with %s; its log ends:\n%s"
                          % (self.daemon.process.returncode, self.daemon.log_tail(30)))

    def kill9(self):
        self.expect_running()
        self.daemon.kill9()

    # berthctl ----------------------------------------------------------------------------------

    def ctl(self, *args):
        """berthctl's parsed JSON; raises Finding when berthd died by itself, HarnessError
        when it does not answer."""
        ok, answer = self.try_ctl(*args)
        if not ok:
            raise HarnessError("%r" % answer)
        return answer

    def try_ctl(self, *args):
        """(ok, parsed JSON or the CtlResult); raises Finding when berthd died by itself."""
        result = self.daemon.ctl(*[str(a) for a in args])
        if result.returncode == 0:
            return True, result.json()
        self.expect_running()
        return False, result

    # Rounds ------------------------------------------------------------------------------------

    def run(self, rounds):
        self.start_world()
        try:
            for number in rounds:
                ok = self.play(number)
                if not ok and not self.options.keep_going:
                    return False
                if not ok:
                    self.stop_world()
                    self.start_world()
            return True
        finally:
            self.stop_world()

    def play(self, number):
        round_ = Round(self, number)
        started = time.monotonic()
        try:
            round_.run()
        except Finding as finding:
            round_.violation(finding.invariant, str(finding))
        except HarnessError as error:
            round_.violation("harness", str(error))
        except Exception:  # noqa: BLE001 - a tool or simulator failure is reported, not hidden
            round_.violation("harness", traceback.format_exc())
        elapsed = time.monotonic() - started
        self.stats["rounds"] += 1
        self.stats["kills"] += round_.kills
        self.stats["faults"] += round_.faults
        self.stats["violations"] += len(round_.violations)
        self.stats["times"].append(elapsed)
        print("%s round %d: %.1f s, kill -9s %d, faults %d, converged in %s, cleaned in %s, violations %d"
              % (self.kind, number, elapsed, round_.kills, round_.faults, seconds(round_.converge_time),
                 seconds(round_.clean_time), len(round_.violations)), flush=True)
        if round_.violations:
            self.report(number, round_)
        return not round_.violations

    def report(self, number, round_):
        """Each violation of the round, then how to replay it, what the round did and where its
        logs are (kept)."""
        replay = "%s %s --backends %s --seed %d --round %d" % (PYTHON, SCRIPT, self.kind, self.options.seed, number)
        for invariant, details in round_.violations:
            self.violations.append((self.kind, number, invariant, details, replay))
            print("VIOLATION %s round %d: %s: %s" % (self.kind, number, invariant, details))
        print("  replay: %s" % replay)
        print("  actions:\n    " + "\n    ".join(round_.log[-60:]))
        print("  berthd's and the backend's logs: %s" % self.directory, flush=True)
        self.options.keep_dirs = True

    def summary(self):
        times = self.stats["times"]
        per_round = ", per round mean %.1f s, max %.1f s" % (sum(times) / len(times), max(times)) if times else ""
        return "%s: rounds %d, kill -9s %d, faults %d, violations %d%s" % (
            self.kind, self.stats["rounds"], self.stats["kills"], self.stats["faults"], self.stats["violations"],
            per_round)


def seconds(value):
    return "-" if value is None else "%.1f s" % value


# -------------------------------------------------------------------------------------------------
# One round
# -------------------------------------------------------------------------------------------------

class Round:
    def __init__(self, campaign, number):
        self.campaign = campaign
        self.kind = campaign.kind
        self.number = number
        self.options = campaign.options
        self.rng = random.Random("berth-chaos/%d/%s/%d" % (self.options.seed, self.kind, number))
        self.tag = "%04x" % self.rng.getrandbits(16)
        self.apps = []
        self.ledger = IdLedger()
        self.kills = 0
        self.faults = 0
        self.violations = []
        self.log = []
        self.converge_time = None
        self.excess = {}          # app -> ids of RUNNING executors above its target, nothing in flight
        self.idle_killed = set()  # apps whose excess the driver killed already
        self.clean_time = None
        self.started = time.monotonic()

    @property
    def daemon(self):
        return self.campaign.daemon

    @property
    def backend(self):
        return self.campaign.backend

    def note(self, text):
        line = "%6.2fs %s" % (time.monotonic() - self.started, text)
        self.log.append(line)
        if self.options.verbose:
            print("  %s round %d %s" % (self.kind, self.number, line), flush=True)

    def executors_of(self, app):
        """berthd's executors of `app`. An application unregistered this round may be forgotten
        (ended_retention) between listing the applications and asking for its executors: then it
        has none, and what the backend still holds of it is judged by the leak check."""
        ok, answer = self.campaign.try_ctl("executors", app.app_id)
        if ok:
            return answer.get("executors", [])
        if not app.live and "NOT_FOUND" in getattr(answer, "stderr", ""):
            return []
        raise HarnessError("%r" % answer)

    def violation(self, invariant, details):
        if (invariant, details) not in self.violations:
            self.violations.append((invariant, details))

    # The round ---------------------------------------------------------------------------------

    def run(self):
        self.campaign.expect_running()
        for _ in range(self.rng.randint(2, 3)):
            self.register()
        for _ in range(self.rng.randint(6, 12)):
            self.act(weighted(self.rng, ACTIONS))
            self.observe()
        self.backend.heal()
        self.campaign.expect_running()
        self.note("healed; waiting for convergence")
        started = time.monotonic()
        if self.converge("converged"):
            self.converge_time = time.monotonic() - started
        if self.violations:
            return
        for app in self.apps:
            if app.live:
                self.unregister(app)
        started = time.monotonic()
        if self.converge("clean"):
            self.clean_time = time.monotonic() - started

    def live_apps(self):
        return [a for a in self.apps if a.live]

    def register(self):
        app = AppModel("c%d-%s-%d" % (self.number, self.tag, len(self.apps)))
        self.campaign.ctl("app", "register", app.app_id, *self.backend.register_args())
        self.apps.append(app)
        target = self.rng.randint(1, MAX_TARGET)
        self.campaign.ctl("target", app.app_id, target)
        app.set_target(target)
        self.note("register %s, target %d" % (app.app_id, target))

    def unregister(self, app):
        self.campaign.ctl("app", "unregister", app.app_id)
        app.live = False
        self.note("unregister %s" % app.app_id)

    def act(self, action):
        getattr(self, "act_" + action)()

    def act_target(self):
        app = self.rng.choice(self.live_apps())
        target = self.rng.randint(0, MAX_TARGET)
        ok, _ = self.campaign.try_ctl("target", app.app_id, target)
        app.set_target(target, certain=ok)
        self.note("target %s %d%s" % (app.app_id, target, "" if ok else " (call failed)"))

    def act_kill(self):
        app = self.rng.choice(self.live_apps())
        live = sorted(harness.executor_id(e) for e in self.campaign.ctl("executors", app.app_id).get("executors", [])
                      if e["state"] not in TERMINAL)
        if not live:
            self.note("kill: %s has no live executor" % app.app_id)
            return
        victims = sorted(self.rng.sample(live, min(len(live), self.rng.randint(1, 2))))
        adjust = self.rng.random() < 0.5
        force = self.rng.random() < 0.3
        args = ["kill", app.app_id] + victims + ([] if adjust else ["--no-adjust-target"]) + (["--force"] if force else [])
        ok, answer = self.campaign.try_ctl(*args)
        if ok and adjust:
            app.lower(len(answer.get("killed", [])))
        elif not ok and adjust:
            app.targets |= {max(0, t - k) for t in app.targets for k in range(1, len(victims) + 1)}
        self.note("kill %s %s%s%s -> %s" % (app.app_id, victims, "" if adjust else " keeping the target",
                                              " (force)" if force else "",
                                              answer.get("killed", []) if ok else "call failed"))

    def act_fault(self):
        running = sorted(e["backendName"] for a in self.live_apps()
                         for e in self.campaign.ctl("executors", a.app_id, "--state", "RUNNING").get("executors", []))
        name, function = weighted_fault(self.rng, self.backend.fault_menu())
        description = function(self.rng, running)
        if description is None:
            self.note("fault %s: nothing to act on" % name)
            return
        self.faults += 1
        self.note("fault: " + description)

    def act_crash(self):
        """kill -9 of berthd: at once, or after a moment; back at once, or after a moment down."""
        if self.rng.random() < 0.5:
            pause = self.rng.uniform(0, 1.0)
            self.note("crash in %.2f s" % pause)
            time.sleep(pause)
        self.campaign.kill9()
        self.kills += 1
        down = self.rng.choice((0.0, 0.0, self.rng.uniform(0.1, 1.5)))
        self.note("kill -9 berthd; down for %.2f s" % down)
        time.sleep(down)
        self.campaign.restart_daemon()
        self.note("berthd restarted")

    def act_ramp_crash(self):
        """A ramp, berthd's list read while it creates the executors, and kill -9 at once: what
        berthd showed must survive the crash (no id issued again)."""
        app = self.rng.choice(self.live_apps())
        target = min(max(app.targets) + self.rng.randint(1, 3), MAX_TARGET + 3)
        ok, _ = self.campaign.try_ctl("target", app.app_id, target)
        app.set_target(target, certain=ok)
        self.observe()
        self.campaign.kill9()
        self.kills += 1
        self.note("target %s %d, list, kill -9 berthd at once" % (app.app_id, target))
        self.campaign.restart_daemon()
        self.note("berthd restarted")

    def act_pause(self):
        pause = self.rng.uniform(0.05, 0.8)
        time.sleep(pause)
        self.note("pause %.2f s" % pause)

    def act_churn(self):
        """One application ends and another starts, as drivers come and go."""
        live = self.live_apps()
        if len(live) > 1:
            self.unregister(self.rng.choice(live))
        self.register()

    # Invariants --------------------------------------------------------------------------------

    def observe(self):
        """The safety invariants, at every step: berthd's lists of the round's applications."""
        listing = {a["appId"]: a for a in self.campaign.ctl("apps").get("applications", [])}
        for app in self.apps:
            record = listing.get(app.app_id)
            if record is None:
                continue
            executors = self.campaign.ctl("executors", app.app_id).get("executors", [])
            for problem in self.ledger.observe(app.app_id, executors, int(record.get("nextExecutorId", 0)) or None):
                self.violation(*problem)

    def check(self):
        """Every invariant against the backend; [(invariant, details)], empty once converged."""
        problems = []
        self.excess = {}
        listing = {a["appId"]: a for a in self.campaign.ctl("apps").get("applications", [])}
        objects = self.backend.objects()
        mine = {a.app_id for a in self.apps}
        by_app = {}
        for obj in objects:
            by_app.setdefault(obj.app, []).append(obj)
        names = [o.name for o in objects if o.present]
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            problems.append(("duplicate", "the backend holds %s more than once" % doubles))
        for obj in objects:
            if obj.present and obj.app not in mine:
                problems.append(("leak", "the backend holds %s of application %s, which no driver has registered"
                                 % (obj, obj.app)))
        waiting = False
        for app in self.apps:
            record = listing.get(app.app_id)
            executors = self.executors_of(app) if record else []
            for problem in self.ledger.observe(app.app_id, executors,
                                               int(record.get("nextExecutorId", 0)) or None if record else None):
                self.violation(*problem)
            present = sorted(o.name for o in by_app.get(app.app_id, []) if o.present)
            if not app.live:
                alive = sorted("%d:%s" % (harness.executor_id(e), e["state"]) for e in executors
                               if e["state"] not in TERMINAL)
                if alive:
                    problems.append(("leak", "berthd still has live executors %s of %s, which was unregistered"
                                     % (alive, app.app_id)))
                if present:
                    problems.append(("leak", "the backend still holds %s of %s, which was unregistered"
                                     % ([o for o in by_app[app.app_id] if o.present], app.app_id)))
                continue
            if record is None or record.get("phase") != "ACTIVE":
                problems.append(("target", "berthd has %s as %s" % (app.app_id, record and record.get("phase"))))
                continue
            target = harness.target_of(record)
            if target not in app.targets:
                problems.append(("target", "%s's target is %d, the driver's is %s" % (app.app_id, target,
                                                                                     sorted(app.targets))))
            running = {e["backendName"]: e for e in executors if e["state"] == "RUNNING"}
            unsettled = sorted("%d:%s" % (harness.executor_id(e), e["state"]) for e in executors
                               if e["state"] not in TERMINAL and e["state"] != "RUNNING")
            waiting |= any(e["state"] in IN_FLIGHT for e in executors)
            if len(running) > target and not unsettled and app.app_id not in self.idle_killed:
                # RUNNING executors above a lowered target stay until the driver kills them by id
                # (Spark's idle timeout); the driver here does that once per application.
                self.excess[app.app_id] = sorted((harness.executor_id(e) for e in running.values()),
                                                 reverse=True)[:len(running) - target]
            if len(running) != target or unsettled:
                problems.append(("alive", "%s: target %d, RUNNING %d, not settled %s%s"
                                 % (app.app_id, target, len(running), unsettled,
                                    "; conditions %s" % record["conditions"] if record.get("conditions") else "")))
            backend_running = sorted(o.name for o in by_app.get(app.app_id, []) if o.running)
            if sorted(running) != present or present != backend_running:
                problems.append(("view", "%s: berthd RUNNING %s, the backend holds %s"
                                 % (app.app_id, sorted(running), by_app.get(app.app_id, []))))
            for obj in by_app.get(app.app_id, []):
                host = running.get(obj.name, {}).get("host")
                if obj.running and obj.host and host and host != obj.host:
                    problems.append(("view", "%s runs on %s, berthd says %s" % (obj.name, obj.host, host)))
        pools = {p["name"]: p for p in self.campaign.ctl("pools").get("pools", [])}
        pool = pools.get(self.backend.POOL, {})
        if not (pool.get("healthy") and pool.get("synced")):
            problems.append(("pool", "pool %s: healthy %s, synced %s, last error %r"
                             % (self.backend.POOL, pool.get("healthy", False), pool.get("synced", False),
                                pool.get("lastError", ""))))
        if not self.live_apps():
            # Everything ended and is gone: no kill still tracked, no launch still queued.
            backlog = {key: int(pool.get(key, 0)) for key in ("killsPending", "launchQueue")}
            if any(backlog.values()):
                problems.append(("pool", "pool %s with no application left: %s" % (self.backend.POOL, backlog)))
        problems += self.backend.pool_problems(waiting)
        return problems

    def converge(self, what):
        """Waits, up to the deadline, until check() finds nothing; otherwise records what it
        found last as violations. True when converged."""
        deadline = time.monotonic() + self.options.deadline
        last = []
        while True:
            last = self.check()
            if not last:
                self.note(what)
                return True
            if time.monotonic() >= deadline:
                break
            for app_id, ids in sorted(self.excess.items()):
                self.campaign.ctl("kill", app_id, *ids, "--no-adjust-target")
                self.idle_killed.add(app_id)
                self.note("kill idle executors %s of %s (above the lowered target), keeping the target" % (ids, app_id))
            time.sleep(0.1)
        self.note("not %s after %d s" % (what, self.options.deadline))
        stuck = any(invariant == "stuck-pool" for invariant, _ in last)
        for invariant, details in last:
            if stuck and invariant == "alive":
                invariant = "stuck-pool"
            self.violation(invariant, details)
        return False


def weighted(rng, choices):
    total = sum(weight for _, weight in choices)
    point = rng.uniform(0, total)
    for name, weight in choices:
        point -= weight
        if point <= 0:
            return name
    return choices[-1][0]


def weighted_fault(rng, menu):
    name = weighted(rng, [(name, weight) for name, weight, _ in menu])
    return name, next(function for n, _, function in menu if n == name)


# -------------------------------------------------------------------------------------------------
# Command line
# -------------------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=SCRIPT, description="Seeded chaos soak of berthd: random targets, kills, backend faults and kill -9, "
                                 "then the invariants checked against the backend.")
    parser.add_argument("--backends", default="local,kubernetes,nomad,mesos",
                        help="comma-separated, of %s (default: all)" % ",".join(chaos_backends.BACKENDS))
    parser.add_argument("--rounds", type=int, default=5, help="rounds per backend (default 5)")
    parser.add_argument("--round", type=int, help="replay this one round (with the seed that found it)")
    parser.add_argument("--seed", type=int, help="campaign seed (default: a random one, printed)")
    parser.add_argument("--deadline", type=float, default=60,
                        help="seconds a round may take to converge, and to clean up (default 60)")
    parser.add_argument("--keep-going", action="store_true",
                        help="play every round even after a violation (default: stop at the first)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (logs, state) even without a violation")
    parser.add_argument("--verbose", action="store_true", help="print every action, and run berthd at debug level")
    options = parser.parse_args(argv)
    options.backends = [b.strip() for b in options.backends.split(",") if b.strip()]
    unknown = [b for b in options.backends if b not in chaos_backends.BACKENDS]
    if unknown:
        parser.error("unknown backend(s) %s" % ",".join(unknown))
    if options.seed is None:
        options.seed = random.SystemRandom().randrange(1, 10**6)
    options.keep_dirs = options.keep
    return options


def main(argv=None):
    options = parse_args(argv)
    for binary in (harness.BERTHD, harness.BERTHCTL, harness.BERTH_SIM):
        if not os.access(binary, os.X_OK):
            print("%s is not built (set BERTHD, BERTHCTL and BERTH_SIM)" % binary, file=sys.stderr)
            return 2
    rounds = [options.round] if options.round is not None else list(range(1, options.rounds + 1))
    root = tempfile.mkdtemp(prefix="berth-chaos-")
    print("berth-chaos: seed %d, backends %s, rounds %s" % (
        options.seed, ",".join(options.backends),
        options.round if options.round is not None else options.rounds), flush=True)
    campaigns = []
    started = time.monotonic()

    def stop(number, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    interrupted = False
    try:
        for kind in options.backends:
            campaign = Campaign(kind, options, root)
            campaigns.append(campaign)
            if not campaign.run(rounds) and not options.keep_going:
                break
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted", flush=True)
    finally:
        for campaign in campaigns:
            campaign.stop_world()
    print("---- berth-chaos: seed %d, %.0f s" % (options.seed, time.monotonic() - started))
    for campaign in campaigns:
        print(campaign.summary())
    violations = [v for c in campaigns for v in c.violations]
    for kind, number, invariant, details, replay in violations:
        print("violation: %s round %d: %s: %s\n  replay: %s" % (kind, number, invariant, details.splitlines()[0]
                                                             if details else "", replay))
    if options.keep_dirs:
        print("work directory kept: %s" % root)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if violations or interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
