"""Nomad pools end to end: the real berthd and berthctl against `berth-sim nomad`.

Every test asserts on both sides: berthd's view (berthctl -o json) and what the simulator holds
(its Nomad API: jobs, allocations, evaluations, read with urllib). An executor is one batch job
named after it (berth-<app>-exec-<id>) with Berth's ids in its Meta. The simulator runs at
--time-scale 10 (its default 1 s start delay is 0.1 s) and heartbeats the event stream every
second, so berthd's stream_idle_timeout can be short. Scripted ends come from the simulator's
`sim.berth.dev/*` Meta keys, which the tests put on the application's launch spec as labels:
Berth copies the launch spec's labels and annotations into every job's Meta, and berthctl sets
labels (it has no flag for annotations).
"""

import os
import time
import unittest
import urllib.request

from berth_harness import BERTH_SIM, BerthTestCase, RequestBudget, executor_id, ids_in, make_certificates, target_of
from nomad_harness import NomadSim

POOL = "nomad"
IMAGE = "apache/spark:3.5.1"

# Room for three applications of 100 executors (up to 2 cores and 4.4 GiB each) on 4 nodes.
NODES = [{"name": "nomad-node-%d" % i, "cpu_mhz": 256000, "memory_mb": 1048576, "cores": 256} for i in range(1, 5)]

IN_FLIGHT = ("REQUESTED", "LAUNCHING", "PENDING")
TERMINAL = ("SUCCEEDED", "FAILED", "KILLED", "LOST", "LAUNCH_FAILED", "CANCELLED")


def sim_config(**extra):
    config = {"time_scale": 10, "heartbeat_interval": "1s", "nodes": NODES}
    config.update(extra)
    return config


def nomad_pool(address, **settings):
    section = {"address": address, "kill_timeout": "2s", "request_timeout": "5s",
               "stream_idle_timeout": "3s", "retry_max_backoff": "500ms"}
    section.update(settings)
    return {"name": POOL, "type": "nomad", "nomad": section}


def script(**meta):
    """`app register` options that script every executor of the application on the simulator
    (run-for, exit-code, oom ...), as launch-spec labels Berth copies into the job's Meta."""
    options = []
    for key, value in meta.items():
        options += ["--label", "sim.berth.dev/%s=%s" % (key.replace("_", "-"), value)]
    return options


def spark_memory_mib(heap, overhead=None):
    """Spark's executor container memory: heap + max(10% of heap, 384) unless the overhead is given."""
    return heap + (overhead if overhead is not None else max(int(heap * 0.10), 384))


# Jobs and allocations ---------------------------------------------------------------------------

def meta_of(job):
    return job.get("Meta") or {}


def job_live(job):
    """Not stopped and not dead: it holds (or waits for) an allocation."""
    return not job.get("Stop") and job.get("Status") != "dead"


def alloc_live(alloc):
    return alloc.get("DesiredStatus") == "run" and alloc.get("ClientStatus") in ("pending", "running")


