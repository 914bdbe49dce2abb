"""Driver leases: an application whose driver stops renewing its lease is orphaned, then its
executors are killed and it ends; KeepAlive or an open WatchEvents stream keep it alive."""

import subprocess
import threading
import unittest

from berth_harness import BERTHCTL, BerthTestCase, ids_in, parse_timestamp

TTL_SECONDS = 2


class LeaseTest(BerthTestCase):

    def keep_alive_in_background(self, daemon, app):
        stop = threading.Event()
        failures = []

        def loop():
            while not stop.is_set():
                result = daemon.ctl("app", "keepalive", app)
                if result.returncode != 0:
                    failures.append(result)
                stop.wait(0.3)
        thread = threading.Thread(target=loop, daemon=True)
        thread.start()

        def finish():
            stop.set()
            thread.join(timeout=30)
        self.addCleanup(finish)
        return failures, finish

    def watch_in_background(self, daemon, app):
        out = open("%s/watch-%s.jsonl" % (self.tmp, app), "w")
        process = subprocess.Popen([BERTHCTL, "--addr", daemon.grpc, "-o", "json", "watch", app],
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        out.close()

        def finish():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=20)
        self.addCleanup(finish)
        return process

    def test_expired_lease_kills_executors_and_ends_the_app_while_renewed_ones_stay(self):
        daemon = self.new_daemon(reconciler={"orphan_grace": "1s"})
        renewed = self.app_id("renewed")
        watched = self.app_id("watched")
        expiring = self.app_id("expiring")

        # The apps kept alive are registered first: had their leases not been renewed, they
        # would end before the expiring one does.
        for app in (renewed, watched):
            self.register(daemon, app, "--lease-ttl", TTL_SECONDS)
        failures, stop_keepalive = self.keep_alive_in_background(daemon, renewed)
        watch = self.watch_in_background(daemon, watched)
        for app in (renewed, watched):
            daemon.ctl_ok("target", app, 1)

        registered = self.register(daemon, expiring, "--lease-ttl", TTL_SECONDS)
        self.assertEqual(registered["leaseTtlSeconds"], str(TTL_SECONDS))
        self.assertIn("leaseDeadline", registered)
        daemon.ctl_ok("target", expiring, 2)
        running = self.wait_running(daemon, expiring, 2)
        names = {e["backendName"] for e in running}

        # No renewal: ORPHANED, then after orphan_grace every executor KILLED and the app ENDED.
        ended = self.wait_until(lambda: daemon.app(expiring)["phase"] == "ENDED" and daemon.app(expiring),
                                20, "the expiring app ends")
        self.assertEqual(ended.get("endReason"), "lease expired")
        self.wait_until(lambda: not (names & set(self.live_backend_names(expiring))), 15,
                        "the expiring app's processes end")

        def all_killed():
            executors = daemon.executors(expiring)
            return executors if all(e["state"] == "KILLED" for e in executors) else None
        executors = self.wait_until(all_killed, 15, "every executor of the expiring app KILLED")
        self.assertEqual(ids_in(executors), [1, 2])
        for executor in executors:
            loss = executor.get("loss", {})
            self.assertEqual(loss.get("reason"), "lease_expired", executor)
            self.assertEqual(loss.get("message"), "lease expired", executor)
            self.assertFalse(loss.get("causedByApp", False), executor)
        self.assertEqual(self.live_executors(expiring), [])

        # The renewed apps are untouched.
        for app in (renewed, watched):
            got = daemon.app(app)
            self.assertEqual(got["phase"], "ACTIVE", "%s: %s" % (app, got))
            self.assertEqual(ids_in(daemon.executors(app, ["RUNNING"])), [1])
            self.assertEqual(len(self.live_executors(app)), 1)
        self.assertIsNone(watch.poll(), "the watch stream is still open")
        self.assertEqual(failures, [])

        # Keep-alive moves the deadline forward.
        stop_keepalive()
        def deadline():
            return parse_timestamp(daemon.ctl_ok("app", "keepalive", renewed)["leaseDeadline"])
        first = deadline()
        self.wait_until(lambda: deadline() > first, 5, "a later lease deadline")

    def test_keepalive_of_an_app_without_lease_and_of_an_unknown_app(self):
        daemon = self.new_daemon()
        app = self.app_id("nolease")
        self.register(daemon, app)
        result = daemon.ctl("app", "keepalive", app)
        self.assertEqual(result.returncode, 0, result)
        unknown = daemon.ctl("app", "keepalive", self.app_id("ghost"))
        self.assertEqual(unknown.returncode, 1, unknown)
        self.assertIn("NOT_FOUND", unknown.stderr)


if __name__ == "__main__":
    unittest.main()
