"""Who may call berthd (issue 11): a unix socket 0660 without tokens, loopback TCP only by explicit
opt-in, no abstract socket or public metrics without protection; local executors never run as root
unless told, and can run as an unprivileged user."""

import os
import pwd
import signal
import socket
import stat
import subprocess

from berth_harness import BERTHD, BerthTestCase

TOKENLESS = """\
state_dir: {state}
listen: {listen}
metrics_listen: {metrics}
pools:
  - name: local
    type: local
    local: {{}}
"""


class UnixSocketTest(BerthTestCase):

    def socket_daemon(self, name="berthd", path=None):
        path = path or os.path.join(self.tmp, "berthd.sock")
        return self.new_daemon(start=False, name=name, listen="unix:" + path,
                               allow_unauthenticated_loopback=False), path

    def test_unix_socket_0660_answers_berthctl_refuses_a_second_daemon_and_is_removed_on_sigterm(self):
        daemon, path = self.socket_daemon()
        previous = os.umask(0)  # the socket's mode must not depend on berthd's umask
        try:
            daemon.start()
        finally:
            os.umask(previous)
        self.assertEqual(daemon.grpc, "unix:" + path)
        self.assertEqual(daemon.ctl_ok("health"), {"status": "SERVING"})
        info = os.lstat(path)
        self.assertTrue(stat.S_ISSOCK(info.st_mode))
        self.assertEqual(oct(stat.S_IMODE(info.st_mode)), oct(0o660))
        self.assertEqual(info.st_gid, os.getegid())
        self.assertNotIn("anyone on this host", daemon.log_text())

        # A second daemon on the same socket fails to start and leaves the first one serving.
        second, _ = self.socket_daemon(name="second", path=path)
        code, output = second.run_to_exit()
        self.assertEqual(code, 1, output)
        self.assertIn("listen unix:%s: the socket is in use" % path, output)
        self.assertEqual(daemon.ctl_ok("health"), {"status": "SERVING"})

        self.assertEqual(daemon.terminate(), 0)
        self.assertFalse(os.path.lexists(path), "the socket is removed at a clean exit")

    def test_a_stale_socket_left_by_a_dead_daemon_is_replaced(self):
        daemon, path = self.socket_daemon()
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)
        stale.close()  # the file stays, nobody answers: as after kill -9
        daemon.start()
        self.assertEqual(daemon.ctl_ok("health"), {"status": "SERVING"})

    def test_loopback_tcp_without_tokens_warns_that_anyone_on_the_host_can_call(self):
        daemon = self.new_daemon()  # the harness' config opts in to loopback TCP
        self.assertIn("without tokens_file: anyone on this host can call berthd", daemon.log_text())


class CheckConfigTest(BerthTestCase):

    def check(self, listen, metrics='""', extra=""):
        path = os.path.join(self.tmp, "berthd.yaml")
        with open(path, "w") as f:
            f.write(TOKENLESS.format(state=os.path.join(self.tmp, "state"), listen=listen,
                                     metrics=metrics) + extra)
        result = subprocess.run([BERTHD, "--check-config", path], capture_output=True, text=True, timeout=20)
        return path, result

    def assert_refused(self, result, where, *fragments):
        self.assertEqual(result.returncode, 2, result)
        self.assertIn(where, result.stderr)
        for fragment in fragments:
            self.assertIn(fragment, result.stderr)

    def test_tokenless_loopback_needs_the_opt_in(self):
        path, result = self.check("127.0.0.1:7433")
        self.assert_refused(result, "%s:2:9: listen: 127.0.0.1:7433 without tokens_file" % path,
                            "allow_unauthenticated_loopback: true", "unix:/path")
        path, result = self.check("127.0.0.1:7433", extra="allow_unauthenticated_loopback: true\n")
        self.assertEqual(result.returncode, 0, result)
        path, result = self.check("unix:" + os.path.join(self.tmp, "b.sock"))
        self.assertEqual(result.returncode, 0, result)

    def test_abstract_socket_needs_tokens(self):
        path, result = self.check("unix-abstract:berthd", extra="allow_unauthenticated_loopback: true\n")
        self.assert_refused(result, "%s:2:9: listen: unix-abstract:berthd is an abstract socket" % path,
                            "no permissions", "tokens_file")

    def test_public_metrics_need_insecure(self):
        path, result = self.check("unix:" + os.path.join(self.tmp, "b.sock"), metrics="0.0.0.0:7434")
        self.assert_refused(result, "%s:3:17: metrics_listen: 0.0.0.0:7434 is not a loopback address" % path,
                            "no TLS or authentication", "insecure: true")


class LocalUserTest(BerthTestCase):

    def test_as_root_without_allow_root_the_launch_is_refused_naming_the_setting(self):
        if os.geteuid() != 0:
            self.skipTest("berthd must run as root for this case; this test does not")
        daemon = self.new_daemon(pools=[{"name": "local", "type": "local",
                                         "local": {"poll_interval": "100ms", "allow_root": False}}])
        app = self.app_id("root")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 1)
        failed = self.wait_until(lambda: daemon.executors(app, ["LAUNCH_FAILED"]), 20, "a refused launch")
        message = failed[0]["loss"]["message"]
        self.assertIn("executors would run as root", message)
        self.assertIn("allow_root: true", message)
        self.assertEqual(self.live_executors(app), [], "nothing ran")

    def test_run_as_runs_the_executor_as_that_user_with_a_writable_work_directory(self):
        if os.geteuid() != 0:
            self.skipTest("switching users needs berthd to run as root; this test does not")
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user named nobody on this host")
        daemon = self.new_daemon(pools=[{"name": "local", "type": "local",
                                         "local": {"poll_interval": "100ms", "allow_root": False,
                                                   "run_as": "nobody"}}])
        app = self.app_id("nobody")
        self.register(daemon, app, command=["sh", "-c", "id -u > uid; echo written > out; exec sleep 3600"])
        daemon.ctl_ok("target", app, 1)
        running = self.wait_until(lambda: daemon.executors(app, ["RUNNING"]), 20, "a running executor")
        work = os.path.join(daemon.config["state_dir"], "local", "local", running[0]["backendName"], "work")
        uid_file = os.path.join(work, "uid")
        self.wait_until(lambda: os.path.exists(os.path.join(work, "out")), 20, "the executor's files")
        with open(uid_file) as f:
            self.assertEqual(f.read().strip(), str(nobody.pw_uid))
        self.assertEqual(os.stat(os.path.join(work, "out")).st_uid, nobody.pw_uid)
        executors = self.wait_until(lambda: self.live_executors(app), 20, "the executor process")
        self.assertEqual({os.stat("/proc/%d" % p["pid"]).st_uid for p in executors}, {nobody.pw_uid})
        self.assertEqual({os.stat("/proc/%d" % p["pid"]).st_uid for p in self.live_shims(app)}, {0},
                         "the shim stays berthd's user, to write the executor's records")
        daemon.ctl_ok("kill", app, 1)
        self.wait_until(lambda: not self.live_executors(app), 20, "the executor killed")