class NomadCase(BerthTestCase):
    """A simulator and berthd with one Nomad pool named nomad."""

    def new_nomad_sim(self, config=None, name="nomad-sim", start=True, **kwargs):
        """A `berth-sim nomad` (see NomadSim), killed at tearDown."""
        if not os.access(BERTH_SIM, os.X_OK):
            self.fail("%s is not built (set BERTH_SIM)" % BERTH_SIM)
        sim = NomadSim(self.tmp, config if config is not None else sim_config(), name=name, **kwargs)
        self.sims.append(sim)
        if start:
            sim.start()
        return sim

    def start_cluster(self, sim=None, pool=None, reconciler=None, **daemon_overrides):
        self.sim = self.new_nomad_sim(sim_config(**(sim or {})))
        self.daemon = self.start_daemon(pool=pool, reconciler=reconciler, **daemon_overrides)
        return self.daemon

    def start_daemon(self, pool=None, reconciler=None, name="berthd", **overrides):
        if reconciler:
            overrides["reconciler"] = reconciler
        return self.new_daemon(name=name, pools=[nomad_pool(self.sim.url, **(pool or {}))], **overrides)

    def register_nomad(self, app, *options, daemon=None):
        return (daemon or self.daemon).ctl_ok("app", "register", app, "--pool", POOL, "--image", IMAGE, *options)

    def daemon_id(self, daemon=None):
        return (daemon or self.daemon).ctl_ok("status")["daemonId"]

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

    # The simulator's side -----------------------------------------------------------------------

    def app_jobs(self, app):
        """Every job of the application on the simulator, stopped and dead ones too, by ID."""
        return {j["ID"]: j for j in self.sim.jobs("berth-%s-exec-" % app) if meta_of(j).get("berth.dev/app") == app}

    def live_allocations(self, app):
        """JobID -> the application's allocations that run or are about to."""
        jobs = self.app_jobs(app)
        found = {}
        for alloc in self.sim.allocations():
            if alloc["JobID"] in jobs and alloc_live(alloc):
                found.setdefault(alloc["JobID"], []).append(alloc)
        return found

    def converged(self, app, n, daemon=None):
        """berthd has exactly n RUNNING executors of app and none in flight, and the simulator
        holds exactly their jobs live, each with one running allocation on the executor's host and
        no other live allocation of the app anywhere. The RUNNING executors, or None."""
        executors = (daemon or self.daemon).executors(app)
        running = [e for e in executors if e["state"] == "RUNNING"]
        if len(running) != n or any(e["state"] in IN_FLIGHT for e in executors):
            return None
        live_jobs = sorted(i for i, j in self.app_jobs(app).items() if job_live(j))
        if live_jobs != sorted(e["backendName"] for e in running):
            return None
        allocations = self.live_allocations(app)
        if sorted(allocations) != live_jobs:
            return None
        hosts = {e["backendName"]: e.get("host") for e in running}
        for job_id, allocs in allocations.items():
            if len(allocs) != 1 or allocs[0]["ClientStatus"] != "running" or allocs[0]["NodeName"] != hosts[job_id]:
                return None
        return running

    def describe(self, app):
        counts = {}
        for e in self.daemon.executors(app):
            counts[e["state"]] = counts.get(e["state"], 0) + 1
        jobs = {}
        for j in self.app_jobs(app).values():
            key = j.get("Status") + ("/stopped" if j.get("Stop") else "")
            jobs[key] = jobs.get(key, 0) + 1
        allocs = sum(len(a) for a in self.live_allocations(app).values())
        return "berthd %s, jobs %s, live allocations %d" % (counts, jobs, allocs)

    def wait_converged(self, app, n, timeout=30, daemon=None):
        return self.wait_until(lambda: self.converged(app, n, daemon), timeout,
                               lambda: "%d RUNNING executors of %s and exactly their jobs (now: %s)"
                               % (n, app, self.describe(app)))

    def wait_job_stopped(self, job_id, timeout=20):
        """Until the job is deregistered (kept with Stop) and has no live allocation."""
        def stopped():
            job = self.sim.job(job_id)
            if job is None or not job.get("Stop"):
                return None
            return not [a for a in self.sim.job_allocations(job_id) if alloc_live(a)]
        self.wait_until(stopped, timeout, "job %s stopped" % job_id)

    def assert_jobs_match(self, app, running, daemon_id):
        """Each RUNNING executor has its batch job, named after it, with Berth's Meta; the
        application has no other live job."""
        jobs = self.app_jobs(app)
        self.assertEqual(sorted(i for i, j in jobs.items() if job_live(j)), sorted(e["backendName"] for e in running))
        for executor in running:
            number = executor_id(executor)
            self.assertEqual(executor["backendName"], "berth-%s-exec-%d" % (app, number))
            job = jobs[executor["backendName"]]
            expected = {"berth.dev/daemon": daemon_id, "berth.dev/app": app, "berth.dev/executor": str(number),
                        "berth.dev/profile": "0", "berth.dev/pool": POOL}
            self.assertEqual({k: meta_of(job).get(k) for k in expected}, expected, job["ID"])
            self.assertEqual(job["Type"], "batch", job["ID"])


# -------------------------------------------------------------------------------------------------
# 1. Ramp
# -------------------------------------------------------------------------------------------------

