"""WatchEvents through `berthctl watch -o json`: live changes, replay from a revision, and the
RESYNC marker plus snapshot when the revision asked for left the event window."""

import json
import os
import subprocess
import unittest

from berth_harness import BERTHCTL, BerthTestCase, executor_id, ids_in

LIFECYCLE = ["REQUESTED", "LAUNCHING", "PENDING", "RUNNING"]


def revision(event):
    return int(event.get("revision", 0))


class WatchTest(BerthTestCase):

    def start_watch(self, daemon, *args):
        """A background `watch ... -o json`; returns a function reading the events so far."""
        path = os.path.join(self.tmp, "watch-%d.jsonl" % len(os.listdir(self.tmp)))
        out = open(path, "w")
        process = subprocess.Popen([BERTHCTL, "--addr", daemon.grpc, "-o", "json", "watch"] + [str(a) for a in args],
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        out.close()

        def stop():
            if process.poll() is None:
                process.terminate()  # berthctl ends the stream and exits 0 on SIGTERM
            return process.wait(timeout=20)
        self.addCleanup(stop)

        def events():
            with open(path) as f:
                lines = f.read().splitlines()
            # The last line may still be being written.
            parsed = []
            for line in lines:
                try:
                    parsed.append(json.loads(line))
                except ValueError:
                    break
            return parsed
        return events, stop

    def test_live_events_then_replay_from_a_revision(self):
        daemon = self.new_daemon()
        app = self.app_id("watch")
        self.register(daemon, app)
        events, stop = self.start_watch(daemon, app)
        # from 0: a snapshot of now (the application), then SYNCED, then changes.
        self.wait_until(lambda: any(e["type"] == "SYNCED" for e in events()), 10, "SYNCED")
        snapshot = events()
        self.assertEqual([e["type"] for e in snapshot], ["APPLICATION", "SYNCED"])
        self.assertEqual(snapshot[0]["application"]["appId"], app)
        synced_at = revision(snapshot[1])

        daemon.ctl_ok("target", app, 3)

        def all_running():
            seen = events()
            running = {executor_id(e["executor"]) for e in seen
                       if e["type"] == "EXECUTOR" and e["executor"]["state"] == "RUNNING"}
            return seen if running == {1, 2, 3} else None
        seen = self.wait_until(all_running, 20, "RUNNING events for executors 1, 2 and 3")
        self.assertEqual(stop(), 0)

        live = seen[2:]
        revisions = [revision(e) for e in live]
        self.assertEqual(revisions, sorted(set(revisions)), "strictly increasing revisions")
        self.assertGreater(revisions[0], synced_at)
        for event in live:
            self.assertIn(event["type"], ("EXECUTOR", "APPLICATION"), event)
        per_executor = {}
        for event in live:
            if event["type"] == "EXECUTOR":
                executor = event["executor"]
                self.assertEqual(executor["appId"], app)
                self.assertEqual(int(executor["revision"]), revision(event))
                per_executor.setdefault(executor_id(executor), []).append(executor["state"])
        self.assertEqual(sorted(per_executor), [1, 2, 3])
        for executor, states in per_executor.items():
            self.assertEqual(states[-1], "RUNNING", executor)
            ranks = [LIFECYCLE.index(s) for s in states]
            self.assertEqual(ranks, sorted(set(ranks)), "executor %d went %s" % (executor, states))
        self.assertTrue(any(e["type"] == "APPLICATION" and e["application"]["profileStatus"][0].get("target") == 3
                            for e in live), "an APPLICATION event with the new target")

        # The same history, replayed from the revision the first watch synced at.
        replay = daemon.ctl_watch(app, "--from", synced_at, "--count", len(live))
        self.assertEqual([(revision(e), e["type"]) for e in replay], [(revision(e), e["type"]) for e in live])
        self.assertEqual([e.get("executor", {}).get("state") for e in replay],
                         [e.get("executor", {}).get("state") for e in live])

        # And from the middle of it.
        middle = revision(live[len(live) // 2])
        tail = daemon.ctl_watch(app, "--from", middle, "--count", 1)
        self.assertGreater(revision(tail[0]), middle)

    def test_a_revision_older_than_the_window_gets_resync_then_a_snapshot(self):
        daemon = self.new_daemon(reconciler={"event_window": 5})
        app = self.app_id("window")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 3)
        self.wait_running(daemon, app, 3)
        executors = daemon.executors(app)
        self.assertGreater(int(daemon.ctl_ok("executors", app)["revision"]), 5 + 1, "the window is full")

        # Revision 1 left the 5-event window: RESYNC, a snapshot of now, SYNCED, then live changes.
        events = daemon.ctl_watch(app, "--from", 1, "--until-synced")
        self.assertEqual(events[0]["type"], "RESYNC", events[0])
        self.assertIn("revision 1 is no longer available", events[0].get("message", ""))
        self.assertEqual(events[1]["type"], "APPLICATION")
        self.assertEqual(events[1]["application"]["appId"], app)
        snapshot = events[2:-1]
        self.assertEqual([e["type"] for e in snapshot], ["EXECUTOR"] * len(executors))
        self.assertEqual(ids_in([e["executor"] for e in snapshot]), [1, 2, 3])
        self.assertEqual([e["executor"]["state"] for e in snapshot], ["RUNNING"] * 3)
        self.assertEqual(events[-1]["type"], "SYNCED")
        self.assertGreaterEqual(revision(events[-1]), revision(events[0]))

        # A revision still in the window is replayed, without RESYNC.
        recent = revision(events[-1]) - 2
        replay = daemon.ctl_watch(app, "--from", recent, "--count", 2)
        self.assertEqual([revision(e) for e in replay], [recent + 1, recent + 2])
        self.assertNotIn("RESYNC", [e["type"] for e in replay])

        # After a RESYNC the stream carries on live.
        events, stop = self.start_watch(daemon, app, "--from", 1)
        self.wait_until(lambda: any(e["type"] == "SYNCED" for e in events()), 10, "SYNCED")
        daemon.ctl_ok("kill", app, 2)
        self.wait_until(lambda: any(e["type"] == "EXECUTOR" and e["executor"]["state"] == "KILLED"
                                    and executor_id(e["executor"]) == 2 for e in events()),
                        10, "the KILLED event of executor 2 after the snapshot")
        self.assertEqual(stop(), 0)


    def test_a_revision_ahead_of_the_daemon_gets_resync_and_a_snapshot(self):
        """A client resuming from a revision this daemon never reached (its last events were lost
        with a crash) starts again from a snapshot, never from later events with lower revisions."""
        daemon = self.new_daemon()
        app = self.app_id("ahead")
        self.register(daemon, app)
        daemon.ctl_ok("target", app, 1)
        self.wait_running(daemon, app, 1)
        now = int(daemon.ctl_ok("executors", app)["revision"])
        events = daemon.ctl_watch(app, "--from", now + 1000, "--until-synced")
        self.assertEqual(events[0]["type"], "RESYNC", events[0])
        self.assertIn("is ahead of this daemon's revision", events[0].get("message", ""))
        self.assertEqual([e["type"] for e in events[1:]], ["APPLICATION", "EXECUTOR", "SYNCED"])

if __name__ == "__main__":
    unittest.main()
