"""Kubernetes pools end to end: the real berthd and berthctl against `berth-sim kubernetes`.

Every test asserts on both sides: berthd's view (berthctl -o json) and the pods the simulator
holds (its pod API, read with urllib). The simulator runs at --time-scale 10, so its default
1 s start delay is 0.1 s; scripted failures come from `behaviours` rules in its config, selected
by a label the test gives the application (`app register --label e2e-script=...`) and, where
only the first executor should fail, by Spark's own `spark-exec-id` label.
"""

import json
import os
import re
import time
import unittest
import urllib.request

from berth_harness import (FAST_RECONCILER, SOURCE_DIR, BerthTestCase, RequestBudget, executor_id, ids_in, make_certificates,
                           target_of)

NAMESPACE = "spark-e2e"
POOL = "k8s"
IMAGE = "apache/spark:3.5.1"
SCRIPT_LABEL = "e2e-script"

# Enough room for three applications of 100 executors (up to 4.4 GiB and 2 cores each).
NODES = [{"name": "node-%d" % i, "cpu": "128", "memory": "512Gi", "max_pods": 150} for i in range(1, 5)]

IN_FLIGHT = ("REQUESTED", "LAUNCHING", "PENDING")
TERMINAL = ("SUCCEEDED", "FAILED", "KILLED", "LOST", "LAUNCH_FAILED", "CANCELLED")


def script(name, annotations, only_first=False):
    """A simulator behaviour rule for the pods of applications labelled e2e-script=name."""
    selector = "%s=%s" % (SCRIPT_LABEL, name)
    if only_first:
        selector += ",spark-exec-id=1"
    return {"selector": selector, "annotations": dict(("sim.berth.dev/" + k, v) for k, v in annotations.items())}


def sim_config(behaviours=(), **extra):
    config = {"time_scale": 10, "nodes": NODES}
    if behaviours:
        config["behaviours"] = list(behaviours)
    config.update(extra)
    return config


def kubernetes_pool(kubeconfig, **settings):
    section = {"kubeconfig": kubeconfig, "namespace": NAMESPACE, "qps": 0,
               "image_pull_failure_timeout": "1s", "delete_grace_period": "1s"}
    section.update(settings)
    return {"name": POOL, "type": "kubernetes", "kubernetes": section}


# Pods ------------------------------------------------------------------------------------------

def labels_of(pod):
    return pod["metadata"].get("labels", {})


def name_of(pod):
    return pod["metadata"]["name"]


def terminating(pod):
    return bool(pod["metadata"].get("deletionTimestamp"))


def phase_of(pod):
    return pod.get("status", {}).get("phase")


def executor_container(pod):
    wanted = pod["metadata"].get("annotations", {}).get("berth.dev/executor-container")
    containers = pod["spec"]["containers"]
    return next((c for c in containers if c["name"] == wanted), containers[0])


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def spark_memory_mib(heap, overhead=None):
    """Spark's executor container memory: heap + max(10% of heap, 384) unless the overhead is given."""
    return heap + (overhead if overhead is not None else max(int(heap * 0.10), 384))


