"""berthd's memory under a driver that changes its target again and again with the largest launch
spec berthd accepts, watched by streams that never read: the event window and every watcher's
queue are bounded in bytes, so berthd's RSS stays bounded (it grew by about a gigabyte before)."""

import subprocess
import unittest

from berth_harness import BERTHCTL, BerthTestCase


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class MemoryBoundTest(BerthTestCase):

    def test_large_spec_changes_and_stalled_watchers_keep_rss_bounded(self):
        daemon = self.new_daemon()
        app = self.app_id("mem")
        # Eight variables of 30 KiB: about 240 KiB of launch spec, within the 256 KiB limit.
        big = ["--env", "BIG_%d=%s" % (0, "x" * 30 * 1024)]
        for i in range(1, 8):
            big += ["--env", "BIG_%d=%s" % (i, chr(ord("a") + i) * 30 * 1024)]
        self.register(daemon, app, *big)
        baseline = rss_mib(daemon.process.pid)
        # Every target change is an application event; they all share the one launch spec, so
        # the event window holds it once (it held one copy per event before, up to its 64 MiB).
        for i in range(300):
            daemon.ctl_ok("target", app, i % 2)
        grown = rss_mib(daemon.process.pid) - baseline
        self.assertLess(grown, 30, "berthd's RSS grew by %.0f MiB over 300 target changes" % grown)

        # Five watchers that never read: berthctl blocks on its full stdout pipe, gRPC's flow
        # control stops, and berthd's queue for each grows until its byte bound ends it.
        watchers = [subprocess.Popen([BERTHCTL, "--addr", daemon.grpc, "-o", "json", "watch", app],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                    for _ in range(5)]
        for watcher in watchers:
            self.addCleanup(watcher.kill)
        for i in range(100):
            daemon.ctl_ok("target", app, i % 2)
        grown = rss_mib(daemon.process.pid) - baseline
        # Unbounded, each watcher queued every event with the whole spec. Bounded: 16 MiB each.
        self.assertLess(grown, 250, "berthd's RSS grew by %.0f MiB" % grown)

        # Once they are gone, so is their memory (given back to the system, not only freed).
        for watcher in watchers:
            watcher.kill()
            watcher.wait()
        self.wait_until(lambda: rss_mib(daemon.process.pid) - baseline < 40, 30,
                        "berthd's RSS falls back once the watchers are gone")
        self.assertTrue(daemon.running())
        self.assertEqual(daemon.ctl_ok("app", "get", app)["appId"], app)


if __name__ == "__main__":
    unittest.main()