class RampTest(NomadCase):

    def test_three_apps_double_their_targets_to_100_executors_each(self):
        self.start_cluster()
        daemon_id = self.daemon_id()
        # (heap MiB, overhead MiB or None, cores): the job's task asks Spark's memory and cores x 1000 MHz.
        shapes = {"ramp-a": (512, None, 1), "ramp-b": (4096, None, 1), "ramp-c": (1024, 1000, 2)}
        apps = {}
        for prefix, (heap, overhead, cores) in shapes.items():
            app = self.app_id(prefix)
            options = ["--memory", heap, "--cores", cores]
            if overhead is not None:
                options += ["--overhead", overhead]
            self.register_nomad(app, *options)
            apps[app] = (heap, overhead, cores)

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

        for app, (heap, overhead, cores) in apps.items():
            running = self.wait_converged(app, 100, timeout=60)
            self.assertEqual(ids_in(self.daemon.executors(app)), list(range(1, 101)),
                             "every executor of %s has its id, none was replaced" % app)
            self.assertEqual(target_of(self.daemon.app(app)), 100)
            self.assert_jobs_match(app, running, daemon_id)
            job = self.sim.job(running[0]["backendName"])
            resources = job["TaskGroups"][0]["Tasks"][0]["Resources"]
            self.assertEqual(resources["MemoryMB"], spark_memory_mib(heap, overhead))
            self.assertEqual(resources["CPU"], cores * 1000)
        state = self.sim.state()
        self.assertEqual(state["JobCount"], 300, "no job outside the three applications")
        self.assertEqual(state["Jobs"], {"running": 300})
        self.assertEqual(state["Allocations"], {"running": 300}, "one allocation per job, none duplicated")
        pool = self.pool_status()
        self.assertTrue(pool.get("healthy"))
        self.assertEqual(pool["counts"].get("RUNNING"), 300)


# -------------------------------------------------------------------------------------------------
# 2. Kills, targets and unregister
# -------------------------------------------------------------------------------------------------

