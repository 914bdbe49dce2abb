"""Mesos pools end to end: the real berthd and berthctl against `berth-sim mesos`.

Every test asserts on both sides: berthd's view (berthctl -o json) and what the simulated master
holds (its /sim/state: frameworks, agents, tasks). The simulator runs at --time-scale 10, so its
default 1 s start delay is 0.1 s, and with a 0.5 s heartbeat so that berthd notices a silent
subscription within seconds. Scripted failures come from `behaviours` rules in its config,
selected by a task label the test gives the application (`app register --label
e2e-script=...`) and, where only the first executor should fail, by Berth's own
`berth.dev/executor` task label; or from `sim.berth.dev/*` labels given to the application
directly.
"""

import os
import time
import unittest

from berth_harness import BERTH_SIM, BerthTestCase, MesosSim, RequestBudget, executor_id, ids_in, target_of

POOL = "mesos"
SCRIPT_LABEL = "e2e-script"
HEARTBEAT = 0.5  # seconds (real time)

# Enough room for three applications of 100 executors (1 core, 1408 MiB each by default).
AGENTS = [{"hostname": "agent-%d" % i, "cpus": 128, "mem": 524288, "disk": 1000000, "ports": "31000-32000",
           "attributes": {"rack": "r%d" % (1 + i % 2)}} for i in range(1, 5)]

IN_FLIGHT = ("REQUESTED", "LAUNCHING", "PENDING")
TERMINAL = ("SUCCEEDED", "FAILED", "KILLED", "LOST", "LAUNCH_FAILED", "CANCELLED")


def script(name, labels, only_first=False):
    """A simulator behaviour rule for the tasks of applications labelled e2e-script=name."""
    match = {SCRIPT_LABEL: name}
    if only_first:
        match["berth.dev/executor"] = "1"
    return {"match": match, "labels": dict(("sim.berth.dev/" + k, v) for k, v in labels.items())}


def sim_config(behaviours=(), agents=AGENTS, **extra):
    config = {"agents": agents if isinstance(agents, int) else list(agents)}
    if behaviours:
        config["behaviours"] = list(behaviours)
    config.update(extra)
    return config


def mesos_pool(masters, **settings):
    section = {"masters": list(masters), "refuse": "1s", "kill_grace": "2s", "reconcile_interval": "5s",
               "request_timeout": "5s", "retry_max_backoff": "1s"}
    section.update(settings)
    return {"name": POOL, "type": "mesos", "mesos": section}


def task_name(app, number):
    return "berth-%s-exec-%d" % (app, number)


