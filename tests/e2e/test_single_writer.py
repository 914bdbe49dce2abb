"""One writer per state, always: a second berthd on the same state directory or on a taken port
refuses to start and leaves the first one alone; the daemon id is durable from the first start;
a lock left by a daemon killed with SIGKILL does not block the next start."""

import os
import signal
import subprocess
import unittest

from berth_harness import BERTHD, BerthTestCase, Daemon, base_config, executor_id, ids_in, read_text

LOCK_FILE = "berthd.lock"


class SingleWriterTestCase(BerthTestCase):

    def state_dir(self, daemon):
        return daemon.config["state_dir"]

    def second_daemon(self, state_dir, name="second", **overrides):
        """A berthd beside the first one, with its own config, log and port files."""
        daemon = Daemon(self.tmp, base_config(state_dir, **overrides), name=name)
        self.daemons.append(daemon)
        return daemon

    def daemon_id(self, daemon):
        return daemon.ctl_ok("status")["daemonId"]


class SameStateDirTest(SingleWriterTestCase):

    def test_second_daemon_on_the_same_state_dir_exits_naming_it_and_the_first_keeps_issuing_ids(self):
        first = self.new_daemon()
        app = self.app_id("single")
        self.register(first, app)
        first.ctl_ok("target", app, 3)
        self.assertEqual(ids_in(self.wait_running(first, app, 3)), [1, 2, 3])
        state_dir = self.state_dir(first)
        lock_path = os.path.join(state_dir, LOCK_FILE)
        self.assertEqual(read_text(lock_path), "%d\n" % first.process.pid)

        second = self.second_daemon(state_dir)
        code, output = second.run_to_exit()
        self.assertNotEqual(code, 0, output)
        self.assertIn("state_dir %s is in use by another berthd (pid %d" % (state_dir, first.process.pid), output)
        self.assertFalse(os.path.exists(second.port_file), "the refused daemon never served")
        self.assertEqual(read_text(lock_path), "%d\n" % first.process.pid, "the holder's pid stays")

        # --check-config does not take the lock: it validates while the daemon runs.
        check = subprocess.run([BERTHD, "--check-config", second.config_path],
                               capture_output=True, text=True, timeout=20)
        self.assertEqual(check.returncode, 0, check)

        # The first daemon keeps serving, and its ids continue after the highest ever issued.
        self.assertTrue(first.running())
        first.ctl_ok("kill", app, 2, "--no-adjust-target")
        first.ctl_ok("target", app, 5)
        running = self.wait_running(first, app, 5)
        self.assertEqual(ids_in(running), [1, 3, 4, 5, 6])
        everything = ids_in(first.executors(app))
        self.assertEqual(everything, [1, 2, 3, 4, 5, 6], "an id issued twice or skipped")
        self.assert_running_match_processes(first, app, running)


class TakenPortTest(SingleWriterTestCase):

    def test_second_daemon_on_the_same_grpc_port_fails_to_start_naming_the_address(self):
        first = self.new_daemon()
        before = self.daemon_id(first)
        second = self.second_daemon(os.path.join(self.tmp, "second-state"), listen=first.grpc)
        code, output = second.run_to_exit()
        self.assertNotEqual(code, 0, output)
        self.assertIn("listen %s: the address is in use" % first.grpc, output)
        self.assertFalse(os.path.exists(second.port_file), "the refused daemon never served")
        # Every connection to the port still reaches the first daemon.
        for _ in range(5):
            self.assertEqual(self.daemon_id(first), before)

    def test_second_daemon_on_the_same_metrics_port_fails_to_start_naming_the_address(self):
        first = self.new_daemon()
        second = self.second_daemon(os.path.join(self.tmp, "second-state"), metrics_listen=first.metrics)
        code, output = second.run_to_exit()
        self.assertNotEqual(code, 0, output)
        self.assertIn("metrics_listen %s" % first.metrics, output)
        self.assertFalse(os.path.exists(second.port_file), "the refused daemon never served")
        self.assertEqual(first.ctl_ok("health"), {"status": "SERVING"})


class DaemonIdTest(SingleWriterTestCase):

    def test_daemon_id_is_the_same_across_starts_with_nothing_else_saved(self):
        daemon = self.new_daemon()
        first_id = self.daemon_id(daemon)
        # SIGKILL: nothing is flushed at exit; the id must already be durable.
        daemon.kill9()
        daemon.start()
        self.assertEqual(self.daemon_id(daemon), first_id)
        self.assertIn("daemon id %s" % first_id, daemon.log_text())

    def test_configured_daemon_id_that_differs_from_the_stored_one_refuses_to_start(self):
        daemon = self.new_daemon()
        stored = self.daemon_id(daemon)
        daemon.kill9()
        daemon.write_config(dict(daemon.config, daemon_id="dother"))
        code, output = daemon.run_to_exit()
        self.assertEqual(code, 2, output)
        self.assertIn("daemon_id dother in the config differs from %s in the state store" % stored, output)
        # The refused start released the lock: the daemon starts again with the stored id.
        daemon.write_config(dict(daemon.config, daemon_id=stored))
        daemon.start()
        self.assertEqual(self.daemon_id(daemon), stored)


class StaleLockTest(SingleWriterTestCase):

    def test_a_daemon_starts_after_kill_9_of_the_previous_one_on_the_same_state_dir(self):
        # Executors outlive the daemon and must not keep its lock (startup_test checks that the
        # descriptor is close-on-exec; the local backend also closes the daemon's descriptors).
        daemon = self.new_daemon()
        app = self.app_id("stale")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 2)
        before = {executor_id(e): e["backendName"] for e in self.wait_running(daemon, app, 2)}
        old_pid = daemon.process.pid
        daemon.kill9()
        lock_path = os.path.join(self.state_dir(daemon), LOCK_FILE)
        self.assertEqual(read_text(lock_path), "%d\n" % old_pid, "the file stays behind")
        self.assertEqual(len(self.live_executors(app)), 2)

        daemon.start()
        self.assertEqual(read_text(lock_path), "%d\n" % daemon.process.pid)
        running = self.wait_running(daemon, app, 2)
        self.assertEqual({executor_id(e): e["backendName"] for e in running}, before, "adopted")

        # And that daemon's lock is real: a further one is refused.
        second = self.second_daemon(self.state_dir(daemon))
        code, output = second.run_to_exit()
        self.assertNotEqual(code, 0, output)
        self.assertIn("pid %d" % daemon.process.pid, output)

    def test_sigterm_releases_the_lock_for_the_next_start(self):
        daemon = self.new_daemon()
        self.assertEqual(daemon.terminate(), 0, daemon.log_tail())
        daemon.start()
        self.assertEqual(daemon.ctl_ok("health"), {"status": "SERVING"})
        daemon.signal(signal.SIGTERM)
        self.assertEqual(daemon.process.wait(timeout=20), 0)


if __name__ == "__main__":
    unittest.main()