class KubernetesCase(BerthTestCase):
    """A simulator, a kubeconfig for it and berthd with one Kubernetes pool named k8s."""

    def start_cluster(self, behaviours=(), sim=None, pool=None, reconciler=None, **daemon_overrides):
        self.sim = self.new_kubernetes_sim(sim_config(behaviours, **(sim or {})))
        kubeconfig = self.sim.write_kubeconfig(os.path.join(self.tmp, "kubeconfig"), NAMESPACE)
        self.daemon = self.start_daemon(kubeconfig, pool=pool, reconciler=reconciler, **daemon_overrides)
        return self.daemon

    def start_daemon(self, kubeconfig, pool=None, reconciler=None, name="berthd", **overrides):
        if reconciler:
            overrides["reconciler"] = reconciler
        return self.new_daemon(name=name, pools=[kubernetes_pool(kubeconfig, **(pool or {}))], **overrides)

    def register_k8s(self, app, *options, script_name=None, daemon=None):
        daemon = daemon or self.daemon
        args = ["app", "register", app, "--pool", POOL, "--image", IMAGE]
        if script_name:
            args += ["--label", "%s=%s" % (SCRIPT_LABEL, script_name)]
        return daemon.ctl_ok(*(args + list(options)))

    def daemon_id(self, daemon=None):
        return (daemon or self.daemon).ctl_ok("status")["daemonId"]

    def pool_status(self, daemon=None):
        pools = (daemon or self.daemon).ctl_ok("pools").get("pools", [])
        return next(p for p in pools if p["name"] == POOL)

    def app_pods(self, app):
        return self.sim.pods(NAMESPACE, "berth.dev/app=%s" % app)

    def converged(self, app, n, daemon=None):
        """berthd has exactly n RUNNING executors of app and none in flight, and the simulator
        holds exactly their pods, Running and not being deleted. The RUNNING executors, or None."""
        daemon = daemon or self.daemon
        executors = daemon.executors(app)
        running = [e for e in executors if e["state"] == "RUNNING"]
        if len(running) != n or any(e["state"] in IN_FLIGHT for e in executors):
            return None
        pods = self.app_pods(app)
        if sorted(name_of(p) for p in pods) != sorted(e["backendName"] for e in running):
            return None
        if any(terminating(p) or phase_of(p) != "Running" for p in pods):
            return None
        return running

    def wait_converged(self, app, n, timeout=30, daemon=None):
        def state():
            executors = (daemon or self.daemon).executors(app)
            counts = {}
            for e in executors:
                counts[e["state"]] = counts.get(e["state"], 0) + 1
            pods = {}
            for p in self.app_pods(app):
                key = phase_of(p) + ("/terminating" if terminating(p) else "")
                pods[key] = pods.get(key, 0) + 1
            return "berthd %s, pods %s" % (counts, pods)
        return self.wait_until(lambda: self.converged(app, n, daemon), timeout,
                               lambda: "%d RUNNING executors of %s and exactly their pods (now: %s)"
                               % (n, app, state()))

    def assert_pods_match(self, app, running, daemon_id):
        """Each RUNNING executor has its pod, named after it, labelled as Spark and Berth label
        executors, on the executor's host; nothing else of the app is in the namespace."""
        pods = {name_of(p): p for p in self.app_pods(app)}
        self.assertEqual(sorted(pods), sorted(e["backendName"] for e in running))
        for executor in running:
            number = executor_id(executor)
            self.assertEqual(executor["backendName"], "berth-%s-exec-%d" % (app, number))
            pod = pods[executor["backendName"]]
            labels = labels_of(pod)
            expected = {"spark-app-selector": app, "spark-role": "executor", "spark-exec-id": str(number),
                        "spark-exec-resourceprofile-id": "0", "berth.dev/daemon": daemon_id,
                        "berth.dev/app": app, "berth.dev/executor": str(number), "berth.dev/profile": "0",
                        "berth.dev/pool": POOL}
            self.assertEqual({k: labels.get(k) for k in expected}, expected, name_of(pod))
            self.assertEqual(executor.get("host"), pod["spec"].get("nodeName"), name_of(pod))
            self.assertEqual(pod["spec"].get("restartPolicy"), "Never")
            env = env_of(executor_container(pod))
            self.assertEqual(env.get("SPARK_EXECUTOR_ID"), str(number))
            self.assertEqual(env.get("SPARK_APPLICATION_ID"), app)

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

    def wait_pod_gone(self, name, timeout=20):
        self.wait_until(lambda: self.sim.pod(NAMESPACE, name) is None, timeout, "pod %s deleted" % name)


# -------------------------------------------------------------------------------------------------
# 1. Ramp
# -------------------------------------------------------------------------------------------------

class RampTest(KubernetesCase):

    def test_three_apps_double_their_targets_to_100_executors_each(self):
        self.start_cluster()
        daemon_id = self.daemon_id()
        # (heap MiB, overhead MiB or None, cores): memory request = limit = Spark's formula.
        shapes = {"ramp-a": (512, None, 1), "ramp-b": (4096, None, 1), "ramp-c": (1024, 1000, 2)}
        apps = {}
        for prefix, (heap, overhead, cores) in shapes.items():
            app = self.app_id(prefix)
            options = ["--memory", heap, "--cores", cores]
            if overhead is not None:
                options += ["--overhead", overhead]
            self.register_k8s(app, *options)
            apps[app] = (heap, overhead, cores)

        # Spark's ExecutorAllocationManager doubles the number it adds while tasks stay backlogged;
        # each step comes once the previous one's executors are asked for, not once they run.
        target = 1
        while True:
            for app in apps:
                self.set_target(app, target)
            for app in apps:
                self.wait_until(lambda: sum(v for k, v in self.live_counts(app).items()) >= target, 20,
                                "%s asks for %d executors" % (app, target))
            if target == 100:
                break
            target = min(100, target * 2)

        for app, (heap, overhead, cores) in apps.items():
            running = self.wait_converged(app, 100, timeout=60)
            self.assertEqual(ids_in(self.daemon.executors(app)), list(range(1, 101)),
                             "every executor of %s has its id, none was replaced" % app)
            self.assertEqual(target_of(self.daemon.app(app)), 100)
            self.assert_pods_match(app, running, daemon_id)
            memory = "%dMi" % spark_memory_mib(heap, overhead)
            for pod in self.app_pods(app):
                resources = executor_container(pod)["resources"]
                self.assertEqual(resources["requests"]["memory"], memory, name_of(pod))
                self.assertEqual(resources["limits"]["memory"], memory, name_of(pod))
                self.assertEqual(resources["requests"]["cpu"], str(cores), name_of(pod))
        state = self.sim.state()
        self.assertEqual(state["pods"], 300, "no pod outside the three applications")
        self.assertEqual(state["phases"], {"Running": 300})
        pool = self.pool_status()
        self.assertTrue(pool.get("healthy"))
        self.assertEqual(pool["counts"].get("RUNNING"), 300)

    def live_counts(self, app):
        counts = self.daemon.app(app)
        for status in counts.get("profileStatus", []):
            return {k: v for k, v in status.get("counts", {}).items() if k not in TERMINAL}
        return {}