class MesosCase(BerthTestCase):
    """A simulated Mesos master and berthd with one Mesos pool named mesos."""

    def start_cluster(self, behaviours=(), agents=AGENTS, sim=None, pool=None, reconciler=None, masters=None,
                      **daemon_overrides):
        self.sim = self.new_mesos_sim(sim_config(behaviours, agents), **(sim or {}))
        self.daemon = self.start_daemon(masters or [self.sim.master], pool=pool, reconciler=reconciler,
                                        **daemon_overrides)
        return self.daemon

    def new_mesos_sim(self, config=None, name="mesos-sim", start=True, **kwargs):
        """A `berth-sim mesos` (see MesosSim), killed at tearDown."""
        if not os.access(BERTH_SIM, os.X_OK):
            self.fail("%s is not built (set BERTH_SIM)" % BERTH_SIM)
        kwargs.setdefault("heartbeat", HEARTBEAT)
        sim = MesosSim(self.tmp, config, name=name, **kwargs)
        self.sims.append(sim)
        if start:
            sim.start()
        return sim

    def start_daemon(self, masters, pool=None, reconciler=None, name="berthd", **overrides):
        if reconciler:
            overrides["reconciler"] = reconciler
        return self.new_daemon(name=name, pools=[mesos_pool(masters, **(pool or {}))], **overrides)

    def register_mesos(self, app, *options, script_name=None, labels=None, daemon=None):
        daemon = daemon or self.daemon
        args = ["app", "register", app, "--pool", POOL]
        if script_name:
            args += ["--label", "%s=%s" % (SCRIPT_LABEL, script_name)]
        for key, value in (labels or {}).items():
            args += ["--label", "%s=%s" % (key, value)]
        return daemon.ctl_ok(*(args + list(options)))

    def pool_status(self, daemon=None):
        pools = (daemon or self.daemon).ctl_ok("pools").get("pools", [])
        return next(p for p in pools if p["name"] == POOL)

    def set_target(self, app, n, daemon=None):
        (daemon or self.daemon).ctl_ok("target", app, n)

    def executor(self, app, number, daemon=None):
        for e in (daemon or self.daemon).executors(app):
            if executor_id(e) == number:
                return e
        return None

    def wait_ended(self, app, number, timeout=30):
        """The executor, once it is in a terminal state."""
        def ended():
            e = self.executor(app, number)
            return e if e is not None and e["state"] in TERMINAL else None
        return self.wait_until(ended, timeout, "executor %d of %s ended" % (number, app))

    # The simulated master ----------------------------------------------------------------------

    def framework(self):
        """The one framework the master knows (berthd registers exactly one per pool)."""
        frameworks = self.sim.frameworks()
        self.assertEqual(len(frameworks), 1, frameworks)
        return frameworks[0]

    def app_tasks(self, app, state=None):
        """The master's tasks of app (the ones not yet ended and acknowledged)."""
        prefix = "berth-%s-exec-" % app
        return [t for t in (state or self.sim.state())["tasks"] if t["id"].startswith(prefix)]

    def hosts(self, state=None):
        """Agent id -> hostname."""
        return {a["id"]: a["hostname"] for a in (state or self.sim.state())["agents"]}

    def converged(self, app, n, daemon=None):
        """berthd has exactly n RUNNING executors of app and none in flight, and the master holds
        exactly their tasks, TASK_RUNNING with every update acknowledged. The RUNNING executors,
        or None."""
        executors = (daemon or self.daemon).executors(app)
        running = [e for e in executors if e["state"] == "RUNNING"]
        if len(running) != n or any(e["state"] in IN_FLIGHT for e in executors):
            return None
        # An unreachable agent's tasks stay on the master (TASK_UNREACHABLE) until it comes back.
        tasks = [t for t in self.app_tasks(app) if t["state"] != "TASK_UNREACHABLE"]
        if sorted(t["id"] for t in tasks) != sorted(e["backendName"] for e in running):
            return None
        if any(t["state"] != "TASK_RUNNING" or t["unacked"] for t in tasks):
            return None
        return running

    def wait_converged(self, app, n, timeout=30, daemon=None):
        def state():
            counts = {}
            for e in (daemon or self.daemon).executors(app):
                counts[e["state"]] = counts.get(e["state"], 0) + 1
            tasks = {}
            for t in self.app_tasks(app):
                key = t["state"] + ("/unacked" if t["unacked"] else "")
                tasks[key] = tasks.get(key, 0) + 1
            return "berthd %s, master %s" % (counts, tasks)
        return self.wait_until(lambda: self.converged(app, n, daemon), timeout,
                               lambda: "%d RUNNING executors of %s and exactly their tasks (now: %s)"
                               % (n, app, state()))

    def assert_tasks_match(self, app, running, ignore_unreachable=False, host_may_be_unknown=False):
        """Each RUNNING executor has its one task, named after it, on the agent berthd reports as
        its host; the master holds no other task of the app. `host_may_be_unknown`: an executor
        may have no host (see CrashMidRampTest), never a wrong one."""
        state = self.sim.state()
        tasks = [t for t in self.app_tasks(app, state) if not (ignore_unreachable and t["state"] == "TASK_UNREACHABLE")]
        ids = [t["id"] for t in tasks]
        self.assertEqual(len(ids), len(set(ids)), "a task id twice")
        self.assertEqual(sorted(ids), sorted(task_name(app, executor_id(e)) for e in running))
        self.assertEqual(sorted(ids), sorted(e["backendName"] for e in running))
        hosts = self.hosts(state)
        by_id = {t["id"]: t for t in tasks}
        for executor in running:
            if host_may_be_unknown and not executor.get("host"):
                continue
            self.assertEqual(executor.get("host"), hosts[by_id[executor["backendName"]]["agent_id"]], executor)



# -------------------------------------------------------------------------------------------------
# 1. Ramp
# -------------------------------------------------------------------------------------------------

