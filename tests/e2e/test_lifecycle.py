"""Targets, kills and cancellation on the local backend: berthctl's view and the processes."""

import os
import unittest

from berth_harness import FAST_RECONCILER, BerthTestCase, counts, executor_id, ids_in, parse_timestamp, read_text, target_of


class TargetAndKillTest(BerthTestCase):

    def test_target_three_runs_executors_one_two_three_with_spark_env(self):
        daemon = self.new_daemon()
        app = self.app_id("ramp")
        registered = self.register(daemon, app, "--cores", "2", "--memory", "1536",
                                   "--driver-url", "spark://CoarseGrainedScheduler@127.0.0.1:7078",
                                   command=["sh", "-c", "env; exec sleep 3600"])
        self.assertEqual(registered["appId"], app)
        self.assertEqual(registered["phase"], "ACTIVE")

        accepted = daemon.ctl_ok("target", app, 3)
        self.assertTrue(accepted["accepted"])

        running = self.wait_running(daemon, app, 3)
        self.assertEqual(ids_in(running), [1, 2, 3])
        self.assert_running_match_processes(daemon, app, running)
        everything = daemon.executors(app)
        self.assertEqual(ids_in(everything), [1, 2, 3], "no executor beyond the 3 asked for")
        self.assertEqual(target_of(daemon.app(app)), 3)
        self.assertEqual(counts(daemon.app(app)), {"RUNNING": 3})

        for process in self.live_executors(app):
            env = process["env"]
            executor = env["SPARK_EXECUTOR_ID"]
            self.assertIn(executor, ("1", "2", "3"))
            self.assertEqual(env["SPARK_APPLICATION_ID"], app)
            self.assertEqual(env["SPARK_EXECUTOR_CORES"], "2")
            self.assertEqual(env["SPARK_EXECUTOR_MEMORY"], "1536m")
            self.assertEqual(env["SPARK_RESOURCE_PROFILE_ID"], "0")
            self.assertEqual(env["SPARK_DRIVER_URL"], "spark://CoarseGrainedScheduler@127.0.0.1:7078")
            self.assertEqual(env["BERTH_POOL"], "local")
            self.assertTrue(env["BERTH_BACKEND_NAME"].endswith("-exec-" + executor), env["BERTH_BACKEND_NAME"])
            # `env` printed by the executor itself, in its log.
            log = os.path.join(process["cwd"], "executor.log")
            self.wait_until(lambda: "SPARK_EXECUTOR_ID=%s\n" % executor in (read_text(log) or ""), 5,
                            "SPARK_EXECUTOR_ID in " + log)

    def test_kill_adjusts_target_and_kill_without_adjust_replaces_with_a_new_id(self):
        daemon = self.new_daemon()
        app = self.app_id("kill")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 3)
        running = self.wait_running(daemon, app, 3)
        by_id = {executor_id(e): e["backendName"] for e in running}

        # Spark's default: the target goes down with the kill, nothing replaces executor 2.
        killed = daemon.ctl_ok("kill", app, 2)
        self.assertEqual([int(i) for i in killed.get("killed", [])], [2])
        self.wait_until(lambda: by_id[2] not in self.live_backend_names(app), 10,
                        "the process of executor 2 ends")
        self.wait_until(lambda: ids_in(daemon.executors(app), "KILLED") == [2], 10, "executor 2 KILLED")
        self.assertEqual(target_of(daemon.app(app)), 2)
        running = self.wait_running(daemon, app, 2)
        self.assertEqual(ids_in(running), [1, 3])
        self.assertEqual(ids_in(daemon.executors(app)), [1, 2, 3], "no replacement for executor 2")

        # Keeping the target: a replacement, with the next id, never a reused one.
        daemon.ctl_ok("kill", app, 1, "--no-adjust-target")
        self.wait_until(lambda: by_id[1] not in self.live_backend_names(app), 10,
                        "the process of executor 1 ends")
        running = self.wait_running(daemon, app, 2)
        self.assertEqual(ids_in(running), [3, 4])
        self.assertEqual(target_of(daemon.app(app)), 2)
        everything = daemon.executors(app)
        self.assertEqual(ids_in(everything), [1, 2, 3, 4])
        self.assertEqual(ids_in(everything, "KILLED"), [1, 2])
        self.assert_running_match_processes(daemon, app, running)

        # An id that already ended is reported unknown, and nothing else is touched.
        again = daemon.ctl_ok("kill", app, 2)
        self.assertEqual([int(i) for i in again.get("unknown", [])], [2])
        self.assertEqual(ids_in(daemon.executors(app, ["RUNNING"])), [3, 4])


