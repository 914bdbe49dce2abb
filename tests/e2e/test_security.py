"""TLS, mutual TLS, bearer tokens and tenant isolation, through berthctl."""

import os
import select
import signal
import shutil
import subprocess
import tempfile
import unittest

from berth_harness import (BERTHCTL, FAST_RECONCILER, BerthTestCase, make_certificates, render_yaml,
                           write_token_files)

TOKENS = {
    "team-a": "a" * 8 + "-team-a-driver-token-0001",
    "team-b": "b" * 8 + "-team-b-driver-token-0002",
    "operator": "o" * 8 + "-operator-token-000000003",
    "unknown": "u" * 8 + "-nobody-knows-this-token-4",
}


class SecuredDaemonCase(BerthTestCase):
    MUTUAL_TLS = False

    @classmethod
    def setUpClass(cls):
        cls.certs = tempfile.mkdtemp(prefix="berth-e2e-certs-")
        make_certificates(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.certs, ignore_errors=True)

    def cert(self, name):
        return os.path.join(self.certs, name)

    def setUp(self):
        super().setUp()
        self.token_files = write_token_files(self.tmp, TOKENS)
        tokens_path = os.path.join(self.tmp, "tokens.yaml")
        with open(tokens_path, "w") as f:
            f.write(render_yaml({"tokens": [
                {"token": TOKENS["team-a"], "tenant": "team-a", "role": "driver"},
                {"token": TOKENS["team-b"], "tenant": "team-b", "role": "driver"},
                {"token_file": self.token_files["operator"], "tenant": "ops", "role": "operator"},
            ]}) + "\n")
        tls = {"cert_file": self.cert("server.pem"), "key_file": self.cert("server.key")}
        if self.MUTUAL_TLS:
            tls["client_ca_file"] = self.cert("ca.pem")
        self.tokens_path = tokens_path
        self.daemon = self.new_daemon(
            tls=tls, tokens_file=tokens_path,
            tenants=self.tenants(), **self.daemon_overrides())

    def tenants(self):
        return [{"name": "team-a", "default_pools": ["local"]},
                {"name": "team-b", "default_pools": ["local"]}]

    def daemon_overrides(self):
        return {}

    def open_watch(self, who, *args):
        """A `berthctl watch` as `who` left running; returns once its first event arrived."""
        argv = ([BERTHCTL, "--addr", self.daemon.grpc, "-o", "json"] + self.tls_options() +
                ["--token-file", self.token_files[who], "watch"] + [str(a) for a in args])
        watch = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)

        def cleanup():
            if watch.poll() is None:
                watch.kill()
            watch.communicate(timeout=20)
        self.addCleanup(cleanup)
        ready, _, _ = select.select([watch.stdout], [], [], 20)
        self.assertTrue(ready and watch.stdout.readline(), "the watch started")
        return watch

    def tls_options(self, client_cert=True):
        options = ["--ca-file", self.cert("ca.pem")]
        if self.MUTUAL_TLS and client_cert:
            options += ["--cert-file", self.cert("client.pem"), "--key-file", self.cert("client.key")]
        return options

    def as_(self, who, *args, tls=None):
        """berthctl as `who` (a key of TOKENS, or None for no token) over TLS."""
        extra = list(self.tls_options() if tls is None else tls)
        if who is not None:
            extra += ["--token-file", self.token_files[who]]
        return self.daemon.ctl(*[str(a) for a in args], extra=extra)

    def assert_fails(self, result, code, *fragments):
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("berthctl: %s:" % code, result.stderr, result)
        for fragment in fragments:
            self.assertIn(fragment, result.stderr, result)

    def assert_ok(self, result):
        self.assertEqual(result.returncode, 0, result)
        return result.json()

    def register_as(self, who, app, *options):
        return self.as_(who, "app", "register", app, "--pool", "local",
                        "--env", "BERTH_E2E_MARKER=" + self.marker, *options, "--", "sleep", "3600")