class RampTest(MesosCase):

    def test_three_apps_double_their_targets_to_100_executors_each(self):
        self.start_cluster()
        shapes = {"ramp-a": (512, 1), "ramp-b": (2048, 1), "ramp-c": (1024, 2)}
        apps = {}
        for prefix, (heap, cores) in shapes.items():
            app = self.app_id(prefix)
            self.register_mesos(app, "--memory", heap, "--cores", cores)
            apps[app] = (heap, cores)

        # Spark's ExecutorAllocationManager doubles the number it adds while tasks stay backlogged;
        # each step comes once the previous one's executors are asked for, not once they run.
        target = 1
        while True:
            for app in apps:
                self.set_target(app, target)
            for app in apps:
                self.wait_until(lambda: len([e for e in self.daemon.executors(app) if e["state"] not in TERMINAL])
                                >= target, 20, "%s asks for %d executors" % (app, target))
            if target == 100:
                break
            target = min(100, target * 2)

        for app, (heap, cores) in apps.items():
            running = self.wait_converged(app, 100, timeout=60)
            self.assertEqual(ids_in(self.daemon.executors(app)), list(range(1, 101)),
                             "every executor of %s has its id, none was replaced" % app)
            self.assertEqual(target_of(self.daemon.app(app)), 100)
            self.assert_tasks_match(app, running)
            memory = heap + max(int(heap * 0.10), 384)
            for task in self.app_tasks(app):
                self.assertEqual(task["resources"]["cpus"], cores, task)
                self.assertEqual(task["resources"]["mem"], memory, task)
        state = self.sim.state()
        self.assertEqual(len(state["tasks"]), 300, "no task outside the three applications")
        self.assertEqual({t["state"] for t in state["tasks"]}, {"TASK_RUNNING"})
        framework = self.framework()
        self.assertEqual(framework["tasks"], {"TASK_RUNNING": 300})
        self.assertEqual(framework.get("completed_tasks", {}), {}, "no task ended")
        pool = self.pool_status()
        self.assertTrue(pool.get("healthy"))
        self.assertEqual(pool["counts"].get("RUNNING"), 300)



# -------------------------------------------------------------------------------------------------
# 2. Kills, lower targets, unregister
# -------------------------------------------------------------------------------------------------

