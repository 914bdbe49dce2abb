"""berthd restarts: kill -9 mid-ramp and SIGTERM. The invariant is exact: no executor lost,
duplicated or leaked, and executor ids are never reused."""

import signal
import unittest

from berth_harness import BerthTestCase, executor_id, ids_in, target_of

RAMP = 20


class CrashMidRampTest(BerthTestCase):

    def crash_and_recover(self, crash_when):
        """`target APP 20`, SIGKILL berthd at the moment crash_when(daemon, app) returns, restart
        on the same state dir, and check the exact invariant."""
        daemon = self.new_daemon()
        app = self.app_id("crash")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, RAMP)
        crash_when(daemon, app)
        self.assertIsNotNone(daemon.kill9())
        processes_at_crash = len(self.live_executors(app))

        daemon.restart()
        running = self.wait_running(daemon, app, RAMP, timeout=40)
        ids = ids_in(running)
        self.assertEqual(len(ids), len(set(ids)), "duplicate executor ids: %s" % ids)
        everything = daemon.executors(app)
        all_ids = ids_in(everything)
        self.assertEqual(len(all_ids), len(set(all_ids)), "an id issued twice: %s" % all_ids)
        self.assertEqual(target_of(daemon.app(app)), RAMP)

        # Nothing in flight is left behind, and the live processes are exactly the RUNNING ones.
        def settled():
            states = [e["state"] for e in daemon.executors(app)]
            return not any(s in ("REQUESTED", "LAUNCHING", "PENDING") for s in states)
        self.wait_until(settled, 20, "no executor left in flight after recovery")
        running = daemon.executors(app, ["RUNNING"])
        self.assertEqual(len(running), RAMP)
        self.assert_running_match_processes(daemon, app, running)
        self.assertEqual(len(self.live_executors()), RAMP, "an executor process outside the app")

        # Ids continue after the highest ever issued: a replacement never reuses one.
        highest = max(ids_in(daemon.executors(app)))
        victim = ids_in(running)[0]
        daemon.ctl_ok("kill", app, victim, "--no-adjust-target")

        def replaced():
            running = daemon.executors(app, ["RUNNING"])
            new = [i for i in ids_in(running) if i > highest]
            return running if len(running) == RAMP and new and victim not in ids_in(running) else None
        running = self.wait_until(replaced, 20, "a replacement for executor %d" % victim)
        replacement = [i for i in ids_in(running) if i > highest]
        self.assertEqual(len(replacement), 1)
        self.assertGreaterEqual(replacement[0], RAMP + 1)
        self.wait_running(daemon, app, RAMP)
        self.assert_running_match_processes(daemon, app)
        final_ids = ids_in(daemon.executors(app))
        self.assertEqual(len(final_ids), len(set(final_ids)))
        return processes_at_crash

    def test_crash_right_after_the_target_call(self):
        self.crash_and_recover(lambda daemon, app: None)

    def test_crash_while_executors_are_being_started(self):
        def some_started(daemon, app):
            self.wait_until(lambda: len(self.live_executors(app)) >= 3, 20,
                            "a few executor processes started")
        self.crash_and_recover(some_started)

    def test_crash_when_most_are_running(self):
        def most_running(daemon, app):
            self.wait_until(lambda: len(daemon.executors(app, ["RUNNING"])) >= RAMP // 2, 20,
                            "half of the executors RUNNING")
        self.crash_and_recover(most_running)

    def test_two_crashes_in_a_row(self):
        def crash_twice(daemon, app):
            self.wait_until(lambda: len(self.live_executors(app)) >= 1, 20, "one executor process")
            daemon.kill9()
            daemon.restart()
        self.crash_and_recover(crash_twice)


class GracefulStopTest(BerthTestCase):

    def test_sigterm_exits_zero_leaves_executors_running_and_restart_adopts_them(self):
        daemon = self.new_daemon()
        app = self.app_id("term")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 4)
        running = self.wait_running(daemon, app, 4)
        before = {executor_id(e): e["backendName"] for e in running}
        pids_before = sorted(p["pid"] for p in self.live_executors(app))

        self.assertEqual(daemon.terminate(), 0, daemon.log_tail())
        self.assertIn("SIGTERM received", daemon.log_text())
        self.assertEqual(sorted(p["pid"] for p in self.live_executors(app)), pids_before,
                         "executors keep running while berthd is down")

        daemon.restart()
        running = self.wait_running(daemon, app, 4)
        self.assertEqual({executor_id(e): e["backendName"] for e in running}, before)
        self.assertEqual(sorted(p["pid"] for p in self.live_executors(app)), pids_before,
                         "adopted, not started again")
        self.assertEqual(ids_in(daemon.executors(app)), [1, 2, 3, 4])
        self.assert_running_match_processes(daemon, app, running)

    def test_sigint_also_stops_cleanly(self):
        daemon = self.new_daemon()
        app = self.app_id("int")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 1)
        self.wait_running(daemon, app, 1)
        daemon.signal(signal.SIGINT)
        self.assertEqual(daemon.process.wait(timeout=20), 0)
        self.assertEqual(len(self.live_executors(app)), 1)


if __name__ == "__main__":
    unittest.main()