class TlsTokensTenantsTest(SecuredDaemonCase):

    def test_tokens_are_required(self):
        self.assert_fails(self.as_(None, "app", "get", "anything"), "UNAUTHENTICATED")
        self.assert_fails(self.as_("unknown", "app", "get", "anything"), "UNAUTHENTICATED", "unknown token")
        self.assert_fails(self.as_(None, "status"), "UNAUTHENTICATED")
        # The health service answers without a token, as load balancers expect.
        health = self.as_(None, "health")
        self.assertEqual(health.returncode, 0, health)
        self.assertEqual(health.json(), {"status": "SERVING"})

    def test_plaintext_and_untrusted_clients_cannot_connect(self):
        plaintext = self.as_("team-a", "app", "get", "anything", tls=[])
        self.assert_fails(plaintext, "UNAVAILABLE")
        untrusted = self.as_("team-a", "app", "get", "anything", tls=["--ca-file", self.cert("other-ca.pem")])
        self.assert_fails(untrusted, "UNAVAILABLE")

    def test_tenants_see_and_touch_only_their_own_applications(self):
        app_a = self.app_id("alpha")
        registered = self.assert_ok(self.register_as("team-a", app_a))
        self.assertEqual(registered["tenant"], "team-a")
        self.assert_ok(self.as_("team-a", "target", app_a, 1))
        self.wait_until(lambda: len(self.live_executors(app_a)) == 1, 20, "team-a's executor runs")

        # team-b: another tenant's application looks exactly like a missing one.
        for args in (("app", "get", app_a), ("executors", app_a), ("kill", app_a, 1),
                     ("target", app_a, 5), ("app", "keepalive", app_a), ("app", "unregister", app_a),
                     ("decommission", app_a, 1)):
            self.assert_fails(self.as_("team-b", *args), "NOT_FOUND", app_a)
        self.assert_fails(self.as_("team-b", "watch", app_a, "--count", 1), "NOT_FOUND")
        self.assert_fails(self.register_as("team-b", self.app_id("intruder"), "--tenant", "team-a"),
                          "PERMISSION_DENIED", "team-a")

        # Driver tokens may not use the Admin service.
        for args in (("pools",), ("status",), ("apps",), ("drain", "local")):
            self.assert_fails(self.as_("team-a", *args), "PERMISSION_DENIED", "operator")

        # team-b's own application, under the same kind of name.
        app_b = self.app_id("beta")
        self.assertEqual(self.assert_ok(self.register_as("team-b", app_b))["tenant"], "team-b")
        self.assert_fails(self.as_("team-a", "app", "get", app_b), "NOT_FOUND")

        # Nothing of team-a's was touched by team-b's attempts.
        got = self.assert_ok(self.as_("team-a", "app", "get", app_a))
        self.assertEqual(got["phase"], "ACTIVE")
        self.assertEqual(got["profileStatus"][0]["target"], 1)
        self.assertEqual(len(self.live_executors(app_a)), 1)
        executors = self.assert_ok(self.as_("team-a", "executors", app_a))["executors"]
        self.assertEqual([e["state"] for e in executors], ["RUNNING"])

        # The operator sees both tenants' applications, and the Admin service.
        apps = self.assert_ok(self.as_("operator", "apps"))["applications"]
        self.assertEqual(sorted((a["appId"], a["tenant"]) for a in apps),
                         sorted([(app_a, "team-a"), (app_b, "team-b")]))
        only_b = self.assert_ok(self.as_("operator", "apps", "--tenant", "team-b"))["applications"]
        self.assertEqual([a["appId"] for a in only_b], [app_b])
        self.assertEqual([p["name"] for p in self.assert_ok(self.as_("operator", "pools"))["pools"]], ["local"])
        self.assertIn("daemonId", self.assert_ok(self.as_("operator", "status")))

        # A tenant's watch without an app shows only its own applications.
        events = self.as_("team-b", "watch", "--until-synced")
        self.assertEqual(events.returncode, 0, events)
        for event in events.json_lines():
            app = event.get("application", event.get("executor", {})).get("appId")
            self.assertIn(app, (None, app_b), event)