class KillAndTargetTest(NomadCase):

    def test_kill_by_id_with_and_without_adjusting_the_target(self):
        """Stopping one given executor is what HashiCorp's Spark fork could not do (it scaled a
        task group's count, and Nomad chose which allocation went): only that job stops."""
        self.start_cluster()
        app = self.app_id("kill")
        self.register_nomad(app)
        self.set_target(app, 4)
        self.wait_converged(app, 4)
        allocs = {job: a[0]["ID"] for job, a in self.live_allocations(app).items()}

        # adjust_target (berthctl's default): KILLED, its job stopped, not replaced.
        answer = self.daemon.ctl_ok("kill", app, 2)
        self.assertEqual([int(i) for i in answer.get("killed", [])], [2])
        self.assertEqual(self.wait_ended(app, 2)["state"], "KILLED")
        self.wait_job_stopped("berth-%s-exec-2" % app)
        self.assertEqual(target_of(self.daemon.app(app)), 3)
        running = self.wait_converged(app, 3)
        self.assertEqual(ids_in(running), [1, 3, 4])

        # Without: KILLED and replaced by a new id, never a reused one.
        self.daemon.ctl_ok("kill", app, 3, "--no-adjust-target")
        killed = self.wait_ended(app, 3)
        self.assertEqual(killed["state"], "KILLED")
        self.assertFalse(killed.get("loss", {}).get("causedByApp", False))
        self.wait_job_stopped("berth-%s-exec-3" % app)
        running = self.wait_converged(app, 3)
        self.assertEqual(ids_in(running), [1, 4, 5])
        self.assertEqual(target_of(self.daemon.app(app)), 3)
        # The survivors kept their allocations: nothing else was stopped or rescheduled.
        live = self.live_allocations(app)
        for number in (1, 4):
            job = "berth-%s-exec-%d" % (app, number)
            self.assertEqual([a["ID"] for a in live[job]], [allocs[job]])
        self.assertEqual(ids_in(self.daemon.executors(app)), [1, 2, 3, 4, 5])

    def test_target_up_then_down_cancels_only_the_pending_executors(self):
        # One node with room for 3 executors (1 core = 1000 MHz each): later ones stay pending.
        small = [{"name": "small-node", "cpu_mhz": 3000, "memory_mb": 65536, "cores": 3}]
        self.start_cluster(sim={"nodes": small})
        app = self.app_id("target")
        self.register_nomad(app)
        self.set_target(app, 2)
        self.wait_converged(app, 2)
        allocs = {job: a[0]["ID"] for job, a in self.live_allocations(app).items()}

        self.set_target(app, 6)

        def split():
            running, pending = (ids_in(self.daemon.executors(app, [state])) for state in ("RUNNING", "PENDING"))
            return (running, pending) if len(running) == 3 and len(pending) == 3 else None
        running_ids, pending_ids = self.wait_until(split, 20, "3 executors RUNNING and 3 PENDING")
        self.assertEqual(running_ids[:2], [1, 2])
        self.assertEqual(len([j for j in self.app_jobs(app).values() if job_live(j)]), 6)

        # Down to 1: the pending ones go, their jobs stopped; running executors are never killed
        # for a target (Spark kills the idle ones it chooses).
        self.set_target(app, 1)
        for number in pending_ids:
            self.assertEqual(self.wait_ended(app, number)["state"], "CANCELLED")
            self.wait_job_stopped("berth-%s-exec-%d" % (app, number))
        running = self.wait_converged(app, 3)
        self.assertEqual(ids_in(running), running_ids)
        live = self.live_allocations(app)
        for job, alloc in allocs.items():
            self.assertEqual([a["ID"] for a in live[job]], [alloc])
        self.assertEqual(target_of(self.daemon.app(app)), 1)

    def test_unregister_stops_every_job_of_the_app(self):
        self.start_cluster()
        app, other = self.app_id("gone"), self.app_id("stays")
        for a, n in ((app, 4), (other, 2)):
            self.register_nomad(a)
            self.set_target(a, n)
        self.wait_converged(app, 4)
        running_other = self.wait_converged(other, 2)

        self.daemon.ctl_ok("app", "unregister", app)
        for number in range(1, 5):
            ended = self.wait_ended(app, number)
            self.assertEqual(ended["state"], "KILLED")
            self.assertEqual(ended["loss"]["reason"], "app_unregistered")
        for number in range(1, 5):
            self.wait_job_stopped("berth-%s-exec-%d" % (app, number))
        self.assertFalse(self.live_allocations(app))
        self.assertEqual(self.converged(other, 2), running_other, "the other application is untouched")


# -------------------------------------------------------------------------------------------------
# 3. Placement failures
# -------------------------------------------------------------------------------------------------

class PlacementTest(NomadCase):

    def test_too_large_for_every_node_stays_pending_until_capacity_is_added(self):
        self.start_cluster(sim={"nodes": NODES[:2]})
        app = self.app_id("huge")
        heap = 1536 * 1024  # 1.5 TiB of heap; the nodes have 1 TiB
        self.register_nomad(app, "--memory", heap, "--cores", 4)
        self.set_target(app, 2)

        # Nomad's answer: a blocked evaluation per job, memory exhausted on every node.
        def blocked(job_id):
            evaluations = self.sim.job_evaluations(job_id)
            failed = [e for e in evaluations if (e.get("FailedTGAllocs") or {}).get("executor")]
            return failed[-1]["FailedTGAllocs"]["executor"] if failed and \
                any(e["Status"] == "blocked" for e in evaluations) else None
        for number in (1, 2):
            metric = self.wait_until(lambda: blocked("berth-%s-exec-%d" % (app, number)), 20,
                                     "executor %d's placement failed" % number)
            self.assertEqual(metric.get("DimensionExhausted"), {"memory": 2}, metric)

        # berthd: pending (not failed, not relaunched) through several full resyncs, and the
        # application says why.
        self.wait_until(lambda: ids_in(self.daemon.executors(app, ["PENDING"])) == [1, 2], 20,
                        "executors 1 and 2 PENDING")
        conditions = self.wait_until(
            lambda: [c for c in self.daemon.app(app).get("conditions", []) if c.startswith("UNSCHEDULABLE")], 20,
            "the UNSCHEDULABLE condition")
        self.assertIn("0 of 2 nodes fit: 2 exhausted (memory: 2)", conditions[0])
        ticks = self.metric("berth_reconcile_ticks_total")
        self.wait_until(lambda: self.metric("berth_reconcile_ticks_total") >= ticks + 3, 20,
                        "three more reconciler ticks")
        executors = self.daemon.executors(app)
        self.assertEqual([(executor_id(e), e["state"], e.get("host", "")) for e in executors],
                         [(1, "PENDING", ""), (2, "PENDING", "")])
        self.assertEqual(int(self.daemon.app(app).get("launchFailures", 0)), 0)
        self.assertEqual(sorted(self.app_jobs(app)), ["berth-%s-exec-%d" % (app, n) for n in (1, 2)])

        # Capacity comes: the blocked evaluations run again and place both.
        self.sim.add_node("big-node", cpu_mhz=64000, memory_mb=4 * 1024 * 1024, cores=64)
        running = self.wait_converged(app, 2)
        self.assertEqual(ids_in(running), [1, 2])
        self.assertEqual({e["host"] for e in running}, {"big-node"})
        self.assertFalse([c for c in self.daemon.app(app).get("conditions", []) if c.startswith("UNSCHEDULABLE")])

    def metric(self, series):
        with urllib.request.urlopen("http://%s/metrics" % self.daemon.metrics, timeout=5) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        return 0.0


