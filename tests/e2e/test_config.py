"""berthd's configuration: --check-config, refused starts, and SIGHUP reloads."""

import os
import re
import signal
import subprocess
import unittest

from berth_harness import BERTHD, BerthTestCase, render_yaml

VALID = """\
state_dir: {state}
listen: unix:{state}.sock
metrics_listen: ""
reconciler:
  launch_timeout: 30s
pools:
  - name: local
    type: local
    local: {{}}
"""


class CheckConfigTest(BerthTestCase):

    def check(self, text, name="berthd.yaml"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text.format(state=os.path.join(self.tmp, "state")))
        result = subprocess.run([BERTHD, "--check-config", path], capture_output=True, text=True, timeout=20)
        return path, result

    def assert_invalid(self, text, line, column, key_path, *fragments):
        path, result = self.check(text)
        self.assertEqual(result.returncode, 2, result)
        where = "%s:%d:%d: %s" % (path, line, column, key_path)
        self.assertIn(where, result.stderr, "expected %r in stderr" % where)
        for fragment in fragments:
            self.assertIn(fragment, result.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "state")), "a check creates nothing")

    def test_valid_config(self):
        path, result = self.check(VALID)
        self.assertEqual(result.returncode, 0, result)
        self.assertIn("%s: ok" % path, result.stdout)

    def test_listen_and_metrics_listen_may_both_ask_for_an_ephemeral_port(self):
        # Port 0 is a request for any free port: the two listeners still get different ones.
        text = VALID.replace('metrics_listen: ""', "metrics_listen: 127.0.0.1:0")
        path, result = self.check(text)
        self.assertEqual(result.returncode, 0, result)

    def test_unknown_key(self):
        text = VALID.replace("  launch_timeout: 30s\n", "  launch_timeout: 30s\n  launch_timout: 5s\n")
        self.assert_invalid(text, 6, 3, "reconciler.launch_timout", "unknown key")

    def test_unknown_top_level_key(self):
        self.assert_invalid(VALID + "listen_addr: 127.0.0.1:1\n", 10, 1, "listen_addr", "unknown key")

    def test_bad_duration(self):
        text = VALID.replace("launch_timeout: 30s", "launch_timeout: 30 parsecs")
        self.assert_invalid(text, 5, 19, "reconciler.launch_timeout")

    def test_duplicate_pool(self):
        text = VALID + "  - name: local\n    type: local\n"
        path, result = self.check(text)
        self.assertEqual(result.returncode, 2, result)
        self.assertRegex(result.stderr, re.escape(path) + r":10:\d+: pools\[1\]\.name: duplicate pool name")

    def test_non_loopback_listen_without_tls(self):
        text = VALID.replace("listen: unix:{state}.sock", "listen: 0.0.0.0:7433")
        self.assert_invalid(text, 2, 9, "listen", "not a loopback address", "tls", "tokens_file", "insecure")

    def test_unknown_adapter_key(self):
        text = VALID.replace("    local: {{}}\n", "    local:\n      work_dri: /tmp\n")
        path, result = self.check(text)
        self.assertEqual(result.returncode, 2, result)
        self.assertRegex(result.stderr, re.escape(path) + r":10:7: pools\[0\]\.local\.work_dri: unknown key")

    def test_yaml_syntax_error(self):
        path, result = self.check(VALID + "pools: [\n")
        self.assertEqual(result.returncode, 2, result)
        self.assertRegex(result.stderr, re.escape(path) + r":\d+:\d+: ")