class TenantScopedIdsTest(SecuredDaemonCase):
    """Application ids are scoped by tenant: two tenants run an application of one id side by
    side, and neither learns from RegisterApplication that the other's exists."""

    def test_two_tenants_run_applications_of_one_id_independently(self):
        app = self.app_id("shared")
        self.assertEqual(self.assert_ok(self.register_as("team-a", app))["tenant"], "team-a")
        self.assert_ok(self.as_("team-a", "target", app, 1))
        # team-b registers the same id: OK, its own application (it was ALREADY_EXISTS).
        registered = self.assert_ok(self.register_as("team-b", app))
        self.assertEqual((registered["appId"], registered["tenant"]), (app, "team-b"))
        self.assert_ok(self.as_("team-b", "target", app, 2))
        self.wait_until(lambda: len(self.live_executors(app)) == 3, 20, "both tenants' executors run")
        names = sorted(p["env"]["BERTH_BACKEND_NAME"] for p in self.live_executors(app))
        self.assertEqual(len(set(names)), 3, names)  # one backend object each, no collision
        # Spark sees the id the driver registered, whichever the tenant.
        for process in self.live_executors(app):
            self.assertEqual(process["env"]["SPARK_APPLICATION_ID"], app)

        # Each tenant sees and touches only its own application of that id.
        got_a = self.assert_ok(self.as_("team-a", "app", "get", app))
        got_b = self.assert_ok(self.as_("team-b", "app", "get", app))
        self.assertEqual((got_a["tenant"], got_a["profileStatus"][0]["target"]), ("team-a", 1))
        self.assertEqual((got_b["tenant"], got_b["profileStatus"][0]["target"]), ("team-b", 2))
        self.assert_ok(self.as_("team-b", "kill", app, 1))
        self.wait_until(lambda: len(self.live_executors(app)) == 2, 20, "team-b's executor 1 killed")
        executors_a = self.assert_ok(self.as_("team-a", "executors", app))["executors"]
        self.assertEqual([(e["executorId"], e["state"]) for e in executors_a], [("1", "RUNNING")])

        # The operator sees both, and names team-b's by its key "<tenant>.<id>".
        apps = self.assert_ok(self.as_("operator", "apps"))["applications"]
        self.assertEqual(sorted((a["appId"], a["tenant"]) for a in apps), [(app, "team-a"), (app, "team-b")])
        self.assertEqual(self.assert_ok(self.as_("operator", "app", "get", "team-b." + app))["tenant"], "team-b")
        # A driver cannot reach another tenant's application through its key either.
        self.assert_fails(self.as_("team-a", "app", "get", "team-b." + app), "NOT_FOUND")

        # Unregistering team-a's leaves team-b's running.
        self.assert_ok(self.as_("team-a", "app", "unregister", app))
        self.wait_until(lambda: len(self.live_executors(app)) == 1, 20, "team-a's executor stopped")
        self.assertEqual(self.assert_ok(self.as_("team-b", "app", "get", app))["phase"], "ACTIVE")