# -------------------------------------------------------------------------------------------------
# 4. Scripted ends and node loss
# -------------------------------------------------------------------------------------------------

class ScriptedEndTest(NomadCase):
    """Every executor of the application ends as its launch spec scripts it; the test follows
    executor 1 and its replacement."""

    def setUp(self):
        super().setUp()
        self.start_cluster()

    def first_ends_and_is_replaced(self, prefix, *options):
        app = self.app_id(prefix)
        self.register_nomad(app, *options)
        self.set_target(app, 1)
        ended = self.wait_ended(app, 1)
        self.wait_until(lambda: self.executor(app, 2) is not None, 20, "executor 1 of %s replaced by 2" % app)
        job = self.sim.job("berth-%s-exec-1" % app)
        self.assertEqual(meta_of(job).get("sim.berth.dev/run-for"), "2s", "the launch spec reached the job's Meta")
        allocs = self.sim.job_allocations(job["ID"])
        self.assertEqual(len(allocs), 1, "Nomad neither restarted nor rescheduled it")
        self.assertEqual(ended["host"], allocs[0]["NodeName"])
        self.set_target(app, 0)
        return ended, allocs[0]

    def test_oom_kill_is_exit_137_caused_by_the_app(self):
        failed, alloc = self.first_ends_and_is_replaced("oom", *script(run_for="2s", oom="true"))
        self.assertEqual(alloc["ClientStatus"], "failed")
        self.assertEqual(failed["state"], "FAILED")
        self.assertEqual(failed.get("exitCode"), 137)
        self.assertEqual(failed["loss"]["reason"], "oom_killed")
        self.assertTrue(failed["loss"].get("causedByApp"))

    def test_exit_code_3_is_a_failure_caused_by_the_app(self):
        failed, alloc = self.first_ends_and_is_replaced("exit3", *script(run_for="2s", exit_code=3))
        self.assertEqual(alloc["ClientStatus"], "failed")
        self.assertEqual(failed["state"], "FAILED")
        self.assertEqual(failed.get("exitCode"), 3)
        self.assertEqual(failed["loss"]["reason"], "exited")
        self.assertTrue(failed["loss"].get("causedByApp"))
        self.assertIn("3", failed["loss"]["message"])

    def test_exit_code_0_succeeds_and_is_not_blamed_on_the_app(self):
        ended, alloc = self.first_ends_and_is_replaced("exit0", *script(run_for="2s", exit_code=0))
        self.assertEqual(alloc["ClientStatus"], "complete")
        self.assertEqual(ended["state"], "SUCCEEDED")
        self.assertEqual(ended.get("exitCode", 0), 0)
        self.assertEqual(ended["loss"]["reason"], "exited")
        self.assertFalse(ended["loss"].get("causedByApp", False))

    def test_node_down_is_lost_with_the_host_and_replaced(self):
        app = self.app_id("node")
        self.register_nomad(app)
        self.set_target(app, 4)
        running = self.wait_converged(app, 4)
        node = running[0]["host"]
        on_node = sorted(executor_id(e) for e in running if e["host"] == node)
        self.sim.node_down(node)

        for number in on_node:
            lost = self.wait_ended(app, number)
            self.assertEqual(lost["state"], "LOST")
            self.assertEqual(lost["loss"]["reason"], "node_lost")
            self.assertTrue(lost["loss"].get("hostLost"))
            self.assertFalse(lost["loss"].get("causedByApp", False))
            self.assertEqual(lost["host"], node)
        # Nomad replaces a lost allocation whatever the reschedule policy; Berth's replacement
        # is a new executor, so the lost executor's job must not run on as a second copy.
        running = self.wait_converged(app, 4)
        self.assertTrue(all(e["host"] != node for e in running))
        replacements = [i for i in ids_in(running) if i > 4]
        self.assertEqual(len(replacements), len(on_node))
        self.assertEqual(ids_in(self.daemon.executors(app)), list(range(1, 5 + len(on_node))))

    def test_allocation_stopped_outside_berth_is_lost_and_its_replacement_stopped(self):
        """`nomad alloc stop`: Nomad replaces the allocation in the same job; the executor is
        gone all the same, and Berth's replacement is a new executor, not Nomad's."""
        app = self.app_id("astop")
        self.register_nomad(app)
        self.set_target(app, 2)
        self.wait_converged(app, 2)
        job = "berth-%s-exec-1" % app
        self.sim.call("POST", "/v1/allocation/%s/stop" % self.live_allocations(app)[job][0]["ID"])

        lost = self.wait_ended(app, 1)
        self.assertEqual(lost["state"], "LOST")
        self.assertEqual(lost["loss"]["reason"], "deleted_externally")
        self.assertFalse(lost["loss"].get("causedByApp", False))
        self.wait_job_stopped(job)
        running = self.wait_converged(app, 2)
        self.assertEqual(ids_in(running), [2, 3])
        self.assertEqual(len(self.sim.job_allocations(job)), 2, "Nomad's replacement was placed, then stopped")


