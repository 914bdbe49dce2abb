"""What an operator reads: berthd's log at info telling a tour's story (target changes, launches,
kills, adoption after a restart), and berthctl's errors, hints and watch counts."""

import os
import re
import signal
import socket
import subprocess
import unittest

from berth_harness import BERTHCTL, BerthTestCase, ids_in, read_text


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LogStoryTest(BerthTestCase):

    def test_a_tours_log_at_info_has_target_changes_launches_kills_and_adoption(self):
        daemon = self.new_daemon()
        app = self.app_id("story")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 3)
        self.wait_running(daemon, app, 3)
        self.wait_until(lambda: re.search(r"info +app %s: target 0 -> 3, launching 3 on pool local "
                                          r"\(executors 1-3\)" % app, daemon.log_text()),
                        10, "the target change and its launches in one line")
        self.wait_until(lambda: re.search(r"app %s: .*3 running on pool local \(executors 1-3\)" % app,
                                          daemon.log_text()), 10, "the executors running")

        daemon.ctl_ok("kill", app, 2)
        self.wait_until(lambda: re.search(r"info +app %s: target 3 -> 2, killed 1 on pool local "
                                          r"\(killed_by_driver: executors 2\)" % app, daemon.log_text()),
                        10, "the kill and the target it lowered")

        self.assertEqual(daemon.terminate(), 0)
        daemon.restart()
        self.wait_until(lambda: re.search(r"info +pool local: synced; adopted 2 executors still running: "
                                          r"app %s executors 1, 3" % app, daemon.log_text()),
                        10, "the executors adopted after the restart")
        daemon.ctl_ok("target", app, 3)
        self.wait_until(lambda: re.search(r"app %s: target 2 -> 3, launching 1 on pool local \(executors 4\)"
                                          % app, daemon.log_text()),
                        10, "a target change after the restart, told from the restored target")

        # Per-executor detail is for debug, and ids are not repeated through backend object names.
        log = daemon.log_text()
        self.assertNotRegex(log, r"executor \d+ on pool local: (RUNNING|LAUNCHING)", "per-executor lines at info")
        for line in log.splitlines():
            if app in line:
                self.assertNotIn("%s-exec-" % app, line)


class PoolHealthTest(BerthTestCase):

    def test_an_outage_is_one_line_when_it_starts_one_when_it_ends_and_its_error_is_cleared(self):
        sim = self.new_kubernetes_sim({"nodes": [{"name": "node-a", "cpu": "8", "memory": "32Gi"}]})
        kubeconfig = sim.write_kubeconfig(os.path.join(self.tmp, "kubeconfig"), "spark")
        daemon = self.new_daemon(pools=[{"name": "k8s", "type": "kubernetes",
                                         "kubernetes": {"kubeconfig": kubeconfig, "namespace": "spark"}}])
        pool = lambda: next(p for p in daemon.ctl_ok("pools")["pools"] if p["name"] == "k8s")
        self.wait_until(lambda: pool().get("healthy"), 10, "pool k8s healthy")

        # The simulator stops listening (connections refused) for 4 s: several failed lists.
        sim.faults(down_for_ms=4000)
        self.wait_until(lambda: re.search(r"warning +pool k8s: unhealthy: .+; the pool is frozen", daemon.log_text()),
                        10, "the pool turning unhealthy, logged")
        self.assertTrue(pool().get("lastError"))
        self.wait_until(lambda: re.search(r"info +pool k8s: healthy again after \d+ s", daemon.log_text()),
                        20, "the pool's recovery, logged")
        self.wait_until(lambda: pool().get("healthy") and not pool().get("lastError"), 10,
                        "pool k8s healthy with its last error cleared")
        log = daemon.log_text()
        self.assertEqual(len(re.findall(r"pool k8s: unhealthy", log)), 1, log)
        self.assertEqual(len(re.findall(r"pool k8s: healthy again", log)), 1, log)