class KillAndTargetTest(MesosCase):

    def test_kill_by_id_with_and_without_adjusting_the_target(self):
        self.start_cluster()
        app = self.app_id("kill")
        self.register_mesos(app)
        self.set_target(app, 4)
        self.wait_converged(app, 4)

        # adjust_target (berthctl's default): KILLED, its task killed on the master, not replaced.
        answer = self.daemon.ctl_ok("kill", app, 1)
        self.assertEqual([int(i) for i in answer.get("killed", [])], [1])
        self.assertEqual(self.wait_ended(app, 1)["state"], "KILLED")
        self.assertEqual(target_of(self.daemon.app(app)), 3)
        running = self.wait_converged(app, 3)
        self.assertEqual(ids_in(running), [2, 3, 4])

        # Without: KILLED and replaced by a new id, never a reused one.
        self.daemon.ctl_ok("kill", app, 2, "--no-adjust-target")
        killed = self.wait_ended(app, 2)
        self.assertEqual(killed["state"], "KILLED")
        self.assertFalse(killed.get("loss", {}).get("causedByApp", False))
        running = self.wait_converged(app, 3)
        self.assertEqual(ids_in(running), [3, 4, 5])
        self.assertEqual(target_of(self.daemon.app(app)), 3)
        self.assertEqual(ids_in(self.daemon.executors(app)), [1, 2, 3, 4, 5])
        self.assert_tasks_match(app, running)
        self.assertEqual(self.framework()["completed_tasks"], {"TASK_KILLED": 2}, "exactly the two killed")

    def test_lower_target_cancels_tasks_still_starting(self):
        # Executors 1 and 2 start; 3 to 6 stay TASK_STARTING (PENDING) for an hour.
        slow = [{"match": {SCRIPT_LABEL: "slow", "berth.dev/executor": str(n)},
                 "labels": {"sim.berth.dev/start-delay": "1h"}} for n in range(3, 7)]
        self.start_cluster(slow)
        app = self.app_id("lower")
        self.register_mesos(app, script_name="slow")
        self.set_target(app, 2)
        self.wait_converged(app, 2)

        self.set_target(app, 6)
        self.wait_until(lambda: ids_in(self.daemon.executors(app, ["PENDING"])) == [3, 4, 5, 6], 20,
                        "executors 3-6 PENDING")
        self.wait_until(lambda: sorted(t["state"] for t in self.app_tasks(app)) ==
                        ["TASK_RUNNING"] * 2 + ["TASK_STARTING"] * 4, 10, "four tasks starting on the master")

        # Down to 3: the newest pending ones go (6, 5, 4), their tasks killed; 1, 2 and 3 stay.
        self.set_target(app, 3)
        for number in (4, 5, 6):
            self.assertEqual(self.wait_ended(app, number)["state"], "CANCELLED")
        self.wait_until(lambda: sorted(t["id"] for t in self.app_tasks(app)) ==
                        sorted(task_name(app, n) for n in (1, 2, 3)), 10, "tasks 4-6 gone from the master")
        self.assertEqual(self.executor(app, 3)["state"], "PENDING")
        # Down to 1: only the pending one can go; running executors are never killed for a target.
        self.set_target(app, 1)
        self.assertEqual(self.wait_ended(app, 3)["state"], "CANCELLED")
        running = self.wait_converged(app, 2)
        self.assertEqual(ids_in(running), [1, 2])
        self.assertEqual(target_of(self.daemon.app(app)), 1)
        self.assertEqual(self.framework()["completed_tasks"], {"TASK_KILLED": 4})

    def test_lower_target_cancels_launches_waiting_for_an_offer(self):
        """With room for two executors only, the other two wait in berthd for an offer; lowering
        the target drops them without a task ever reaching the master."""
        self.start_cluster(agents=[{"hostname": "small-1", "cpus": 2, "mem": 8192, "disk": 10000,
                                    "ports": "31000-31010"}])
        app = self.app_id("queued")
        self.register_mesos(app)
        self.set_target(app, 4)

        def two_run_two_wait():
            executors = self.daemon.executors(app)
            waiting = [e for e in executors if e["state"] in IN_FLIGHT]
            return (ids_in(executors, "RUNNING") == [1, 2] and ids_in(waiting) == [3, 4] and
                    len(self.app_tasks(app)) == 2)
        self.wait_until(two_run_two_wait, 10, "1 and 2 RUNNING, 3 and 4 waiting for an offer")

        self.set_target(app, 2)
        for number in (3, 4):
            self.assertEqual(self.wait_ended(app, number)["state"], "CANCELLED")
        self.assertEqual(ids_in(self.wait_converged(app, 2)), [1, 2])
        framework = self.framework()
        self.assertEqual(framework["completed_tasks"], {}, "no task of 3 or 4 ever existed")
        self.assertEqual(framework["tasks"], {"TASK_RUNNING": 2})

    def test_unregister_kills_every_task_of_the_app(self):
        self.start_cluster()
        app, other = self.app_id("gone"), self.app_id("stays")
        for a, n in ((app, 5), (other, 2)):
            self.register_mesos(a)
            self.set_target(a, n)
        self.wait_converged(app, 5)
        self.wait_converged(other, 2)

        self.daemon.ctl_ok("app", "unregister", app)
        self.wait_until(lambda: not self.app_tasks(app), 20, "every task of %s gone from the master" % app)
        for number in range(1, 6):
            ended = self.wait_ended(app, number)
            self.assertEqual(ended["state"], "KILLED")
            self.assertEqual(ended["loss"]["reason"], "app_unregistered")
        self.assertEqual(self.framework()["completed_tasks"], {"TASK_KILLED": 5})
        self.assertEqual(ids_in(self.wait_converged(other, 2)), [1, 2])


# -------------------------------------------------------------------------------------------------
# 3. Failures with their reasons
# -------------------------------------------------------------------------------------------------

