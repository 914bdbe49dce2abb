"""The status page and its JSON API on berthd's metrics_listen (issue 13): what it shows, in a
real browser (headless Chromium); bad requests answered 4xx; tokens as for the gRPC API; the
per-application metrics and the Grafana dashboard that queries them."""

import http.client
import json
import os
import re
import socket
import unittest
import urllib.error
import urllib.request

from berth_harness import MARKER_VAR, SOURCE_DIR, BerthTestCase, render_yaml, write_token_files
from browser import Browser

ARTIFACTS = os.environ.get("BERTH_ARTIFACTS_DIR", os.path.join(SOURCE_DIR, "build", "tests"))
DASHBOARD = os.path.join(SOURCE_DIR, "deploy", "grafana", "berth.json")
README = os.path.join(SOURCE_DIR, "README.md")

TOKENS = {
    "team-a": "a" * 8 + "-team-a-status-token-0001",
    "team-b": "b" * 8 + "-team-b-status-token-0002",
    "operator": "o" * 8 + "-operator-status-token-03",
}


def get(address, path, token=None, method="GET", headers=None):
    """(status, parsed JSON or text, headers) of one request; never raises on an HTTP status."""
    request = urllib.request.Request("http://%s%s" % (address, path), method=method)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw, got = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), error.headers
    text = raw.decode(errors="replace")
    if (got.get("Content-Type") or "").startswith("application/json"):
        return status, json.loads(text), got
    return status, text, got


def app_ids(status):
    return sorted(app["appId"] for app in status.get("applications", []))


class StatusPageCase(BerthTestCase):

    def two_pool_daemon(self, **overrides):
        pools = [{"name": "local", "type": "local", "local": {"poll_interval": "100ms"}},
                 {"name": "local-b", "type": "local", "local": {"poll_interval": "100ms"}}]
        return self.new_daemon(pools=pools, **overrides)

    def register_on(self, daemon, app, pool, extra=()):
        return daemon.ctl_ok("app", "register", app, "--pool", pool, "--env", "%s=%s" % (MARKER_VAR, self.marker),
                             "--", *self.EXECUTOR_COMMAND, extra=extra)