class ScaleDownTest(BerthTestCase):
    """A local pool of 2 cores and executors of 1 core: what does not fit waits PENDING, which
    makes cancellation (target lowered) observable: only executors that never ran are cancelled."""

    def new_capacity_daemon(self, cores):
        return self.new_daemon(pools=[{"name": "local", "type": "local",
                                       "local": {"poll_interval": "100ms", "cores": cores}}])

    def executor_dir(self, daemon, backend_name):
        return os.path.join(daemon.config["state_dir"], "local", "local", backend_name)

    def wait_for_states(self, daemon, app, timeout=30, **expected):
        """Until the ids in each state named are exactly the ones given (RUNNING=[1, 2]) and the
        live executor processes are as many as the RUNNING executors; returns every executor."""
        def matched():
            everything = daemon.executors(app)
            if any(ids_in(everything, state) != ids for state, ids in expected.items()):
                return None
            if len(self.live_executors(app)) != len(ids_in(everything, "RUNNING")):
                return None
            return everything
        return self.wait_until(matched, timeout, "executors of %s: %s" % (app, expected))

    def assert_never_started(self, daemon, executor):
        """No process was ever started for it: the shim writes a pid file and the log as it starts."""
        directory = self.executor_dir(daemon, executor["backendName"])
        self.assertTrue(os.path.isfile(os.path.join(directory, "executor.json")), directory)
        self.assertTrue(os.path.isfile(os.path.join(directory, "queued")), directory)
        for name in ("pid", "executor.log"):
            self.assertFalse(os.path.exists(os.path.join(directory, name)),
                             "executor %s has a %s file" % (executor["executorId"], name))
        self.assertNotIn(executor["backendName"], self.live_backend_names())

    def test_lowering_the_target_cancels_pending_executors_and_never_running_ones(self):
        daemon = self.new_capacity_daemon(2)
        app = self.app_id("down")
        self.register(daemon, app, "--cores", "1")

        # 4 asked for, 2 fit: 1 and 2 run, 3 and 4 wait for capacity.
        daemon.ctl_ok("target", app, 4)
        everything = self.wait_for_states(daemon, app, RUNNING=[1, 2], PENDING=[3, 4])
        by_id = {executor_id(e): e for e in everything}
        self.assert_running_match_processes(daemon, app)
        pids = sorted(p["pid"] for p in self.live_executors(app))
        for queued in (3, 4):
            self.assert_never_started(daemon, by_id[queued])
        self.assertEqual(counts(daemon.app(app)), {"RUNNING": 2, "PENDING": 2})

        # Target lowered: the 2 PENDING ones are cancelled, the RUNNING ones stay as they are.
        daemon.ctl_ok("target", app, 2)
        everything = self.wait_for_states(daemon, app, CANCELLED=[3, 4], RUNNING=[1, 2], PENDING=[])
        for executor in everything:
            if executor_id(executor) in (3, 4):
                self.assertEqual(executor["loss"]["reason"], "cancelled")
                times = executor["times"]
                self.assertGreater(parse_timestamp(times["launched"]), 0, "launched, then cancelled")
                self.assertEqual(parse_timestamp(times.get("running", "1970-01-01T00:00:00Z")), 0,
                                 "executor %s was cancelled after it ran" % executor["executorId"])
                self.assertFalse(executor.get("hasExitCode", False))
                self.assert_never_started(daemon, executor)
                self.assertTrue(os.path.exists(os.path.join(
                    self.executor_dir(daemon, executor["backendName"]), "stop")))
        self.assertEqual(ids_in(everything, "RUNNING"), [1, 2])
        self.assertEqual(ids_in(everything), [1, 2, 3, 4])
        self.assertEqual(sorted(p["pid"] for p in self.live_executors(app)), pids, "RUNNING ones untouched")
        self.assertEqual(target_of(daemon.app(app)), 2)

        # Up again: a new id, never a cancelled one brought back; it waits, the host being full.
        daemon.ctl_ok("target", app, 3)
        everything = self.wait_for_states(daemon, app, PENDING=[5], RUNNING=[1, 2])
        self.assertEqual(ids_in(everything), [1, 2, 3, 4, 5])
        self.assert_never_started(daemon, {executor_id(e): e for e in everything}[5])
        self.assertEqual(sorted(p["pid"] for p in self.live_executors(app)), pids)

        # A running one killed (target kept): 5 takes its place; its replacement, 6, waits behind it.
        daemon.ctl_ok("kill", app, 1, "--no-adjust-target")
        everything = self.wait_for_states(daemon, app, RUNNING=[2, 5], PENDING=[6], KILLED=[1])
        self.assert_running_match_processes(daemon, app)
        by_id = {executor_id(e): e for e in everything}
        self.assert_never_started(daemon, by_id[6])
        for cancelled in (3, 4):
            self.assertEqual(by_id[cancelled]["state"], "CANCELLED")
            self.assert_never_started(daemon, by_id[cancelled])
        self.assertEqual(target_of(daemon.app(app)), 3)


class CrashLoopTest(BerthTestCase):

    def test_executors_that_fail_at_once_stop_the_relaunching(self):
        # A command that cannot do its work: every launch succeeds and every executor exits 3 at
        # once. Each such quick failure counts against the failure budget, so after three the
        # application stops scaling up and says why, instead of relaunching for ever.
        daemon = self.new_daemon(reconciler=dict(FAST_RECONCILER, failure_budget=3, quick_failure="1m"))
        app = self.app_id("crashloop")
        self.register(daemon, app, command=["sh", "-c", "exit 3"])
        daemon.ctl_ok("target", app, 2)

        def exhausted():
            got = daemon.app(app)
            return any(c.startswith("FAILURE_BUDGET_EXHAUSTED") for c in got.get("conditions", [])) and got
        got = self.wait_until(exhausted, 30, "the failure budget is exhausted")
        self.assertGreaterEqual(got.get("launchFailures", 0), 3)
        failed = [e for e in daemon.executors(app) if e["state"] == "FAILED"]
        self.assertGreaterEqual(len(failed), 3)
        self.assertTrue(all(e.get("exitCode") == 3 for e in failed), failed)
        # At most what was in flight when the budget ran out: two at a time, three failures.
        self.assertLessEqual(len(daemon.executors(app)), 4)


if __name__ == "__main__":
    unittest.main()