# -------------------------------------------------------------------------------------------------
# 2. Kills and lower targets
# -------------------------------------------------------------------------------------------------

class KillAndTargetTest(KubernetesCase):

    def test_unregister_deletes_the_apps_pods_in_one_deletecollection(self):
        """Unregister removes every pod of the application with one request by label; single
        pod deletes are made to fail, so only the bulk path can have removed them."""
        self.start_cluster()
        app, other = self.app_id("gone"), self.app_id("stays")
        for a, n in ((app, 4), (other, 2)):
            self.register_k8s(a)
            self.set_target(a, n)
        self.wait_converged(app, 4)
        self.wait_converged(other, 2)
        self.sim.faults(fail_next={"delete": 100})
        self.daemon.ctl_ok("app", "unregister", app)
        self.wait_until(lambda: not self.app_pods(app), 20, "every pod of %s deleted" % app)
        self.sim.faults(reset=True)
        for number in range(1, 5):
            ended = self.wait_ended(app, number)
            self.assertEqual(ended["state"], "KILLED")
            self.assertEqual(ended["loss"]["reason"], "app_unregistered")
        self.assertEqual(len(self.app_pods(other)), 2)

    def test_kill_by_id_with_and_without_adjusting_the_target(self):
        self.start_cluster()
        app = self.app_id("kill")
        self.register_k8s(app)
        self.set_target(app, 4)
        running = self.wait_converged(app, 4)
        uids = {name_of(p): p["metadata"]["uid"] for p in self.app_pods(app)}

        # adjust_target (berthctl's default): KILLED, its pod deleted, not replaced.
        answer = self.daemon.ctl_ok("kill", app, 1)
        self.assertEqual([int(i) for i in answer.get("killed", [])], [1])
        self.assertEqual(self.wait_ended(app, 1)["state"], "KILLED")
        self.wait_pod_gone("berth-%s-exec-1" % app)
        self.assertEqual(target_of(self.daemon.app(app)), 3)
        self.wait_converged(app, 3)

        # Without: KILLED and replaced by a new id, never a reused one.
        self.daemon.ctl_ok("kill", app, 2, "--no-adjust-target")
        killed = self.wait_ended(app, 2)
        self.assertEqual(killed["state"], "KILLED")
        self.assertFalse(killed.get("loss", {}).get("causedByApp", False))
        running = self.wait_converged(app, 3)
        self.assertEqual(ids_in(running), [3, 4, 5])
        self.assertEqual(target_of(self.daemon.app(app)), 3)
        # The survivors are the same pods, not recreated ones.
        for pod in self.app_pods(app):
            if name_of(pod) in uids:
                self.assertEqual(pod["metadata"]["uid"], uids[name_of(pod)])
        self.assertEqual(ids_in(self.daemon.executors(app)), [1, 2, 3, 4, 5])

    def test_lower_target_cancels_pending_pods_and_leaves_running_ones(self):
        # Executors 1 and 2 start; every later one stays ContainerCreating (PENDING).
        slow = {"selector": "%s=slow,spark-exec-id notin (1,2)" % SCRIPT_LABEL,
                "annotations": {"sim.berth.dev/start-delay": "1h"}}
        self.start_cluster([slow])
        app = self.app_id("lower")
        self.register_k8s(app, script_name="slow")
        self.set_target(app, 2)
        running = self.wait_converged(app, 2)
        uids = {name_of(p): p["metadata"]["uid"] for p in self.app_pods(app)}

        self.set_target(app, 6)
        self.wait_until(lambda: ids_in(self.daemon.executors(app, ["PENDING"])) == [3, 4, 5, 6], 20,
                        "executors 3-6 PENDING")
        self.wait_until(lambda: len(self.app_pods(app)) == 6, 10, "six pods")

        # Down to 3: the newest pending ones go (6, 5, 4), their pods deleted; 1, 2 and 3 stay.
        self.set_target(app, 3)
        for number in (4, 5, 6):
            executor = self.wait_ended(app, number)
            self.assertEqual(executor["state"], "CANCELLED")
            self.wait_pod_gone("berth-%s-exec-%d" % (app, number))
        self.assertEqual(self.executor(app, 3)["state"], "PENDING")
        # Down to 1: only the pending one can go; running executors are never killed for a target.
        self.set_target(app, 1)
        self.assertEqual(self.wait_ended(app, 3)["state"], "CANCELLED")
        self.wait_pod_gone("berth-%s-exec-3" % app)
        running = self.wait_converged(app, 2)
        self.assertEqual(ids_in(running), [1, 2])
        self.assertEqual({name_of(p): p["metadata"]["uid"] for p in self.app_pods(app)}, uids)
        self.assertEqual(target_of(self.daemon.app(app)), 1)


# -------------------------------------------------------------------------------------------------
# 3. Scripted failures
# -------------------------------------------------------------------------------------------------