class ScriptedFailureTest(MesosCase):
    """Executor 1 of each application fails as scripted; its replacement (2) runs."""

    BEHAVIOURS = [
        script("oom", {"oom": "true", "run-for": "1s"}, only_first=True),
        script("exit3", {"run-for": "1s", "exit-code": "3"}, only_first=True),
    ]

    def setUp(self):
        super().setUp()
        self.start_cluster(self.BEHAVIOURS)

    def first_fails_and_is_replaced(self, script_name=None, labels=None):
        app = self.app_id(script_name or "labels")
        self.register_mesos(app, script_name=script_name, labels=labels)
        self.set_target(app, 1)
        failed = self.wait_ended(app, 1)
        running = self.wait_converged(app, 1)
        self.assertEqual(ids_in(running), [2], "replaced by a new executor id")
        self.assertEqual(ids_in(self.daemon.executors(app)), [1, 2])
        self.assertEqual(self.framework()["completed_tasks"], {"TASK_FAILED": 1})
        return failed

    def test_oom_is_exit_137_caused_by_the_app(self):
        failed = self.first_fails_and_is_replaced("oom")
        self.assertEqual(failed["state"], "FAILED")
        self.assertEqual(failed.get("exitCode"), 137)
        self.assertEqual(failed["loss"]["reason"], "oom_killed")
        self.assertTrue(failed["loss"].get("causedByApp"))
        self.assertIn("Memory limit exceeded", failed["loss"]["message"])

    def test_exit_code_3_is_a_failure_caused_by_the_app(self):
        failed = self.first_fails_and_is_replaced("exit3")
        self.assertEqual(failed["state"], "FAILED")
        self.assertEqual(failed.get("exitCode"), 3)
        self.assertEqual(failed["loss"]["reason"], "exited")
        self.assertTrue(failed["loss"].get("causedByApp"))

    def test_exit_code_from_the_applications_own_labels(self):
        """The sim.berth.dev/* labels given at registration reach the task: every executor of the
        app exits 3 after 1 s (the first two are looked at)."""
        app = self.app_id("labels")
        self.register_mesos(app, labels={"sim.berth.dev/run-for": "1s", "sim.berth.dev/exit-code": "3"})
        self.set_target(app, 1)
        for number in (1, 2):
            failed = self.wait_ended(app, number)
            self.assertEqual((failed["state"], failed.get("exitCode")), ("FAILED", 3), failed)
            self.assertEqual(failed["loss"]["reason"], "exited")
        self.daemon.ctl_ok("app", "unregister", app)

    def agent_loss(self, mode):
        app = self.app_id(mode)
        self.register_mesos(app)
        self.set_target(app, 4)
        running = self.wait_converged(app, 4)
        host = running[0]["host"]
        agent = next(a for a in self.sim.agents() if a["hostname"] == host)
        on_agent = sorted(executor_id(e) for e in running if e["host"] == host)
        self.sim.remove_agent(agent["id"], mode)

        for number in on_agent:
            lost = self.wait_ended(app, number)
            self.assertEqual(lost["state"], "LOST", lost)
            self.assertEqual(lost["loss"]["reason"], "node_lost", lost)
            self.assertTrue(lost["loss"].get("hostLost"), lost)
            self.assertFalse(lost["loss"].get("causedByApp", False))
            self.assertEqual(lost["host"], host)
        running = self.wait_converged(app, 4)
        self.assertTrue(all(e["host"] != host for e in running), running)
        self.assertEqual(ids_in(self.daemon.executors(app)), list(range(1, 5 + len(on_agent))))
        # Lost for good: gone from the master; unreachable: kept there, TASK_UNREACHABLE, as a
        # partition-aware master does until the agent comes back.
        left = {t["id"]: t["state"] for t in self.app_tasks(app) if t["agent_id"] == agent["id"]}
        expected = {task_name(app, n): "TASK_UNREACHABLE" for n in on_agent} if mode == "unreachable" else {}
        self.assertEqual(left, expected)
        self.assert_tasks_match(app, running, ignore_unreachable=True)

    def test_agent_lost_makes_its_executors_lost_with_the_host_and_replaced(self):
        self.agent_loss("lost")

    def test_unreachable_agent_makes_its_executors_lost_with_the_host_and_replaced(self):
        self.agent_loss("unreachable")


# -------------------------------------------------------------------------------------------------
# 4-5. Offers: no starvation, suppressed when idle
# -------------------------------------------------------------------------------------------------

