"""Targets, kills and cancellation on the local backend: berthctl's view and the processes."""

import os
import unittest

from berth_harness import BerthTestCase, counts, executor_id, ids_in, read_text, target_of


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

    def test_lowering_the_target_cancels_only_executors_that_never_ran(self):
        daemon = self.new_daemon()
        app = self.app_id("down")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 30)
        daemon.ctl_ok("target", app, 2)

        # Converged: nothing left in flight, RUNNING executors and live processes agree.
        def settled():
            everything = daemon.executors(app)
            in_flight = [e for e in everything if e["state"] in ("REQUESTED", "LAUNCHING", "PENDING")]
            running = [e for e in everything if e["state"] == "RUNNING"]
            live = self.live_executors(app)
            if in_flight or len(running) != len(live) or len(running) < 2:
                return None
            return everything
        everything = self.wait_until(settled, 30, "no executor in flight, RUNNING == live processes")

        self.assertEqual(target_of(daemon.app(app)), 2)
        states = {e["state"] for e in everything}
        self.assertLessEqual(states, {"RUNNING", "CANCELLED"}, "only RUNNING or CANCELLED: %s" % states)
        for executor in everything:
            if executor["state"] == "CANCELLED":
                self.assertNotIn("running", executor.get("times", {}),
                                 "executor %s was cancelled after it ran" % executor["executorId"])
        self.assert_running_match_processes(daemon, app)
        ids = ids_in(everything)
        self.assertEqual(ids, list(range(1, len(ids) + 1)), "ids are 1..n without gaps or repeats")


if __name__ == "__main__":
    unittest.main()