# -------------------------------------------------------------------------------------------------
# 5-6. Event-stream faults and Nomad outages
# -------------------------------------------------------------------------------------------------

class StreamFaultTest(NomadCase):

    def exits_under_fault(self, faults):
        """Six running executors; for each fault set, inject it and at once make one allocation
        exit 0 and another exit 3. berthd must see each exit exactly once, with its code, and
        replace each executor once."""
        self.start_cluster()
        app = self.app_id("stream")
        self.register_nomad(app)
        self.set_target(app, 6)
        running = self.wait_converged(app, 6)
        expected = {}  # executor id -> (state, exit code)
        for fault in faults:
            victims = sorted(ids_in(running))[:2]
            live = self.live_allocations(app)
            self.sim.faults(**fault)
            self.sim.exit_allocation(live["berth-%s-exec-%d" % (app, victims[0])][0]["ID"], code=0)
            self.sim.exit_allocation(live["berth-%s-exec-%d" % (app, victims[1])][0]["ID"], code=3)
            expected[victims[0]] = ("SUCCEEDED", 0)
            expected[victims[1]] = ("FAILED", 3)
            for number in victims:
                self.wait_ended(app, number)
            running = self.wait_converged(app, 6)
            self.sim.faults(reset=True)
        for number, (state, code) in expected.items():
            executor = self.executor(app, number)
            self.assertEqual((executor["state"], executor.get("exitCode", 0)), (state, code), executor)
        everything = self.daemon.executors(app)
        self.assertEqual(ids_in(everything), list(range(1, 7 + len(expected))), "each exit replaced exactly once")
        self.assertEqual(len([e for e in everything if e["state"] in TERMINAL]), len(expected),
                         "no executor ended that did not exit")
        self.assertTrue(self.pool_status().get("healthy", False))
        self.wait_until(lambda: self.sim.state()["StreamSubscribers"] == 1, 10, "berthd follows the event stream again")

    def test_dropped_streams(self):
        self.exits_under_fault([{"drop_streams": True}, {"drop_streams": True}])

    def test_dropped_and_compacted_streams_with_refused_reconnects(self):
        """The buffer is forgotten, so a reconnect from the last index cannot replay the exits,
        and the next reconnects fail: only a fresh snapshot can tell berthd."""
        self.exits_under_fault([{"drop_streams": True, "compact_events": True, "fail_next": {"stream": 3}},
                                {"drop_streams": True, "compact_events": True, "fail_next": {"stream": 1}},
                                {"compact_events": True, "drop_streams": True}])


