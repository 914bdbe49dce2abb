"""The Prometheus endpoint: executor gauges by pool and state, and gRPC request counters."""

import re
import unittest
import urllib.request

from berth_harness import BerthTestCase


def scrape(address):
    with urllib.request.urlopen("http://%s/metrics" % address, timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def sample(text, name, **labels):
    """The value of the sample `name` whose labels include `labels` (any order), or None."""
    for line in text.splitlines():
        match = re.match(r"^%s\{([^}]*)\} (\S+)$" % re.escape(name), line)
        if not match:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(match.group(2))
    return None


class MetricsTest(BerthTestCase):

    def test_executor_gauges_and_grpc_counters(self):
        daemon = self.new_daemon()
        self.assertIsNotNone(daemon.metrics)
        app = self.app_id("metrics")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 3)
        self.wait_running(daemon, app, 3)
        self.assertEqual(daemon.ctl("app", "get", self.app_id("ghost")).returncode, 1)

        # The gauges are refreshed about once a second.
        text = self.wait_until(
            lambda: (lambda t: t if sample(t, "berth_executors", pool="local", state="RUNNING") == 3 else None)(
                scrape(daemon.metrics)),
            10, "berth_executors{pool=local,state=RUNNING} 3")
        self.assertIn("# TYPE berth_executors gauge", text)
        self.assertEqual(sample(text, "berth_executors", pool="local", state="REQUESTED"), 0)
        self.assertEqual(sample(text, "berth_grpc_requests_total", method="RegisterApplication", code="OK"), 1)
        self.assertGreaterEqual(sample(text, "berth_grpc_requests_total", method="RequestTotalExecutors", code="OK"), 1)
        self.assertEqual(sample(text, "berth_grpc_requests_total", method="GetApplication", code="NOT_FOUND"), 1)
        self.assertGreaterEqual(sample(text, "berth_executor_transitions_total", pool="local", state="RUNNING"), 3)
        self.assertEqual(sample(text, "berth_applications", phase="ACTIVE"), 1)
        ticks = re.search(r"^berth_reconcile_ticks_total(?:\{\})? (\S+)$", text, re.M)
        self.assertIsNotNone(ticks, "berth_reconcile_ticks_total")
        self.assertGreater(float(ticks.group(1)), 0)

        # Killing one moves it to KILLED.
        daemon.ctl_ok("kill", app, 1)
        self.wait_until(lambda: sample(scrape(daemon.metrics), "berth_executors", pool="local", state="KILLED") == 1,
                        10, "berth_executors{state=KILLED} 1")


if __name__ == "__main__":
    unittest.main()