class ScriptedFailureTest(KubernetesCase):
    """Executor 1 of each application fails as scripted; its replacement (2) runs."""

    BEHAVIOURS = [
        script("oom", {"oom": "true", "run-for": "1s"}, only_first=True),
        script("exit3", {"run-for": "1s", "exit-code": "3"}, only_first=True),
        script("pull", {"image-pull-error": "true"}, only_first=True),
    ]

    def setUp(self):
        super().setUp()
        self.start_cluster(self.BEHAVIOURS)

    def first_fails_and_is_replaced(self, script_name):
        app = self.app_id(script_name)
        self.register_k8s(app, script_name=script_name)
        self.set_target(app, 1)
        failed = self.wait_ended(app, 1)
        running = self.wait_converged(app, 1)
        self.assertEqual(ids_in(running), [2], "replaced by a new executor id")
        self.wait_pod_gone("berth-%s-exec-1" % app)  # delete_terminated_pods
        self.assertEqual(ids_in(self.daemon.executors(app)), [1, 2])
        return failed

    def test_oom_kill_is_exit_137_caused_by_the_app(self):
        failed = self.first_fails_and_is_replaced("oom")
        self.assertEqual(failed["state"], "FAILED")
        self.assertEqual(failed.get("exitCode"), 137)
        self.assertEqual(failed["loss"]["reason"], "oom_killed")
        self.assertTrue(failed["loss"].get("causedByApp"))

    def test_exit_code_3_is_a_failure_caused_by_the_app(self):
        failed = self.first_fails_and_is_replaced("exit3")
        self.assertEqual(failed["state"], "FAILED")
        self.assertEqual(failed.get("exitCode"), 3)
        self.assertEqual(failed["loss"]["reason"], "exited")
        self.assertTrue(failed["loss"].get("causedByApp"))

    def test_image_pull_error_fails_the_executor_after_the_pool_timeout(self):
        failed = self.first_fails_and_is_replaced("pull")
        self.assertEqual(failed["state"], "LAUNCH_FAILED")
        self.assertEqual(failed["loss"]["reason"], "launch_failed")
        self.assertFalse(failed["loss"].get("causedByApp", False))
        self.assertIn("could not be pulled", failed["loss"]["message"])
        self.assertIn(IMAGE, failed["loss"]["message"])

    def test_node_loss_is_lost_with_the_host_and_replaced(self):
        app = self.app_id("node")
        self.register_k8s(app)
        self.set_target(app, 4)
        running = self.wait_converged(app, 4)
        node = running[0]["host"]
        on_node = sorted(executor_id(e) for e in running if e["host"] == node)
        self.sim.kill_node(node, "fail")

        for number in on_node:
            lost = self.wait_ended(app, number)
            self.assertEqual(lost["state"], "LOST")
            self.assertEqual(lost["loss"]["reason"], "node_lost")
            self.assertTrue(lost["loss"].get("hostLost"))
            self.assertFalse(lost["loss"].get("causedByApp", False))
            self.assertEqual(lost["host"], node)
        running = self.wait_converged(app, 4)
        self.assertTrue(all(e["host"] != node for e in running))
        replacements = [i for i in ids_in(running) if i > 4]
        self.assertEqual(len(replacements), len(on_node))
        self.assertEqual(ids_in(self.daemon.executors(app)), list(range(1, 5 + len(on_node))))


# -------------------------------------------------------------------------------------------------
# 4. Quota
# -------------------------------------------------------------------------------------------------

