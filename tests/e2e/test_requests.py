"""Bad requests get the right gRPC code naming the field, and leave the daemon healthy."""

import unittest

from berth_harness import MARKER_VAR, BerthTestCase


class BadRequestTest(BerthTestCase):

    def setUp(self):
        super().setUp()
        self.daemon = self.new_daemon()

    def register_args(self, app, *options):
        return ("app", "register", app, "--pool", "local", "--env", "%s=%s" % (MARKER_VAR, self.marker)) + \
            tuple(str(o) for o in options) + ("--", "sleep", "3600")

    def assert_fails(self, result, code, *fragments):
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("berthctl: %s: " % code, result.stderr, result)
        for fragment in fragments:
            self.assertIn(fragment, result.stderr, result)
        self.assertEqual(result.stdout, "", result)

    def tearDown(self):
        # Whatever was sent, the daemon is still serving.
        health = self.daemon.ctl("health", output="table")
        self.assertEqual((health.returncode, health.stdout), (0, "SERVING\n"), health)

    def test_invalid_profile_is_invalid_argument_naming_the_field(self):
        self.assert_fails(self.daemon.ctl(*self.register_args(self.app_id("cores"), "--cores", 5000)),
                          "INVALID_ARGUMENT", "profiles[0].cores", "5000")
        self.assert_fails(self.daemon.ctl(*self.register_args(self.app_id("heap"), "--memory", 1 << 40)),
                          "INVALID_ARGUMENT", "profiles[0].heap_mib")

    def test_zero_cores_is_refused_before_the_call(self):
        # berthctl checks --cores itself: a usage error (exit 2), nothing sent.
        result = self.daemon.ctl(*self.register_args(self.app_id("zero"), "--cores", 0))
        self.assertEqual(result.returncode, 2, result)
        self.assertIn("--cores", result.stderr)

    def test_bad_app_id_names_app_id(self):
        for bad in ("Upper-Case", "under_score", "trailing-", "x" * 49):
            self.assert_fails(self.daemon.ctl(*self.register_args(bad)), "INVALID_ARGUMENT", "app_id")
        self.assert_fails(self.daemon.ctl("app", "get", "Upper"), "INVALID_ARGUMENT", "app_id")
        self.assert_fails(self.daemon.ctl("target", "Upper", 1), "INVALID_ARGUMENT", "app_id")

    def test_other_invalid_fields_are_named(self):
        app = self.app_id("fields")
        self.assert_fails(self.daemon.ctl(*self.register_args(app, "--env", "1BAD=x")),
                          "INVALID_ARGUMENT", 'launch.env["1BAD"]')
        self.assert_fails(self.daemon.ctl(*self.register_args(app, "--label", "k=bad value")),
                          "INVALID_ARGUMENT", 'launch.labels["k"]')
        self.assert_fails(self.daemon.ctl(*self.register_args(app, "--lease-ttl", 10 ** 7)),
                          "INVALID_ARGUMENT", "lease_ttl_seconds")
        result = self.daemon.ctl("app", "register", app, "--pool", "nowhere", "--", "sleep", "1")
        self.assert_fails(result, "INVALID_ARGUMENT", "pools[0]", "nowhere")
        self.assert_fails(self.daemon.ctl("app", "get", app), "NOT_FOUND", app)  # nothing was registered
        self.register(self.daemon, app)
        self.assert_fails(self.daemon.ctl("target", app, 1, "--profile", 7), "INVALID_ARGUMENT", "totals[7]")

    def test_unknown_application_is_not_found(self):
        ghost = self.app_id("ghost")
        for args in (("target", ghost, 1), ("app", "get", ghost), ("executors", ghost),
                     ("kill", ghost, 1), ("app", "unregister", ghost), ("app", "keepalive", ghost)):
            self.assert_fails(self.daemon.ctl(*args), "NOT_FOUND", ghost)
        self.assert_fails(self.daemon.ctl("watch", ghost, "--count", 1), "NOT_FOUND", ghost)

    def test_register_is_idempotent_on_the_same_spec_only(self):
        app = self.app_id("idem")
        first = self.daemon.ctl_ok(*self.register_args(app, "--cores", 2))
        again = self.daemon.ctl_ok(*self.register_args(app, "--cores", 2))
        for key in ("appId", "tenant", "pools", "profiles", "launch", "phase", "nextExecutorId"):
            self.assertEqual(first.get(key), again.get(key), key)
        self.assert_fails(self.daemon.ctl(*self.register_args(app, "--cores", 3)),
                          "ALREADY_EXISTS", app, "different spec")
        self.assertEqual(self.daemon.app(app)["profiles"][0]["cores"], 2, "the first spec stands")

        # An ended application's id is not reused.
        self.daemon.ctl_ok("app", "unregister", app, "--reason", "done")
        self.assertEqual(self.daemon.app(app)["phase"], "ENDED")
        self.assert_fails(self.daemon.ctl(*self.register_args(app, "--cores", 2)), "ALREADY_EXISTS", "ended")
        self.assert_fails(self.daemon.ctl("target", app, 1), "FAILED_PRECONDITION", "ended")

    def test_usage_errors_exit_two(self):
        for args in (("target",), ("kill", "app"), ("kill", "app", "0"), ("nonsense",),
                     ("executors", "app", "--state", "SLEEPING")):
            result = self.daemon.ctl(*args)
            self.assertEqual(result.returncode, 2, result)


if __name__ == "__main__":
    unittest.main()