class OfferTest(MesosCase):

    def small_agent(self, n):
        return {"hostname": "small-%d" % n, "cpus": 4, "mem": 16384, "disk": 10000, "ports": "31000-31010"}

    def test_two_apps_on_scarce_capacity_both_make_progress(self):
        """Both applications ask for more than the cluster holds before any agent exists; each
        offer is shared between them, so neither waits for the other to be satisfied."""
        self.start_cluster(agents=0)
        first, second = self.app_id("first"), self.app_id("second")
        for app in (first, second):
            self.register_mesos(app)
            self.set_target(app, 10)
        # Every launch handed to the adapter (attempt 1), where it waits for an offer.
        self.wait_until(lambda: all([int(e.get("attempt", 0)) for e in self.daemon.executors(a)] == [1] * 10
                                    for a in (first, second)), 10, "20 launches waiting for an offer")
        for n, share in ((1, 2), (2, 4)):
            self.sim.add_agent(**self.small_agent(n))
            for app in (first, second):
                self.wait_until(lambda: len(self.daemon.executors(app, ["RUNNING"])) == share, 20,
                                "%s runs %d executors with %d agent(s)" % (app, share, n))
            self.assertEqual(len(self.sim.tasks()), 2 * share)

    def test_offers_are_suppressed_when_every_target_is_met_and_revived_for_more(self):
        self.start_cluster()
        app = self.app_id("idle")
        self.register_mesos(app)

        def idle():
            framework = self.framework()
            return framework if framework["suppressed_roles"] and framework["outstanding_offers"] == 0 else None

        self.wait_until(idle, 10, "offers suppressed with nothing to launch")
        for target in (3, 6):
            self.set_target(app, target)
            self.wait_converged(app, target)
            framework = self.wait_until(idle, 10, "offers suppressed once %d executors run" % target)
            self.assertEqual(framework["suppressed_roles"], ["*"])
            self.assertEqual(self.sim.state()["outstanding_offers"], 0)


# -------------------------------------------------------------------------------------------------
# 6-7. Leader change, dropped subscription, graceful restart
# -------------------------------------------------------------------------------------------------

class FailoverTest(MesosCase):

    def running_tasks(self, app):
        return sorted(t["id"] for t in self.app_tasks(app) if t["state"] == "TASK_RUNNING")

    def assert_survived(self, app, framework_id, task_ids, n):
        """The same framework (the only one), subscribed, with the same tasks; nothing ended."""
        framework = self.wait_until(lambda: (lambda f: f if f["subscribed"] else None)(self.framework()), 20,
                                    "the framework subscribed again")
        self.assertEqual(framework["id"], framework_id)
        running = self.wait_converged(app, n)
        self.assertEqual(sorted(e["backendName"] for e in running), task_ids)
        self.assertEqual(self.running_tasks(app), task_ids)
        self.assertEqual(framework["completed_tasks"], {})
        self.assertEqual(ids_in(self.daemon.executors(app)), list(range(1, n + 1)), "nothing ended or replaced")
        self.wait_until(lambda: self.pool_status().get("healthy"), 10, "pool healthy")

    def converge_three(self):
        app = self.app_id("failover")
        self.register_mesos(app)
        self.set_target(app, 3)
        self.wait_converged(app, 3)
        return app, self.framework()["id"], self.running_tasks(app)

    def leader_change(self, masters):
        self.sim = self.new_mesos_sim(sim_config(), standby=True)
        self.daemon = self.start_daemon([getattr(self.sim, m) for m in masters])
        app, framework_id, tasks = self.converge_three()
        leader = self.sim.state()["leader"]
        self.assertEqual(leader, self.sim.address)

        self.sim.swap_leader()
        self.assertEqual(self.sim.state()["leader"], self.sim.standby_address)
        self.assert_survived(app, framework_id, tasks, 3)
        # New launches go through the new leader.
        self.set_target(app, 5)
        running = self.wait_converged(app, 5)
        self.assertEqual(ids_in(running), [1, 2, 3, 4, 5])
        self.assertEqual(self.framework()["id"], framework_id)

    def test_standby_only_redirects_and_a_leader_change_is_followed(self):
        self.leader_change(["standby_master"])

    def test_both_masters_and_a_leader_change(self):
        self.leader_change(["master", "standby_master"])

    def test_dropped_subscription_resubscribes_as_the_same_framework(self):
        self.start_cluster()
        app, framework_id, tasks = self.converge_three()
        stream = self.framework()["stream_id"]
        self.sim.faults(drop_streams=True)
        self.wait_until(lambda: self.framework()["stream_id"] not in ("", stream), 20, "a new subscription")
        self.assert_survived(app, framework_id, tasks, 3)
        self.set_target(app, 4)
        self.assertEqual(ids_in(self.wait_converged(app, 4)), [1, 2, 3, 4])

    def test_graceful_restart_keeps_the_framework_and_its_tasks(self):
        self.start_cluster()
        app, framework_id, tasks = self.converge_three()
        self.assertEqual(self.daemon.terminate(), 0)
        self.wait_until(lambda: not self.framework()["subscribed"], 10, "the framework disconnected")
        self.assertEqual(self.running_tasks(app), tasks, "tasks outlive berthd")

        self.daemon.restart()
        self.assert_survived(app, framework_id, tasks, 3)
        self.set_target(app, 4)
        self.assertEqual(ids_in(self.wait_converged(app, 4)), [1, 2, 3, 4])
        self.assertEqual(self.framework()["id"], framework_id)

    def test_agent_lost_after_a_restart_keeps_the_executors_hostname(self):
        """Regression: a restarted berthd that has had no offer from an agent yet (it is full)
        reported the Mesos agent id as the host of that agent's executors when they were lost."""
        full = {"hostname": "full-1", "cpus": 2, "mem": 2 * 1408, "disk": 10000, "ports": "31000-31010"}
        self.start_cluster(agents=[full])
        app = self.app_id("hostname")
        self.register_mesos(app)
        self.set_target(app, 2)
        self.assertEqual({e["host"] for e in self.wait_converged(app, 2)}, {"full-1"})
        self.assertEqual(self.daemon.terminate(), 0)
        self.daemon.restart()
        self.wait_converged(app, 2)
        self.wait_until(lambda: self.pool_status().get("healthy"), 10, "pool healthy")

        self.sim.add_agent(hostname="spare-1", cpus=8, mem=32768, disk=100000, ports="31000-31100")
        self.sim.remove_agent("full-1", "lost")
        for number in (1, 2):
            lost = self.wait_ended(app, number)
            self.assertEqual((lost["state"], lost["loss"]["reason"]), ("LOST", "node_lost"), lost)
            self.assertEqual(lost["host"], "full-1", lost)
        running = self.wait_converged(app, 2)
        self.assertEqual(ids_in(running), [3, 4])
        self.assertEqual({e["host"] for e in running}, {"spare-1"})



