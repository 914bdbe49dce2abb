"""berthd restarts: kill -9 mid-ramp and SIGTERM. The invariant is exact: no executor lost,
duplicated or leaked, and executor ids are never reused."""

import select
import signal
import subprocess
import unittest

from berth_harness import BERTHCTL, BerthTestCase, executor_id, ids_in, target_of

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

    def test_sigterm_ends_open_watches_at_once_with_where_to_resume(self):
        """A stopping berthd does not wait for its watchers: each stream ends with UNAVAILABLE and
        the revision to resume from (it waited for gRPC's shutdown deadline before)."""
        daemon = self.new_daemon()
        app = self.app_id("stopwatch")
        self.register(daemon, app)
        watch = subprocess.Popen([BERTHCTL, "--addr", daemon.grpc, "-o", "json", "watch", app],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: watch.poll() is None and watch.kill())
        ready, _, _ = select.select([watch.stdout], [], [], 20)
        self.assertTrue(ready and watch.stdout.readline(), "the watch started")
        self.assertEqual(daemon.terminate(), 0, daemon.log_tail())
        _, stderr = watch.communicate(timeout=20)
        self.assertIn("UNAVAILABLE: berthd is stopping; resume with from_revision=", stderr)
        self.assertIn("stopping: watches ended", daemon.log_text())

    def test_sigint_also_stops_cleanly(self):
        daemon = self.new_daemon()
        app = self.app_id("int")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 1)
        self.wait_running(daemon, app, 1)
        daemon.signal(signal.SIGINT)
        self.assertEqual(daemon.process.wait(timeout=20), 0)
        self.assertEqual(len(self.live_executors(app)), 1)



class RemovedPoolTest(BerthTestCase):
    """A restart whose configuration no longer has a pool that a registered application lists
    (regression: berthd crashed on it). The application keeps its record and is told why it
    cannot grow; its executors there are frozen, never forgotten or declared lost; the pool
    comes back with the configuration."""

    POOLS = [{"name": "local", "type": "local", "local": {"poll_interval": "100ms"}},
             {"name": "spare", "type": "local", "local": {"poll_interval": "100ms"}}]

    def test_restart_without_a_pool_in_use(self):
        daemon = self.new_daemon(pools=self.POOLS)
        app = self.app_id("removed")
        daemon.ctl_ok("app", "register", app, "--pool", "spare", "--env", "BERTH_E2E_MARKER=%s" % self.marker,
                      "--", *self.EXECUTOR_COMMAND)
        daemon.ctl_ok("target", app, 2)
        running = self.wait_running(daemon, app, 2)
        self.assertEqual(daemon.terminate(), 0, daemon.log_tail())

        daemon.config["pools"] = self.POOLS[:1]
        daemon.write_config()
        daemon.restart()
        self.assertIn("pool spare is not in the configuration any more", daemon.log_text())
        conditions = daemon.app(app).get("conditions", [])
        self.assertTrue(any(c.startswith("NO_USABLE_POOL: pool spare ") for c in conditions), conditions)
        pools = {p["name"]: p for p in daemon.ctl_ok("pools").get("pools", [])}
        self.assertEqual(pools["spare"]["type"], "removed")
        self.assertFalse(pools["spare"].get("healthy", False))
        # Frozen: the executors stay as they were, their processes untouched, beyond missing_grace.
        daemon.ctl_ok("target", app, 3)
        start = self.pool_lists(daemon, "local")
        self.wait_until(lambda: self.pool_lists(daemon, "local") >= start + 2, 20, "two more resyncs")
        self.assertEqual(ids_in(daemon.executors(app, ["RUNNING"])), ids_in(running))
        self.assertEqual(len(daemon.executors(app)), 2)
        self.assertEqual(len(self.live_executors(app)), 2)

        # With the pool configured again, they are adopted and the application grows.
        self.assertEqual(daemon.terminate(), 0, daemon.log_tail())
        daemon.config["pools"] = self.POOLS
        daemon.write_config()
        daemon.restart()
        self.wait_running(daemon, app, 3)
        self.assertEqual(ids_in(daemon.executors(app, ["RUNNING"])), ids_in(running) + [3])
        self.assertFalse(any(c.startswith("NO_USABLE_POOL") for c in daemon.app(app).get("conditions", [])))


if __name__ == "__main__":
    unittest.main()