class CliTest(BerthTestCase):

    def ctl(self, *args, env=None):
        return subprocess.run([BERTHCTL] + [str(a) for a in args], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=30, env=env)

    def test_usage_errors_say_what_is_wrong_in_words(self):
        for args, message in ((["app", "register", "x", "--cores", "0"], "berthctl: --cores must be at least 1, got 0"),
                              (["target", "x", "-1"], "berthctl: the target (N) must be at least 0, got -1"),
                              (["kill", "x", "y"], "berthctl: executor ids must be a whole number, got 'y'"),
                              (["frobnicate"], "berthctl: unknown command 'frobnicate'; the commands are: health, "
                                               "status, pools, apps, drain, app, target, executors, kill, "
                                               "decommission, watch")):
            result = self.ctl(*args)
            self.assertEqual(result.returncode, 2, result)
            self.assertEqual(result.stderr.splitlines()[0], message)
            self.assertNotIn("179769313486231570", result.stderr)

    def test_a_daemon_that_is_not_there_gets_a_hint(self):
        address = "127.0.0.1:%d" % free_port()
        result = self.ctl("--addr", address, "--timeout", "5", "status")
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("UNAVAILABLE", result.stderr)
        self.assertIn("could not connect to berthd at %s (from --addr): is berthd running" % address, result.stderr)
        env = dict(os.environ, BERTH_ADDR=address)
        result = self.ctl("--timeout", "5", "pools", env=env)
        self.assertIn("at %s (from BERTH_ADDR)" % address, result.stderr)

    def test_no_command_on_a_local_pool_without_spark_is_refused_at_registration(self):
        no_spark = os.path.join(self.tmp, "no-spark")
        os.mkdir(no_spark)
        daemon = self.new_daemon(pools=[{"name": "local", "type": "local",
                                         "local": {"poll_interval": "100ms", "spark_home": no_spark}}])
        app = self.app_id("nocmd")
        result = daemon.ctl("app", "register", app, "--pool", "local")
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("INVALID_ARGUMENT: pools[0]: pool local: launch.command: empty", result.stderr)
        self.assertIn(no_spark + "/bin/spark-class", result.stderr)
        self.assertNotEqual(daemon.ctl("app", "get", app).returncode, 0, "nothing registered")

    def test_the_executors_table_shows_why_a_launch_failed(self):
        if os.geteuid() != 0:
            self.skipTest("a launch is refused here as root without allow_root; this test does not run as root")
        daemon = self.new_daemon(pools=[{"name": "local", "type": "local",
                                         "local": {"poll_interval": "100ms", "allow_root": False}}])
        app = self.app_id("refused")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 1)
        self.wait_until(lambda: daemon.executors(app, ["LAUNCH_FAILED"]), 20, "a refused launch")
        message = daemon.executors(app, ["LAUNCH_FAILED"])[0]["loss"]["message"]
        self.assertTrue(message)
        table = daemon.ctl("executors", app, "--state", "LAUNCH_FAILED", output="table").stdout
        self.assertIn("MESSAGE", table.splitlines()[0])
        row = next(line for line in table.splitlines() if "LAUNCH_FAILED" in line)
        self.assertIn("allow_root: true", message)
        self.assertTrue(row.endswith(" ".join(message.split())) or row.endswith(message), (row, message))
        # berthd's log: one warning, the id once.
        self.wait_until(lambda: re.search(r"warning +app %s: launch refused on pool local: .*allow_root: true.* "
                                          r"\(executor 1\)" % app, daemon.log_text()), 10, "the refusal logged")

    def test_watch_count_counts_live_events_and_replayed_applications_carry_their_counts(self):
        daemon = self.new_daemon()
        app = self.app_id("watch")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 2)
        self.wait_running(daemon, app, 2)

        out_path = os.path.join(self.tmp, "watch.out")
        with open(out_path, "w") as out:
            watch = subprocess.Popen([BERTHCTL, "--addr", daemon.grpc, "watch", app, "--count", "1"],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            self.wait_until(lambda: " SYNCED" in (read_text(out_path) or ""), 10, "the snapshot")
            self.assertIsNone(watch.poll(), "--count 1 must not be used up by the snapshot's lines")
            before = int(daemon.ctl_ok("executors", app)["revision"])
            daemon.ctl_ok("target", app, 3)
            self.assertEqual(watch.wait(timeout=10), 0)
        finally:
            if watch.poll() is None:
                watch.send_signal(signal.SIGKILL)
                watch.wait()
        lines = read_text(out_path).splitlines()
        self.assertRegex(lines[-1], r"^%d APPLICATION app=%s phase=ACTIVE target=3 running=2 pending=0$"
                         % (before + 1, app))
        self.assertEqual(sum(1 for line in lines if " SYNCED" in line), 1)

        # The same change replayed later: its counts are those of its revision, not zeros.
        replay = daemon.ctl("watch", app, "--from", before, "--count", 1, output="table")
        self.assertEqual(replay.returncode, 0, replay)
        self.assertEqual(replay.stdout.splitlines(), [lines[-1]])
        self.assertEqual(ids_in(daemon.executors(app)), [1, 2, 3])


if __name__ == "__main__":
    unittest.main()