class SecretsAndRevocationTest(SecuredDaemonCase):
    """Secrets in launch env are never shown; a forgotten application's history never replays to
    another tenant that registers its id; a revoked token ends an open watch."""

    def daemon_overrides(self):
        return {"reconciler": dict(FAST_RECONCILER, ended_retention="1s")}

    def test_secret_env_is_redacted_and_history_stays_with_its_tenant(self):
        app = self.app_id("shared")
        registered = self.assert_ok(self.register_as("team-a", app, "--env", "DB_PASSWORD=hunter2",
                                                     "--env", "PLAIN=visible"))
        self.assertEqual(registered["launch"]["env"]["DB_PASSWORD"], "<redacted>")
        got = self.assert_ok(self.as_("team-a", "app", "get", app))
        self.assertEqual(got["launch"]["env"]["DB_PASSWORD"], "<redacted>")
        self.assertEqual(got["launch"]["env"]["PLAIN"], "visible")
        self.assert_ok(self.as_("team-a", "target", app, 1))
        self.wait_until(lambda: len(self.live_executors(app)) == 1, 20, "team-a's executor runs")
        # The executor itself still gets the value.
        self.assertEqual(self.live_executors(app)[0]["env"].get("DB_PASSWORD"), "hunter2")
        self.assert_ok(self.as_("team-a", "app", "unregister", app))
        self.wait_until(lambda: self.as_("team-a", "app", "get", app).returncode != 0, 20,
                        "team-a's ended application forgotten")

        # team-b takes the id and watches it from revision 1: only its own events come back.
        self.assertEqual(self.assert_ok(self.register_as("team-b", app))["tenant"], "team-b")
        watched = self.as_("team-b", "watch", app, "--from", 1, "--count", 1)
        self.assertEqual(watched.returncode, 0, watched)
        self.assertNotIn("hunter2", watched.stdout)
        first = watched.json_lines()[0]
        self.assertEqual(first.get("application", {}).get("tenant"), "team-b", first)

    def test_a_revoked_token_ends_an_open_watch(self):
        app = self.app_id("revoked")
        self.assert_ok(self.register_as("team-a", app))
        # The watch is open once its snapshot arrives; then team-a's token is removed.
        watch = self.open_watch("team-a", app)
        with open(self.tokens_path, "w") as f:
            f.write(render_yaml({"tokens": [
                {"token": "b" * 8 + "-team-b-driver-token-0002", "tenant": "team-b", "role": "driver"},
                {"token_file": self.token_files["operator"], "tenant": "ops", "role": "operator"},
            ]}) + "\n")
        self.daemon.signal(signal.SIGHUP)
        self.wait_until(lambda: watch.poll() is not None, 20, "the watch of a revoked token ends")
        _, stderr = watch.communicate(timeout=20)
        self.assertNotEqual(watch.returncode, 0)
        self.assertIn("UNAUTHENTICATED", stderr)
        self.assertIn("revoked", stderr)
        self.assert_fails(self.as_("team-a", "app", "get", app), "UNAUTHENTICATED")


class WatcherLimitTest(SecuredDaemonCase):
    """A tenant's max_watchers bounds the watches it holds open (each may buffer up to 16 MiB of
    unread events); other tenants are not affected, and a closed watch frees its place."""

    def tenants(self):
        return [{"name": "team-a", "default_pools": ["local"], "limits": {"max_watchers": 2}},
                {"name": "team-b", "default_pools": ["local"]}]

    def test_max_watchers_bounds_a_tenants_open_watches(self):
        app = self.app_id("watched")
        self.assert_ok(self.register_as("team-a", app))
        first = self.open_watch("team-a", app)
        self.open_watch("team-a")
        self.assert_fails(self.as_("team-a", "watch", app, "--count", 1), "RESOURCE_EXHAUSTED",
                          "team-a", "max_watchers")
        app_b = self.app_id("other")
        self.assert_ok(self.register_as("team-b", app_b))
        watched = self.as_("team-b", "watch", app_b, "--until-synced")
        self.assertEqual(watched.returncode, 0, watched)
        # Closing one watch frees its place (the daemon notices the stream end on its own time).
        first.kill()
        first.communicate(timeout=20)
        self.wait_until(lambda: self.as_("team-a", "watch", app, "--until-synced").returncode == 0, 20,
                        "a new watch of team-a once one closed")


class MutualTlsTest(SecuredDaemonCase):
    MUTUAL_TLS = True

    def test_client_certificate_is_required(self):
        without = self.as_("team-a", "app", "get", "anything", tls=self.tls_options(client_cert=False))
        self.assert_fails(without, "UNAVAILABLE")
        app = self.app_id("mtls")
        self.assertEqual(self.assert_ok(self.register_as("team-a", app))["tenant"], "team-a")
        self.assert_ok(self.as_("team-a", "app", "get", app))
        # A certificate does not replace the token.
        self.assert_fails(self.as_(None, "app", "get", app), "UNAUTHENTICATED")


if __name__ == "__main__":
    unittest.main()