class QuotaTest(KubernetesCase):
    BUDGET = 4

    def start_quota_cluster(self):
        self.start_cluster(reconciler=dict(FAST_RECONCILER, failure_budget=self.BUDGET))
        self.sim.set_quota(NAMESPACE, "pods-cap", {"pods": "3"})

    def quota_exhausted(self, app, target):
        """Target above a 3-pod quota: 3 RUNNING, the rest refused with the API server's message,
        QUOTA_EXCEEDED on the application, and a bounded number of create attempts."""
        self.register_k8s(app)
        self.set_target(app, target)

        def budget_spent():
            application = self.daemon.app(app)
            conditions = application.get("conditions", [])
            if not any(c.startswith("FAILURE_BUDGET_EXHAUSTED") for c in conditions):
                return None
            if any(e["state"] in IN_FLIGHT for e in self.daemon.executors(app)):
                return None
            return application
        application = self.wait_until(budget_spent, 20, "the failure budget of %s spent" % app)
        conditions = application["conditions"]
        quota = [c for c in conditions if c.startswith("QUOTA_EXCEEDED")]
        self.assertEqual(len(quota), 1, conditions)
        self.assertIn("exceeded quota: pods-cap", quota[0])

        executors = self.daemon.executors(app)
        refused = [e for e in executors if e["state"] == "LAUNCH_FAILED"]
        self.assertEqual(len([e for e in executors if e["state"] == "RUNNING"]), 3)
        self.assertTrue(refused)
        for executor in refused:
            self.assertIn("exceeded quota: pods-cap", executor["loss"]["message"])
            self.assertIn("limited: pods=3", executor["loss"]["message"])
            self.assertIsNone(self.sim.pod(NAMESPACE, executor["backendName"]))
        # No hot loop: the refusals stop at the failure budget (plus what was already in flight).
        self.assertGreaterEqual(len(refused), self.BUDGET)
        self.assertLessEqual(len(refused), self.BUDGET + target - 3)
        self.assertEqual(int(application.get("launchFailures", 0)), len(refused))
        self.assertEqual(len(self.app_pods(app)), 3)
        return refused

    def test_quota_refusals_are_reported_and_not_retried_in_a_loop(self):
        self.start_quota_cluster()
        app = self.app_id("quota")
        refused = self.quota_exhausted(app, 6)
        # Still bounded after several more reconcile passes and full resyncs (resync_interval 2s).
        ticks = self.metric("berth_reconcile_ticks_total")
        self.wait_until(lambda: self.metric("berth_reconcile_ticks_total") >= ticks + 3, 20,
                        "three more reconciler ticks")
        self.wait_until(lambda: self.pool_status().get("synced", False), 5, "pool synced")
        self.assertEqual(len(self.daemon.executors(app, ["LAUNCH_FAILED"])), len(refused))
        self.assertEqual(self.metric('berth_backend_errors_total{call="launch",pool="k8s"}'), len(refused))
        self.assertEqual(len(self.app_pods(app)), 3)

    def test_recovery_once_the_quota_is_deleted(self):
        """Once the operator deletes the quota, a driver that asks again (the same registration,
        a higher total) gets its executors, and QUOTA_EXCEEDED and FAILURE_BUDGET_EXHAUSTED leave
        the application's conditions: a raised target gives refused launches a fresh try."""
        self.start_quota_cluster()
        app = self.app_id("requota")
        refused = self.quota_exhausted(app, 5)
        self.sim.delete_quota(NAMESPACE, "pods-cap")
        self.register_k8s(app)  # the same spec again: idempotent
        self.set_target(app, 6)
        running = self.wait_converged(app, 6, timeout=10)
        conditions = self.daemon.app(app).get("conditions", [])
        self.assertFalse([c for c in conditions if c.startswith(("QUOTA_EXCEEDED", "FAILURE_BUDGET"))], conditions)
        self.assertTrue(all(executor_id(e) not in ids_in(refused) for e in running))

    def metric(self, series):
        with urllib.request.urlopen("http://%s/metrics" % self.daemon.metrics, timeout=5) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        return 0.0


# -------------------------------------------------------------------------------------------------
# 5-6. Watch faults and API server outages
# -------------------------------------------------------------------------------------------------

class WatchFaultTest(KubernetesCase):

    def exits_under_fault(self, faults):
        """Six running executors; for each fault set, inject it and at once make one pod exit 0
        and another exit 3. berthd must see each exit exactly once and replace each executor once."""
        self.start_cluster()
        app = self.app_id("watch")
        self.register_k8s(app)
        self.set_target(app, 6)
        running = self.wait_converged(app, 6)
        expected = {}  # executor id -> (state, exit code)
        for fault in faults:
            victims = sorted(ids_in(running))[:2]
            self.sim.faults(**fault)
            self.sim.exit_pod(NAMESPACE, "berth-%s-exec-%d" % (app, victims[0]), code=0)
            self.sim.exit_pod(NAMESPACE, "berth-%s-exec-%d" % (app, victims[1]), code=3)
            expected[victims[0]] = ("SUCCEEDED", 0)
            expected[victims[1]] = ("FAILED", 3)
            for number in victims:
                self.wait_ended(app, number)
            running = self.wait_converged(app, 6)
        for number, (state, code) in expected.items():
            executor = self.executor(app, number)
            self.assertEqual((executor["state"], executor.get("exitCode", 0)), (state, code), executor)
        everything = self.daemon.executors(app)
        self.assertEqual(ids_in(everything), list(range(1, 7 + len(expected))),
                         "each exit replaced exactly once")
        self.assertEqual(len([e for e in everything if e["state"] in TERMINAL]), len(expected),
                         "no executor ended that did not exit")
        self.assertEqual(len(self.app_pods(app)), 6)
        self.assertTrue(self.pool_status().get("healthy", False))

    def test_dropped_watches(self):
        self.exits_under_fault([{"drop_watches": True}, {"drop_watches": True}])

    def test_compacted_history_and_expired_watches_410(self):
        self.exits_under_fault([{"compact": True, "expire_watches": True},
                                {"compact": True, "expire_watches": True, "expired_as_event": True},
                                {"compact": True, "drop_watches": True}])

    def test_api_server_outage_freezes_the_pool_then_it_converges(self):
        self.start_cluster()
        app = self.app_id("outage")
        self.register_k8s(app)
        self.set_target(app, 4)
        self.wait_converged(app, 4)
        uids = {name_of(p): p["metadata"]["uid"] for p in self.app_pods(app)}

        # Longer than missing_grace (2s) plus a resync (2s): time enough to wrongly declare loss.
        self.sim.faults(down_for_ms=6000)
        down = time.monotonic()
        self.set_target(app, 6)
        pool = self.wait_until(lambda: (lambda p: None if p.get("healthy") else p)(self.pool_status()), 6,
                               "pool k8s unhealthy during the outage")
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
        for pod in self.app_pods(app):
            if name_of(pod) in uids:
                self.assertEqual(pod["metadata"]["uid"], uids[name_of(pod)], "the same pods, not new ones")
        self.assertTrue(self.pool_status().get("healthy", False))