class OutageTest(NomadCase):

    def outage_freezes_the_pool_then_it_converges(self, **fault):
        self.start_cluster()
        app = self.app_id("outage")
        self.register_nomad(app)
        self.set_target(app, 4)
        self.wait_converged(app, 4)
        allocs = {job: a[0]["ID"] for job, a in self.live_allocations(app).items()}

        # Longer than missing_grace (2s) plus a resync (2s): time enough to wrongly declare loss.
        self.sim.faults(**fault)
        down = time.monotonic()
        self.set_target(app, 6)
        pool = self.wait_until(lambda: (lambda p: None if p.get("healthy") else p)(self.pool_status()), 6,
                               "pool nomad unhealthy during the outage")
        self.assertTrue(pool.get("lastError"), pool)
        # Frozen: as long as the outage lasts, nothing is declared lost or killed. (5 and 6 may
        # start the moment it ends, between two polls.)
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
        live = self.live_allocations(app)
        for job, alloc in allocs.items():
            self.assertEqual([a["ID"] for a in live[job]], [alloc], "the same allocations, not new ones")
        self.assertTrue(self.pool_status().get("healthy", False))
        return pool

    def test_agent_down(self):
        self.outage_freezes_the_pool_then_it_converges(down_for_ms=6000)

    def test_leader_loss(self):
        pool = self.outage_freezes_the_pool_then_it_converges(leader_loss_for_ms=6000)
        self.assertIn("No cluster leader", pool["lastError"])


# -------------------------------------------------------------------------------------------------
# 7. kill -9 mid-ramp
# -------------------------------------------------------------------------------------------------

class CrashMidRampTest(NomadCase):
    RAMP = 100

    def crash_and_recover(self, crash_when):
        self.start_cluster()
        app = self.app_id("crash")
        self.register_nomad(app)
        self.set_target(app, self.RAMP)
        crash_when(app)
        self.assertIsNotNone(self.daemon.kill9())
        jobs_at_crash = self.app_jobs(app)

        self.daemon.restart()
        running = self.wait_converged(app, self.RAMP, timeout=60)
        everything = self.daemon.executors(app)
        self.assertEqual(ids_in(everything), list(range(1, self.RAMP + 1)),
                         "no executor lost, replaced or issued twice")
        jobs = self.app_jobs(app)
        self.assertEqual(sorted(jobs), sorted("berth-%s-exec-%d" % (app, i) for i in range(1, self.RAMP + 1)))
        self.assertEqual(self.sim.state()["JobCount"], self.RAMP, "no job leaked outside the application")
        self.assert_jobs_match(app, running, self.daemon_id())
        # Jobs registered before the crash were adopted, not registered again.
        for job_id, before in jobs_at_crash.items():
            self.assertEqual(jobs[job_id]["JobModifyIndex"], before["JobModifyIndex"], job_id)
            self.assertEqual(jobs[job_id]["Version"], 0, job_id)
        self.assertEqual(self.sim.state()["Allocations"], {"running": self.RAMP}, "one allocation per job")

        # Ids continue after the highest ever issued.
        self.daemon.ctl_ok("kill", app, 7, "--no-adjust-target")
        self.wait_until(lambda: self.converged(app, self.RAMP) and
                        self.executor(app, self.RAMP + 1) is not None, 30, "executor 7 replaced by 101")
        self.assertEqual(ids_in(self.daemon.executors(app, ["RUNNING"])),
                         [i for i in range(1, self.RAMP + 2) if i != 7])
        return jobs_at_crash

    def test_crash_right_after_the_target_call(self):
        self.crash_and_recover(lambda app: None)

    def test_crash_when_some_jobs_run(self):
        def some_running(app):
            self.wait_until(lambda: sum(1 for allocs in self.live_allocations(app).values()
                                        if allocs[0]["ClientStatus"] == "running") >= 20,
                            20, "20 allocations running")
        jobs = self.crash_and_recover(some_running)
        self.assertGreaterEqual(len(jobs), 20)