class RefusedStartTest(BerthTestCase):

    def test_public_listen_without_tls_or_tokens_refuses_to_start(self):
        daemon = self.new_daemon(start=False, listen="0.0.0.0:0")
        code, output = daemon.run_to_exit()
        self.assertEqual(code, 2, output)
        self.assertIn("0.0.0.0:0 is not a loopback address", output)
        self.assertIn(daemon.config_path, output)
        self.assertFalse(os.path.exists(daemon.port_file))

    def test_public_listen_with_insecure_starts(self):
        daemon = self.new_daemon(start=False, listen="0.0.0.0:0", insecure=True)
        daemon.start()
        port = daemon.grpc.rsplit(":", 1)[1]
        self.assertTrue(daemon.grpc.startswith("0.0.0.0:"), daemon.grpc)
        daemon.grpc = "127.0.0.1:" + port
        self.assertEqual(daemon.ctl_ok("health"), {"status": "SERVING"})

    def test_missing_config_file(self):
        result = subprocess.run([BERTHD, "--check-config", os.path.join(self.tmp, "nope.yaml")],
                                capture_output=True, text=True, timeout=20)
        self.assertEqual(result.returncode, 2, result)
        self.assertIn("nope.yaml", result.stderr)


class ReloadTest(BerthTestCase):

    def reload(self, daemon, config, expected, timeout=10):
        """Writes `config`, sends SIGHUP and waits for `expected` in the log."""
        mark = len(daemon.log_text())
        daemon.write_config(config)
        daemon.signal(signal.SIGHUP)
        return self.wait_until(lambda: expected in daemon.log_text()[mark:] and daemon.log_text()[mark:],
                               timeout, "%r in berthd's log after SIGHUP" % expected)

    def test_sighup_applies_logging_level_and_reports_what_needs_a_restart(self):
        daemon = self.new_daemon(tenants=[{"name": "default", "limits": {"max_executors": 0}}])
        app = self.app_id("hup")
        self.register(daemon, app)
        # The same app id with another spec: ALREADY_EXISTS, logged only at debug.
        failed = daemon.ctl("app", "register", app, "--pool", "local", "--cores", "3", "--", "sleep", "1")
        self.assertIn("ALREADY_EXISTS", failed.stderr)
        self.assertNotIn("RegisterApplication failed", daemon.log_text(), "not logged at info")

        config = dict(daemon.config, logging={"level": "debug"})
        self.reload(daemon, config, "SIGHUP: logging.level: info -> debug")
        failed = daemon.ctl("app", "register", app, "--pool", "local", "--cores", "3", "--", "sleep", "1")
        self.assertIn("ALREADY_EXISTS", failed.stderr)
        self.wait_until(lambda: "RegisterApplication failed" in daemon.log_text(), 5,
                        "the debug line of a failed call, now that the level is debug")

        # A live tenant limit, and a key that needs a restart.
        config = dict(config, tenants=[{"name": "default", "limits": {"max_executors": 5}}],
                      listen="127.0.0.2:0")
        log = self.reload(daemon, config, "SIGHUP: tenants[default].limits.max_executors: 0 -> 5")
        self.assertIn("SIGHUP: listen: 127.0.0.1:0 -> 127.0.0.2:0 needs a restart; ignored", log)
        self.assertEqual(daemon.ctl_ok("health"), {"status": "SERVING"}, "still on the old address")

        # Only a restart-only change: nothing applied.
        config = dict(config, reconciler=dict(config["reconciler"], kill_grace="3s"))
        log = self.reload(daemon, config, "SIGHUP: nothing to change")
        self.assertIn("reconciler.kill_grace: 1s -> 3s needs a restart", log)

        # A broken file is refused and the daemon keeps running with what it had.
        mark = len(daemon.log_text())
        daemon.write_config(text=render_yaml(config) + "\nbogus_key: 1\n")
        daemon.signal(signal.SIGHUP)
        self.wait_until(lambda: "SIGHUP: config not reloaded" in daemon.log_text()[mark:], 10,
                        "the refused reload in the log")
        self.assertIn("bogus_key", daemon.log_text()[mark:])
        self.assertTrue(daemon.running())
        self.assertEqual(daemon.app(app)["phase"], "ACTIVE")


if __name__ == "__main__":
    unittest.main()