# -------------------------------------------------------------------------------------------------
# 7. kill -9 mid-ramp
# -------------------------------------------------------------------------------------------------

class CrashMidRampTest(KubernetesCase):
    RAMP = 100

    def crash_and_recover(self, crash_when):
        self.start_cluster()
        app = self.app_id("crash")
        self.register_k8s(app)
        self.set_target(app, self.RAMP)
        crash_when(app)
        self.assertIsNotNone(self.daemon.kill9())
        pods_at_crash = len(self.app_pods(app))

        self.daemon.restart()
        running = self.wait_converged(app, self.RAMP, timeout=60)
        everything = self.daemon.executors(app)
        self.assertEqual(ids_in(everything), list(range(1, self.RAMP + 1)),
                         "no executor lost, replaced or issued twice")
        pods = self.app_pods(app)
        names = [name_of(p) for p in pods]
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(sorted(names), sorted("berth-%s-exec-%d" % (app, i) for i in range(1, self.RAMP + 1)))
        self.assertEqual(self.sim.state()["pods"], self.RAMP, "no pod leaked outside the application")
        self.assert_pods_match(app, running, self.daemon_id())

        # Ids continue after the highest ever issued.
        self.daemon.ctl_ok("kill", app, 7, "--no-adjust-target")
        self.wait_until(lambda: self.converged(app, self.RAMP) and
                        self.executor(app, self.RAMP + 1) is not None, 30, "executor 7 replaced by 101")
        self.assertEqual(ids_in(self.daemon.executors(app, ["RUNNING"])),
                         [i for i in range(1, self.RAMP + 2) if i != 7])
        return pods_at_crash

    def test_crash_right_after_the_target_call(self):
        self.crash_and_recover(lambda app: None)

    def test_crash_when_some_pods_run(self):
        def some_running(app):
            self.wait_until(lambda: len([p for p in self.app_pods(app) if phase_of(p) == "Running"]) >= 20,
                            20, "20 pods Running")
        self.crash_and_recover(some_running)


# -------------------------------------------------------------------------------------------------
# 8. TLS
# -------------------------------------------------------------------------------------------------

class TlsTest(KubernetesCase):
    TOKEN = "e2e-kube-token-0123456789"

    def setUp(self):
        super().setUp()
        self.certs = os.path.join(self.tmp, "certs")
        os.mkdir(self.certs)
        make_certificates(self.certs)

    def cert(self, name):
        return os.path.join(self.certs, name)

    def run_two_executors(self):
        app = self.app_id("tls")
        self.register_k8s(app)
        self.set_target(app, 2)
        running = self.wait_converged(app, 2)
        self.assert_pods_match(app, running, self.daemon_id())
        self.assertTrue(self.pool_status().get("healthy", False))

    def refused_pool(self, kubeconfig, needle):
        """A second daemon whose kubeconfig the simulator refuses: its pool never syncs."""
        other = self.start_daemon(kubeconfig, name="refused")
        pool = self.wait_until(lambda: (lambda p: p if p.get("lastError") else None)(self.pool_status(other)),
                               15, "the refused pool reports an error")
        self.assertFalse(pool.get("synced", False))
        self.assertFalse(pool.get("healthy", False))
        self.assertIn(needle, pool["lastError"])

    def test_https_with_a_bearer_token(self):
        tls = {"cert": self.cert("server.pem"), "key": self.cert("server.key"), "ca": self.cert("ca.pem")}
        self.sim = self.new_kubernetes_sim(sim_config(), tls=tls, token=self.TOKEN)
        kubeconfig = self.sim.write_kubeconfig(os.path.join(self.tmp, "kubeconfig"), NAMESPACE,
                                               token=self.TOKEN, ca=self.cert("ca.pem"))
        self.daemon = self.start_daemon(kubeconfig)
        self.run_two_executors()
        wrong = self.sim.write_kubeconfig(os.path.join(self.tmp, "wrong-token"), NAMESPACE,
                                          token="not-the-token", ca=self.cert("ca.pem"))
        self.refused_pool(wrong, "401")

    def test_https_with_a_client_certificate(self):
        tls = {"cert": self.cert("server.pem"), "key": self.cert("server.key"), "ca": self.cert("ca.pem"),
               "client_ca": self.cert("ca.pem"), "client_cert": self.cert("client.pem"),
               "client_key": self.cert("client.key")}
        self.sim = self.new_kubernetes_sim(sim_config(), tls=tls)
        kubeconfig = self.sim.write_kubeconfig(os.path.join(self.tmp, "kubeconfig"), NAMESPACE,
                                               ca=self.cert("ca.pem"), client_cert=self.cert("client.pem"),
                                               client_key=self.cert("client.key"))
        self.daemon = self.start_daemon(kubeconfig)
        self.run_two_executors()
        untrusted = self.sim.write_kubeconfig(os.path.join(self.tmp, "other-ca"), NAMESPACE,
                                              ca=self.cert("other-ca.pem"), client_cert=self.cert("client.pem"),
                                              client_key=self.cert("client.key"))
        self.refused_pool(untrusted, "certificate")