# -------------------------------------------------------------------------------------------------
# 8. ACL token and TLS
# -------------------------------------------------------------------------------------------------

class SecurityTest(NomadCase):
    TOKEN = "e2e-nomad-token-0123456789"

    def setUp(self):
        super().setUp()
        self.certs = os.path.join(self.tmp, "certs")
        os.mkdir(self.certs)
        make_certificates(self.certs)

    def cert(self, name):
        return os.path.join(self.certs, name)

    def token_file(self, name, token):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(token + "\n")
        return path

    def run_two_executors(self):
        app = self.app_id("secure")
        self.register_nomad(app)
        self.set_target(app, 2)
        running = self.wait_converged(app, 2)
        self.assert_jobs_match(app, running, self.daemon_id())
        self.assertTrue(self.pool_status().get("healthy", False))

    def refused_pool(self, needle, **pool):
        """A second daemon whose requests the simulator refuses: its pool never syncs."""
        other = self.start_daemon(pool=pool, name="refused")
        status = self.wait_until(lambda: (lambda p: p if p.get("lastError") else None)(self.pool_status(other)),
                                 15, "the refused pool reports an error")
        self.assertFalse(status.get("synced", False))
        self.assertFalse(status.get("healthy", False))
        self.assertIn(needle, status["lastError"])

    def test_acl_token_from_a_file(self):
        self.sim = self.new_nomad_sim(token=self.TOKEN)
        self.assertEqual(self.sim.request("GET", "/v1/jobs", token="")[0], 403, "ACLs are on")
        self.daemon = self.start_daemon(pool={"token_file": self.token_file("token", self.TOKEN)})
        self.run_two_executors()
        self.refused_pool("ACL token not found", token_file=self.token_file("wrong-token", "not-the-token"))

    def test_https_with_an_acl_token(self):
        tls = {"cert": self.cert("server.pem"), "key": self.cert("server.key"), "ca": self.cert("ca.pem")}
        self.sim = self.new_nomad_sim(tls=tls, token=self.TOKEN)
        self.assertTrue(self.sim.url.startswith("https://"))
        token = self.token_file("token", self.TOKEN)
        self.daemon = self.start_daemon(pool={"token_file": token, "tls": {"ca_file": self.cert("ca.pem")}})
        self.run_two_executors()
        self.refused_pool("certificate", token_file=token, tls={"ca_file": self.cert("other-ca.pem")})



class RequestBudgetTest(RequestBudget, NomadCase):
    """Before, killing one executor sent 232 DELETEs and ~219 GETs of its job in 1.5 s: every
    allocation update of the stopping job re-sent the kill (see RequestBudget)."""

    POOL = POOL

    @staticmethod
    def acts_on_executors(route):
        return "{id}" in route or route in ("POST /v1/jobs", "PUT /v1/jobs")

    def register_app(self, app):
        self.register_nomad(app)

    def all_ended(self, app):
        return not any(job_live(j) for j in self.app_jobs(app).values()) and not self.live_allocations(app)

    def test_kill_by_id_then_gone(self):
        acting = self.lifecycle(self.kill_all)
        self.assertEqual(acting.get("DELETE /v1/job/{id}"), self.EXECUTORS)

    def test_kill_by_id_then_purged(self):
        acting = self.lifecycle(self.kill_all, pool={"purge_on_kill": True})
        self.assertEqual(acting.get("DELETE /v1/job/{id}"), self.EXECUTORS)

    def test_unregister(self):
        acting = self.lifecycle(self.unregister)
        self.assertEqual(acting.get("DELETE /v1/job/{id}"), self.EXECUTORS)

if __name__ == "__main__":
    unittest.main()