# -------------------------------------------------------------------------------------------------
# 8. kill -9 mid-ramp
# -------------------------------------------------------------------------------------------------

class CrashMidRampTest(MesosCase):
    """berthd is killed while it launches 100 executors. A task it launched but had not yet seen
    placed is first reported by the restarted berthd, from the update Mesos sends again on the
    new subscription, before any offer tells which host its agent is: such an executor has no
    host (the v1 scheduler API gives hostnames only in offers, and a busy agent may offer none)."""
    RAMP = 100

    def crash_and_recover(self, crash_when):
        self.start_cluster()
        app = self.app_id("crash")
        self.register_mesos(app)
        self.set_target(app, self.RAMP)
        crash_when(app)
        self.assertIsNotNone(self.daemon.kill9())
        framework_id = self.framework()["id"]

        self.daemon.restart()
        running = self.wait_converged(app, self.RAMP, timeout=60)
        self.assertEqual(ids_in(self.daemon.executors(app)), list(range(1, self.RAMP + 1)),
                         "no executor lost, replaced or issued twice")
        self.assert_tasks_match(app, running, host_may_be_unknown=True)
        state = self.sim.state()
        self.assertEqual(len(state["tasks"]), self.RAMP, "no task leaked outside the application")
        framework = self.framework()
        self.assertEqual(framework["id"], framework_id)
        self.assertEqual(framework["tasks"], {"TASK_RUNNING": self.RAMP})
        self.assertEqual(framework["completed_tasks"], {}, "no task launched twice or killed")

        # Ids continue after the highest ever issued.
        self.daemon.ctl_ok("kill", app, 7, "--no-adjust-target")
        self.wait_until(lambda: self.converged(app, self.RAMP) and
                        self.executor(app, self.RAMP + 1) is not None, 30, "executor 7 replaced by 101")
        self.assertEqual(ids_in(self.daemon.executors(app, ["RUNNING"])),
                         [i for i in range(1, self.RAMP + 2) if i != 7])

    def test_crash_right_after_the_target_call(self):
        self.crash_and_recover(lambda app: None)

    def test_crash_when_some_tasks_run(self):
        def some_running(app):
            self.wait_until(lambda: len([t for t in self.app_tasks(app) if t["state"] == "TASK_RUNNING"]) >= 20,
                            20, "20 tasks running")
        self.crash_and_recover(some_running)


# -------------------------------------------------------------------------------------------------
# 9. Master outage
# -------------------------------------------------------------------------------------------------

