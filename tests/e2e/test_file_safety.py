"""What berthd creates is private whatever its umask; what it reads must be a regular file within a
cap (issue 11: a world-readable state database and executor files under umask 022; a tokens_file
at /dev/zero read until memory ran out; pod_template_file: /dev/urandom aborting with bad_alloc)."""

import os
import stat
import subprocess
import unittest

from berth_harness import BERTHD, BerthTestCase, Daemon, base_config


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class CreatedModesTest(BerthTestCase):

    def test_state_dir_database_lock_and_executor_files_are_private_under_umask_022(self):
        state_dir = os.path.join(self.tmp, "var", "lib", "berth")
        previous = os.umask(0o022)  # berthd inherits it
        try:
            daemon = Daemon(self.tmp, base_config(state_dir))
            self.daemons.append(daemon)
            daemon.start()
        finally:
            os.umask(previous)
        app = self.app_id("modes")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 1)
        running = self.wait_running(daemon, app, 1)
        executor_dir = os.path.join(state_dir, "local", "local", running[0]["backendName"])
        pid_file = os.path.join(executor_dir, "pid")
        self.wait_until(lambda: os.path.exists(pid_file), 10, pid_file)

        expected = {
            os.path.join(self.tmp, "var"): 0o700,
            os.path.join(self.tmp, "var", "lib"): 0o700,
            state_dir: 0o700,
            os.path.join(state_dir, "berth.db"): 0o600,
            os.path.join(state_dir, "berth.db-wal"): 0o600,  # open while berthd runs
            os.path.join(state_dir, "berth.db-shm"): 0o600,
            os.path.join(state_dir, "berthd.lock"): 0o600,
            os.path.join(state_dir, "local"): 0o700,
            os.path.join(state_dir, "local", "local"): 0o700,
            executor_dir: 0o700,
            os.path.join(executor_dir, "executor.json"): 0o600,
            os.path.join(executor_dir, "executor.log"): 0o600,
            pid_file: 0o600,
        }
        self.assertEqual({path: oct(mode_of(path)) for path in expected},
                         {path: oct(mode) for path, mode in expected.items()})

        # The files written when it ends: the stop marker (berthd), the exit record (the shim).
        daemon.ctl_ok("kill", app, 1)
        exit_file = os.path.join(executor_dir, "exit")
        self.wait_until(lambda: os.path.exists(exit_file), 15, exit_file)
        self.assertEqual(oct(mode_of(exit_file)), oct(0o600))
        self.assertEqual(oct(mode_of(os.path.join(executor_dir, "stop"))), oct(0o600))


VALID = """\
state_dir: {state}
listen: unix:{state}.sock
metrics_listen: ""
pools:
  - name: local
    type: local
    local: {{}}
"""


class FilesReadTest(BerthTestCase):

    def check(self, text):
        path = os.path.join(self.tmp, "berthd.yaml")
        with open(path, "w") as f:
            f.write(text.format(state=os.path.join(self.tmp, "state"), tmp=self.tmp))
        # A timeout well below the test's: an endless read or a blocked open fails here, not by hanging.
        result = subprocess.run([BERTHD, "--check-config", path], capture_output=True, text=True, timeout=20)
        self.assertEqual(result.returncode, 2, result)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "state")), "a check creates nothing")
        return path, result.stderr

    def test_tokens_file_at_dev_zero_is_a_config_error_naming_the_file(self):
        path, stderr = self.check(VALID + "tokens_file: /dev/zero\n")
        self.assertIn("%s:8:14: tokens_file: cannot read /dev/zero: not a regular file (a character device)"
                      % path, stderr)

    def test_a_tls_file_that_is_a_fifo_is_refused_without_waiting_for_a_writer(self):
        fifo = os.path.join(self.tmp, "cert.pem")
        os.mkfifo(fifo)
        path, stderr = self.check(VALID + "tls: {{cert_file: %s, key_file: %s}}\n" % (fifo, fifo))
        self.assertIn("%s:8:18: tls.cert_file: cannot read %s: not a regular file (a FIFO)" % (path, fifo), stderr)

    def test_a_tokens_file_over_1_mib_is_refused_naming_the_cap(self):
        tokens = os.path.join(self.tmp, "tokens.yaml")
        with open(tokens, "w") as f:
            f.write("tokens:\n" + "#" * (1024 * 1024))
        path, stderr = self.check(VALID + "tokens_file: %s\n" % tokens)
        self.assertIn("%s:8:14: tokens_file: cannot read %s: larger than 1 MiB" % (path, tokens), stderr)

    def test_pod_template_file_at_dev_urandom_is_a_config_error_not_a_crash(self):
        kubeconfig = os.path.join(self.tmp, "kubeconfig")
        with open(kubeconfig, "w") as f:
            f.write("current-context: c\n"
                    "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:6443'}}]\n"
                    "contexts: [{name: c, context: {cluster: k}}]\n")
        text = VALID.replace("    type: local\n    local: {{}}\n",
                             "    type: kubernetes\n"
                             "    kubernetes:\n"
                             "      kubeconfig: {tmp}/kubeconfig\n"
                             "      pod_template_file: /dev/urandom\n")
        path, stderr = self.check(text)
        self.assertIn("%s:9:26: pools[0].kubernetes.pod_template_file: cannot read pod template /dev/urandom: "
                      "not a regular file (a character device)" % path, stderr)
        self.assertNotIn("bad_alloc", stderr)


if __name__ == "__main__":
    unittest.main()