class StatusApiTest(StatusPageCase):

    def test_the_api_shows_pools_apps_executors_and_events_and_answers_bad_requests_with_4xx(self):
        daemon = self.two_pool_daemon()
        first, second = self.app_id("first"), self.app_id("second")
        self.register_on(daemon, first, "local")
        self.register_on(daemon, second, "local-b")
        daemon.ctl_ok("target", first, 2)
        daemon.ctl_ok("target", second, 1)
        self.wait_running(daemon, first, 2)
        self.wait_running(daemon, second, 1)

        status, body, headers = get(daemon.metrics, "/api/v1/status")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["Cache-Control"], "no-store")
        self.assertEqual(sorted(p["name"] for p in body["pools"]), ["local", "local-b"])
        self.assertTrue(all(p.get("healthy") and p.get("synced") for p in body["pools"]), body["pools"])
        self.assertEqual(app_ids(body), sorted([first, second]))
        self.assertTrue(body["caller"]["anonymous"])
        by_id = {a["appId"]: a for a in body["applications"]}
        self.assertEqual(by_id[first]["profileStatus"][0]["target"], 2)
        self.assertEqual(by_id[first]["profileStatus"][0]["counts"]["RUNNING"], 2)

        status, page, _ = get(daemon.metrics, "/api/v1/apps/%s" % first)
        self.assertEqual(status, 200, page)
        self.assertEqual(sorted(e["executorId"] for e in page["executors"]), ["1", "2"])
        self.assertTrue(all(e["state"] == "RUNNING" and e["pool"] == "local" for e in page["executors"]))
        launch = page["application"]["launch"]
        self.assertEqual(launch["command"] + launch.get("args", []), list(self.EXECUTOR_COMMAND))

        # Events: the newest page, then nothing new after its revision, then a kill.
        status, events, _ = get(daemon.metrics, "/api/v1/events?limit=5")
        self.assertEqual(status, 200, events)
        self.assertEqual(len(events["events"]), 5)
        revision = events["revision"]
        status, nothing, _ = get(daemon.metrics, "/api/v1/events?from=%s" % revision)
        self.assertEqual(nothing["events"], [])
        daemon.ctl_ok("kill", first, 1)
        killed = self.wait_until(
            lambda: [e for e in get(daemon.metrics, "/api/v1/events?from=%s&app=%s" % (revision, first))[1]["events"]
                     if e.get("executor", {}).get("state") == "KILLED"],
            20, "the KILLED event after revision %s" % revision)
        self.assertEqual(killed[0]["executor"]["loss"]["reason"], "killed_by_driver")

        # Bad input: a clear 4xx with a JSON error, and the daemon keeps serving.
        for path, code, fragment in [
                ("/api/v1/events?from=abc", 400, "from: expected an integer"),
                ("/api/v1/events?limit=0", 400, "limit: expected an integer from 1 to 1000"),
                ("/api/v1/events?from=1&colour=red", 400, "unknown query parameter"),
                ("/api/v1/apps/no-such-app", 404, "application no-such-app is not registered"),
                ("/api/v1/apps/", 404, "no such API path"),
                ("/api/v1/frobnicate", 404, "no such API path"),
                ("/api/v1/apps/%2e%2e%2fstatus", 404, "")]:
            status, body, _ = get(daemon.metrics, path)
            self.assertEqual(status, code, (path, body))
            self.assertIn(fragment, body["error"], path)
        # Without tokens, only requests to an address of this host: not to a name a web page
        # could rebind to 127.0.0.1.
        status, body, _ = get(daemon.metrics, "/api/v1/status", headers={"Host": "evil.example:80"})
        self.assertEqual(status, 403, body)
        self.assertIn("DNS rebinding", body["error"])
        self.assertEqual(get(daemon.metrics, "/api/v1/status", headers={"Host": "localhost"})[0], 200)
        status, body, headers = get(daemon.metrics, "/api/v1/status", method="POST")
        self.assertEqual((status, headers["Allow"]), (405, "GET"), body)
        status, body, _ = get(daemon.metrics, "/nothing-here")
        self.assertEqual(status, 404)
        status, _, _ = get(daemon.metrics, "/api/v1/status", headers={"X-Big": "x" * 70000})
        self.assertEqual(status, 431)
        # A body where none belongs, and a request that is not HTTP at all.
        host, port = daemon.metrics.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/api/v1/status", body=b"x" * 100)
        self.assertEqual(connection.getresponse().status, 413)
        connection.close()
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
            raw.recv(4096)
        self.assertEqual(get(daemon.metrics, "/api/v1/status")[0], 200)

    def test_the_page_and_its_files_are_served_with_a_strict_content_policy(self):
        daemon = self.new_daemon()
        status, html, headers = get(daemon.metrics, "/")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertIn("script-src 'self'", headers["Content-Security-Policy"])
        self.assertIn('<script src="status.js"', html)
        self.assertNotRegex(html, r"https?://", "no external asset")
        for path, kind in (("/status.js", "text/javascript"), ("/status.css", "text/css")):
            status, text, headers = get(daemon.metrics, path)
            self.assertEqual(status, 200, path)
            self.assertTrue(headers["Content-Type"].startswith(kind), headers["Content-Type"])
            self.assertNotRegex(text, r"https?://", "no external asset in %s" % path)
        self.assertEqual(get(daemon.metrics, "/metrics")[0], 200)