# -------------------------------------------------------------------------------------------------
# 9. Orphans and foreign pods
# -------------------------------------------------------------------------------------------------

class RbacTest(KubernetesCase):
    """berthd against a simulator that authorizes the pod API by deploy/kubernetes/rbac.yaml, as
    shipped (its NAMESPACE placeholder filled in) or with one verb taken out of its Role."""

    TOKEN = "berth-sa-token"
    USER = "system:serviceaccount:%s:berth" % NAMESPACE

    def rbac_file(self, without=None):
        with open(os.path.join(SOURCE_DIR, "deploy", "kubernetes", "rbac.yaml")) as f:
            text = f.read().replace("NAMESPACE", NAMESPACE)
        if without:
            def drop(match):
                verbs = [v for v in json.loads(match.group(1)) if v != without]
                return "verbs: " + json.dumps(verbs)
            text, found = re.subn(r"verbs: (\[.*\])", drop, text)
            self.assertEqual(found, 1, "one verbs list in the Role")
        path = os.path.join(self.tmp, "rbac.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_rbac_cluster(self, without=None):
        self.sim = self.new_kubernetes_sim(sim_config(), token=self.TOKEN, rbac_role=self.rbac_file(without))
        kubeconfig = self.sim.write_kubeconfig(os.path.join(self.tmp, "kubeconfig"), NAMESPACE, token=self.TOKEN)
        self.daemon = self.start_daemon(kubeconfig)
        self.wait_until(lambda: self.pool_status().get("healthy"), 20, "the pool healthy under RBAC")

    def wait_app_pods(self, app, names, timeout=20):
        """Until exactly the pods `names` of app exist (listing, which the Role allows; get it does not)."""
        self.wait_until(lambda: sorted(name_of(p) for p in self.app_pods(app)) == sorted(names), timeout,
                        "pods of %s: %s" % (app, sorted(names)))

    def wait_last_error(self, needle):
        return self.wait_until(lambda: (lambda p: p if needle in p.get("lastError", "") else None)(self.pool_status()),
                               20, "the pool's last error names %r" % needle)

    def test_the_shipped_role_is_enough_for_a_whole_application(self):
        self.start_rbac_cluster()
        app = self.app_id("rbac")
        self.register_k8s(app)
        self.set_target(app, 2)
        self.wait_converged(app, 2)
        self.daemon.ctl_ok("kill", app, 1)
        self.assertEqual(self.wait_ended(app, 1)["state"], "KILLED")
        self.wait_app_pods(app, ["berth-%s-exec-2" % app])
        self.daemon.ctl_ok("app", "unregister", app)
        self.wait_app_pods(app, [])
        self.assertEqual(self.wait_ended(app, 2)["state"], "KILLED")
        pool = self.pool_status()
        self.assertTrue(pool.get("healthy"), pool)
        self.assertNotIn("forbidden", pool.get("lastError", ""), pool)
        # Every verb of the Role was used, through the routes the simulator counts.
        counts = self.sim.request_counts()
        self.assertEqual(counts.get("POST /api/v1/namespaces/{ns}/pods"), 2, counts)
        self.assertGreaterEqual(counts.get("GET /api/v1/namespaces/{ns}/pods watch", 0), 1, counts)
        self.assertGreaterEqual(counts.get("DELETE /api/v1/namespaces/{ns}/pods/{name}", 0), 1, counts)
        self.assertEqual(counts.get("DELETE /api/v1/namespaces/{ns}/pods"), 1, counts)

    def test_without_deletecollection_unregister_names_the_verb_and_deletes_pod_by_pod(self):
        self.start_rbac_cluster(without="deletecollection")
        app = self.app_id("nodc")
        self.register_k8s(app)
        self.set_target(app, 2)
        self.wait_converged(app, 2)
        self.daemon.ctl_ok("app", "unregister", app)
        pool = self.wait_last_error('cannot deletecollection resource "pods"')
        self.assertIn('User "%s"' % self.USER, pool["lastError"])
        self.assertIn('in the namespace "%s"' % NAMESPACE, pool["lastError"])
        self.wait_app_pods(app, [])  # the single deletes the Role allows
        counts = self.sim.request_counts()
        self.assertEqual(counts.get("DELETE /api/v1/namespaces/{ns}/pods"), 1, counts)
        self.assertGreaterEqual(counts.get("DELETE /api/v1/namespaces/{ns}/pods/{name}", 0), 2, counts)

    def test_without_delete_a_kill_names_the_verb_and_the_pod_stays(self):
        self.start_rbac_cluster(without="delete")
        app = self.app_id("nodel")
        self.register_k8s(app)
        self.set_target(app, 2)
        self.wait_converged(app, 2)
        self.daemon.ctl_ok("kill", app, 1)
        pool = self.wait_last_error('cannot delete resource "pods"')
        self.assertIn('pods "berth-%s-exec-1" is forbidden' % app, pool["lastError"])
        names = sorted(name_of(p) for p in self.app_pods(app))
        self.assertIn("berth-%s-exec-1" % app, names)


class OrphanTest(KubernetesCase):

    def pod(self, name, labels, annotations=None):
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": labels, "annotations": annotations or {}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": IMAGE}]}}

    def berth_labels(self, daemon_id, app, number=1):
        return {"berth.dev/daemon": daemon_id, "berth.dev/app": app, "berth.dev/executor": str(number),
                "berth.dev/profile": "0", "berth.dev/pool": POOL, "spark-app-selector": app,
                "spark-role": "executor", "spark-exec-id": str(number)}

    def test_only_this_daemons_pods_of_unknown_apps_are_deleted(self):
        daemon_id = "e2e-" + self.marker[:12]
        self.sim = self.new_kubernetes_sim(sim_config())
        kubeconfig = self.sim.write_kubeconfig(os.path.join(self.tmp, "kubeconfig"), NAMESPACE)
        untouchable = {
            # No Berth labels at all (but Spark's: another Spark-on-Kubernetes deployment).
            "foreign": self.pod("foreign", {"spark-role": "executor", "spark-app-selector": "x"}),
            # Berth's labels, another daemon's id, the same pool name.
            "other-daemon": self.pod("berth-other-exec-1", self.berth_labels("another-daemon", "other"),
                                     {"berth.dev/backend-name": "berth-other-exec-1"}),
        }
        orphan = self.pod("berth-ghost-exec-1", self.berth_labels(daemon_id, "ghost"),
                          {"berth.dev/backend-name": "berth-ghost-exec-1"})
        for pod in list(untouchable.values()) + [orphan]:
            self.sim.create_pod(NAMESPACE, pod)
        self.wait_until(lambda: all(phase_of(p) == "Running" for p in self.sim.pods(NAMESPACE))
                        and len(self.sim.pods(NAMESPACE)) == 3, 10, "three pods Running")
        uids = {name_of(p): p["metadata"]["uid"] for p in self.sim.pods(NAMESPACE)}

        self.daemon = self.start_daemon(kubeconfig, daemon_id=daemon_id)
        self.assertEqual(self.daemon_id(), daemon_id)
        self.wait_pod_gone("berth-ghost-exec-1")

        # At run time too: a pod of this daemon for an unknown app goes, a foreign one stays.
        self.sim.create_pod(NAMESPACE, self.pod("late-foreign", {"team": "data"}))
        self.sim.create_pod(NAMESPACE, self.pod("berth-ghost-exec-2", self.berth_labels(daemon_id, "ghost", 2),
                                                {"berth.dev/backend-name": "berth-ghost-exec-2"}))
        app = self.app_id("live")
        self.register_k8s(app)
        self.set_target(app, 2)
        self.wait_converged(app, 2)
        self.wait_pod_gone("berth-ghost-exec-2")

        pods = {name_of(p): p for p in self.sim.pods(NAMESPACE)}
        for name in ("foreign", "berth-other-exec-1"):
            self.assertIn(name, pods)
            self.assertEqual(pods[name]["metadata"]["uid"], uids[name])
            self.assertFalse(terminating(pods[name]), name)
            self.assertEqual(phase_of(pods[name]), "Running")
        self.assertIn("late-foreign", pods)
        self.assertFalse(terminating(pods["late-foreign"]))
        self.assertEqual(sorted(pods), sorted(["foreign", "berth-other-exec-1", "late-foreign",
                                               "berth-%s-exec-1" % app, "berth-%s-exec-2" % app]))
        self.assertEqual(self.daemon.ctl_ok("apps").get("applications", [])[0]["appId"], app)