class OutageTest(MesosCase):

    def test_outage_freezes_the_pool_then_it_converges(self):
        self.start_cluster()
        app = self.app_id("outage")
        self.register_mesos(app)
        self.set_target(app, 4)
        self.wait_converged(app, 4)
        framework_id = self.framework()["id"]
        tasks = sorted(t["id"] for t in self.app_tasks(app))

        # Longer than missing_grace (2s) plus a resync (2s): time enough to wrongly declare loss.
        self.sim.faults(down_for_ms=6000)
        down = time.monotonic()
        self.set_target(app, 6)
        pool = self.wait_until(lambda: (lambda p: None if p.get("healthy") else p)(self.pool_status()), 6,
                               "pool mesos unhealthy during the outage")
        self.assertTrue(pool.get("lastError"), pool)
        # Frozen: as long as the outage lasts, nothing is declared lost or killed.
        polls = 0
        while not self.pool_status().get("healthy", False):
            executors = self.daemon.executors(app)
            self.assertEqual(ids_in(executors, "RUNNING")[:4], [1, 2, 3, 4], executors)
            self.assertFalse([e for e in executors if e["state"] in TERMINAL], executors)
            polls += 1
            self.assertLess(time.monotonic() - down, 30, "the pool stays unhealthy after the outage")
            time.sleep(0.1)
        self.assertGreater(polls, 0)

        running = self.wait_converged(app, 6, timeout=30)
        self.assertEqual(ids_in(running), [1, 2, 3, 4, 5, 6])
        self.assertEqual(ids_in(self.daemon.executors(app)), [1, 2, 3, 4, 5, 6], "nothing lost or replaced")
        framework = self.framework()
        self.assertEqual(framework["id"], framework_id)
        self.assertEqual(framework["completed_tasks"], {})
        self.assertTrue(set(tasks) <= {t["id"] for t in self.app_tasks(app)}, "the same tasks, not new ones")


# -------------------------------------------------------------------------------------------------
# 10. Basic authentication
# -------------------------------------------------------------------------------------------------

class AuthenticationTest(MesosCase):
    PRINCIPAL = "berth-e2e"
    SECRET = "e2e-s3cret-0123456789"

    def secret_file(self, name, secret):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(secret + "\n")
        return path

    def test_principal_and_secret(self):
        self.sim = self.new_mesos_sim(sim_config(), principal=self.PRINCIPAL, secret=self.SECRET)
        self.daemon = self.start_daemon([self.sim.master], pool={
            "principal": self.PRINCIPAL, "secret_file": self.secret_file("secret", self.SECRET)})
        app = self.app_id("auth")
        self.register_mesos(app)
        self.set_target(app, 2)
        self.assert_tasks_match(app, self.wait_converged(app, 2))
        self.assertEqual(self.framework()["principal"], self.PRINCIPAL)
        self.assertTrue(self.pool_status().get("healthy"))

        # A wrong secret: the master refuses the subscription, the pool reports it.
        refused = self.start_daemon([self.sim.master], name="refused", pool={
            "principal": self.PRINCIPAL, "secret_file": self.secret_file("wrong", "not-the-secret")})
        pool = self.wait_until(lambda: (lambda p: p if p.get("lastError") else None)(self.pool_status(refused)),
                               15, "the refused pool reports an error")
        self.assertFalse(pool.get("healthy", False))
        self.assertIn("401", pool["lastError"])
        self.assertEqual(len(self.sim.frameworks()), 1, "no framework for the refused daemon")



class RequestBudgetTest(RequestBudget, MesosCase):
    """ACKNOWLEDGE answers the master's own updates and is not an action. Before, ten tasks
    took sixteen KILL calls (see RequestBudget)."""

    POOL = POOL

    @staticmethod
    def acts_on_executors(route):
        return route in ("POST /api/v1/scheduler ACCEPT", "POST /api/v1/scheduler KILL")

    def register_app(self, app):
        self.register_mesos(app)

    def all_ended(self, app):
        return not self.app_tasks(app)

    def test_kill_by_id_then_gone(self):
        acting = self.lifecycle(self.kill_all)
        self.assertEqual(acting.get("POST /api/v1/scheduler KILL"), self.EXECUTORS)

    def test_unregister(self):
        acting = self.lifecycle(self.unregister)
        self.assertEqual(acting.get("POST /api/v1/scheduler KILL"), self.EXECUTORS)

if __name__ == "__main__":
    unittest.main()