class StatusTokenTest(StatusPageCase):

    def setUp(self):
        super().setUp()
        tokens_path = os.path.join(self.tmp, "tokens.yaml")
        with open(tokens_path, "w") as f:
            f.write(render_yaml({"tokens": [
                {"token": TOKENS["team-a"], "tenant": "team-a", "role": "driver"},
                {"token": TOKENS["team-b"], "tenant": "team-b", "role": "driver"},
                {"token": TOKENS["operator"], "tenant": "ops", "role": "operator"},
            ]}) + "\n")
        self.token_files = write_token_files(self.tmp, TOKENS)
        self.daemon = self.new_daemon(
            allow_unauthenticated_loopback=False, tokens_file=tokens_path,
            tenants=[{"name": "team-a", "default_pools": ["local"]}, {"name": "team-b", "default_pools": ["local"]}])
        self.apps = {}
        for tenant in ("team-a", "team-b"):
            app = self.app_id(tenant)
            self.register_on(self.daemon, app, "local", extra=["--token-file", self.token_files[tenant]])
            self.apps[tenant] = app

    def test_without_a_token_401_and_a_tenant_sees_only_its_own_applications(self):
        address = self.daemon.metrics
        for path in ("/api/v1/status", "/api/v1/events", "/api/v1/apps/%s" % self.apps["team-a"]):
            status, body, headers = get(address, path)
            self.assertEqual(status, 401, (path, body))
            self.assertIn("Bearer", headers["WWW-Authenticate"])
            self.assertIn("missing authorization", body["error"])
        status, body, _ = get(address, "/api/v1/status", token="not-a-known-token-at-all")
        self.assertEqual((status, body["error"]), (401, "unknown token"))
        status, body, _ = get(address, "/api/v1/status", headers={"Authorization": "Basic dXNlcjpwdw=="})
        self.assertEqual(status, 401, body)

        status, body, _ = get(address, "/api/v1/status", token=TOKENS["team-a"])
        self.assertEqual(status, 200, body)
        self.assertEqual(app_ids(body), [self.apps["team-a"]])
        self.assertNotIn("pools", body, "pools are for operators")
        self.assertEqual(body["caller"], {"tenant": "team-a", "operator": False, "anonymous": False})
        status, body, _ = get(address, "/api/v1/apps/%s" % self.apps["team-b"], token=TOKENS["team-a"])
        self.assertEqual(status, 404, body)
        status, events, _ = get(address, "/api/v1/events?limit=1000", token=TOKENS["team-a"])
        about = {e.get("executor", e.get("application", {})).get("appId") for e in events["events"]}
        self.assertEqual(about, {self.apps["team-a"]})

        status, body, _ = get(address, "/api/v1/status", token=TOKENS["operator"],
                              headers={"Host": "berth.example.org:7434"})  # a token needs no Host guard
        self.assertEqual(status, 200, body)
        self.assertEqual(app_ids(body), sorted(self.apps.values()))
        self.assertEqual([p["name"] for p in body["pools"]], ["local"])
        # The page itself and /metrics need no token: the page asks for one.
        self.assertEqual(get(address, "/")[0], 200)
        self.assertEqual(get(address, "/metrics")[0], 200)

    def test_the_page_asks_for_a_token_and_then_shows_the_tenants_applications(self):
        with Browser(self.tmp) as browser:
            browser.navigate("http://%s/" % self.daemon.metrics)
            browser.wait_for("document.body.dataset.state === 'token' && "
                             "!document.getElementById('token-section').hidden", 20, "the token form")
            browser.evaluate("document.getElementById('token-input').value = %s; "
                             "document.getElementById('token-form').requestSubmit(); true"
                             % json.dumps(TOKENS["team-b"]))
            shown = browser.wait_for(
                "document.body.dataset.state === 'ready' && "
                "Array.from(document.querySelectorAll('#apps tbody tr')).map(tr => tr.dataset.app)",
                20, "team-b's applications")
            self.assertEqual(shown, [self.apps["team-b"]])
            self.assertEqual(browser.evaluate("document.getElementById('caller').textContent"), "tenant team-b")
            self.assertTrue(browser.evaluate("document.getElementById('pools').hidden"))
            self.assertEqual(browser.errors, [])


class StatusPageBrowserTest(StatusPageCase):

    def test_the_page_renders_pools_apps_executors_and_live_events_in_chromium(self):
        daemon = self.two_pool_daemon()
        apps = [self.app_id("etl"), self.app_id("report"), self.app_id("ml")]
        self.register_on(daemon, apps[0], "local")
        self.register_on(daemon, apps[1], "local-b")
        self.register_on(daemon, apps[2], "local-b")
        for app, n in zip(apps, (3, 2, 1)):
            daemon.ctl_ok("target", app, n)
        for app, n in zip(apps, (3, 2, 1)):
            self.wait_running(daemon, app, n)
        daemon.ctl_ok("kill", apps[0], 3)  # a KILLED executor with its loss reason

        with Browser(self.tmp) as browser:
            browser.navigate("http://%s/#app=%s" % (daemon.metrics, apps[0]))
            rendered = browser.wait_for("""(() => {
                const rows = (sel) => Array.from(document.querySelectorAll(sel));
                const pools = rows('#pools tbody tr').map(tr => [tr.dataset.pool, tr.dataset.healthy]);
                const apps = rows('#apps tbody tr').map(tr => [tr.dataset.app, tr.dataset.running]);
                const executors = rows('#executors tbody tr').map(tr => [tr.dataset.executor, tr.dataset.state]);
                const ready = document.body.dataset.state === 'ready' && pools.length === 2 && apps.length === 3
                    && executors.some(e => e[1] === 'KILLED');
                return ready && {pools, apps, executors,
                                 events: rows('#events li').length,
                                 daemon: document.getElementById('daemon-id').textContent};
            })()""", 30, "two pools, three applications and the executors of %s" % apps[0])
            self.assertEqual(sorted(rendered["pools"]), [["local", "true"], ["local-b", "true"]])
            self.assertEqual(sorted(rendered["apps"]), sorted([[apps[0], "2"], [apps[1], "2"], [apps[2], "1"]]))
            self.assertEqual(sorted(rendered["executors"]), [["1", "RUNNING"], ["2", "RUNNING"], ["3", "KILLED"]])
            self.assertGreater(rendered["events"], 0)
            self.assertEqual(rendered["daemon"], daemon.ctl_ok("status")["daemonId"])
            loss = browser.evaluate("document.querySelector('#executors tr[data-executor=\"3\"]').textContent")
            self.assertIn("killed_by_driver", loss)

            # Live: a change appears without reloading the page.
            daemon.ctl_ok("target", apps[2], 2)
            browser.wait_for("(() => { const tr = document.querySelector('#apps tr[data-app=%s]');"
                             " return tr && tr.dataset.running === '2'; })()" % json.dumps(apps[2]),
                             30, "%s running 2 on the page" % apps[2])
            browser.wait_for("Array.from(document.querySelectorAll('#events li'))"
                             ".some(li => li.textContent.includes(%s + ' executor 2 RUNNING'))" % json.dumps(apps[2]),
                             30, "the event of %s's second executor" % apps[2])
            self.assertEqual(browser.errors, [])
            path = browser.screenshot(os.path.join(ARTIFACTS, "status_page.png"))
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        print("\nstatus page screenshot: %s" % os.path.abspath(path))