class RequestBudgetTest(RequestBudget, KubernetesCase):
    """Before, unregister sent a deletecollection and then a DELETE per pod, and pods were
    deleted twice (see RequestBudget)."""

    POOL = POOL

    @staticmethod
    def acts_on_executors(route):
        return "/pods/{name}" in route or route in ("POST /api/v1/namespaces/{ns}/pods",
                                                    "DELETE /api/v1/namespaces/{ns}/pods")

    def register_app(self, app):
        self.register_k8s(app)

    def all_ended(self, app):
        return not self.app_pods(app)

    def test_kill_by_id_then_gone(self):
        acting = self.lifecycle(self.kill_all)
        self.assertEqual(acting.get("POST /api/v1/namespaces/{ns}/pods"), self.EXECUTORS)
        self.assertEqual(acting.get("DELETE /api/v1/namespaces/{ns}/pods/{name}"), self.EXECUTORS)

    def test_unregister_is_one_deletecollection_and_no_single_deletes(self):
        acting = self.lifecycle(self.unregister)
        self.assertEqual(acting.get("DELETE /api/v1/namespaces/{ns}/pods"), 1)
        self.assertNotIn("DELETE /api/v1/namespaces/{ns}/pods/{name}", acting)

if __name__ == "__main__":
    unittest.main()