class AppMetricsTest(StatusPageCase):

    def scrape(self, daemon):
        status, text, _ = get(daemon.metrics, "/metrics")
        self.assertEqual(status, 200)
        return text

    def test_per_application_gauges_come_and_go_and_the_dashboard_queries_only_existing_metrics(self):
        daemon = self.two_pool_daemon()
        app = self.app_id("dyn")
        self.register_on(daemon, app, "local")
        daemon.ctl_ok("target", app, 2)
        self.wait_running(daemon, app, 2)
        labels = 'app="%s",profile="0",tenant="default"' % app
        text = self.wait_until(
            lambda: (lambda t: t if "berth_app_running_executors{%s} 2" % labels in t else None)(self.scrape(daemon)),
            15, "berth_app_running_executors{%s} 2" % labels)
        self.assertIn("berth_app_target_executors{%s} 2" % labels, text)
        self.assertIn("berth_app_pending_executors{%s} 0" % labels, text)
        self.assertIn("berth_app_launch_failures{%s} 0" % labels, text)
        self.assertRegex(text, r'berth_launches_total\{pool="local"\} [2-9]')
        self.assertIn('berth_launches_total{pool="local-b"} 0', text)

        # Every metric the Grafana dashboard queries exists in berthd's output.
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        exprs = []

        def collect(node):
            if isinstance(node, dict):
                for key in ("expr", "definition"):  # panel queries, template variables
                    if isinstance(node.get(key), str):
                        exprs.append(node[key])
                for value in node.values():
                    collect(value)
            elif isinstance(node, list):
                for value in node:
                    collect(value)
        collect(dashboard)
        self.assertGreaterEqual(len(exprs), 5, "the dashboard's queries")
        exposed = set(re.findall(r"^(berth_\w+)", text, re.M))
        queried = set()
        for expr in exprs:
            queried.update(re.findall(r"\b(berth_\w+)", expr))
        self.assertTrue({"berth_app_target_executors", "berth_app_running_executors", "berth_app_pending_executors",
                         "berth_app_launch_failures", "berth_launches_total"} <= queried, queried)
        self.assertEqual(queried - exposed, set(), "queried by the dashboard but not exposed by berthd")

        # So does every series the README lists.
        with open(README) as f:
            readme = f.read()
        section = readme[readme.index("## Status page and metrics"):]
        section = section[:section.index("\n## ", 1)]
        documented = set(re.findall(r"`(berth_\w+)[`{]", section))
        self.assertGreaterEqual(len(documented), 10, "the README's list of series")
        typed = set(re.findall(r"^# TYPE (berth_\w+) ", text, re.M))
        self.assertEqual(documented - typed, set(), "listed in the README but not exposed by berthd")

        # An application that ended leaves the gauges.
        daemon.ctl_ok("app", "unregister", app)
        self.wait_until(lambda: 'app="%s"' % app not in self.scrape(daemon), 15, "%s's series removed" % app)


if __name__ == "__main__":
    unittest.main()
