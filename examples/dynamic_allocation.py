#!/usr/bin/python3
"""Dynamic allocation the way Spark's ExecutorAllocationManager does it, driven through berthd.

A synthetic job (--tasks tasks of --task-seconds each) runs on the executors Berth launches;
each executor runs as many tasks at once as it has cores. Every 100 ms the allocation policy:

- ramp-up: while tasks have been pending for --backlog-timeout, asks for
  max(target, live executors) + n, capped at what the tasks need and at --max, with n = 1, 2, 4 ...
  doubling while each increment is granted and back to 1 otherwise (Spark's exponential ramp);
- ramp-down: when fewer executors are needed than the target, lowers the target at once (berthd
  cancels executors that are not running yet; it never kills running ones for a lower target);
- idle timeout: kills executors idle for --idle-timeout by id (adjust_target=False, as Spark), never
  below the current target or --min.

Executor bookkeeping is driven by berthd's event watch (EXECUTOR events: RUNNING executors get
tasks, ended ones give theirs back). At the end the application is unregistered and one JSON line
summarises the run (totals sent, peak executors, executors killed as idle).

    build/bin/berth-sim kubernetes --listen 127.0.0.1:6443 &
    build/bin/berthd --config berthd-k8s.yaml &       # a pool "k8s" of type kubernetes
    PYTHONPATH=build/python examples/dynamic_allocation.py --addr 127.0.0.1:7433 --pool k8s
"""

import argparse
import json
import math
import queue
import sys
import threading
import time
import uuid

import berth
from berth import pb

TICK = 0.1


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--addr", default=None, help="berthd address(es), comma-separated (default: $BERTH_ADDR or 127.0.0.1:7433)")
    p.add_argument("--token-file", default=None)
    p.add_argument("--pool", action="append", default=[], help="pool to use (repeatable; default: the tenant's)")
    p.add_argument("--app", default=None, help="application id (default: a fresh one)")
    p.add_argument("--image", default="apache/spark:3.5.1")
    p.add_argument("--tasks", type=int, default=40)
    p.add_argument("--task-seconds", type=float, default=1.0)
    p.add_argument("--cores", type=int, default=2, help="cores per executor = tasks it runs at once")
    p.add_argument("--min", type=int, default=0, dest="min_executors")
    p.add_argument("--max", type=int, default=8, dest="max_executors")
    p.add_argument("--backlog-timeout", type=float, default=0.5, help="schedulerBacklogTimeout, seconds")
    p.add_argument("--sustained-backlog-timeout", type=float, default=None, help="default: --backlog-timeout")
    p.add_argument("--idle-timeout", type=float, default=1.0, help="executorIdleTimeout, seconds")
    p.add_argument("--timeout", type=float, default=120, help="give up after this many seconds")
    return p.parse_args(argv)


class Allocation:
    def __init__(self, args, client, app):
        self.args = args
        self.client = client
        self.app = app
        self.pending = args.tasks          # tasks not started
        self.done = 0
        self.running = {}                  # task number -> (executor id, finish time)
        self.executors = {}                # executor id -> {"slots": free task slots, "idle_since": t}
        self.target = 0
        self.to_add = 1
        self.backlog_since = None
        self.first_round = True
        self.totals_sent = []
        self.killed_idle = []
        self.peak = 0
        self.events = queue.Queue()
        self.next_task = 0

    # Watch-driven bookkeeping -------------------------------------------------------------------

    def start_watch(self):
        self.watch = self.client.watch(self.app)

        def pump():
            try:
                for event in self.watch:
                    self.events.put(event)
            except Exception as error:  # reported by the main loop
                self.events.put(error)
        threading.Thread(target=pump, daemon=True).start()

    def apply_events(self, now):
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, Exception):
                raise event
            if event.type == pb.Event.RESYNC:
                self.executors.clear()     # rebuilt from the snapshot that follows
                continue
            if event.type != pb.Event.EXECUTOR:
                continue
            executor = event.executor
            state = berth.executor_state_name(executor.state)
            if state == "RUNNING" and executor.executor_id not in self.executors:
                self.executors[executor.executor_id] = {"slots": self.args.cores, "idle_since": now}
                print("%6.1fs executor %d RUNNING on %s" % (now - self.t0, executor.executor_id, executor.host or "?"))
            elif state in berth.TERMINAL_STATES and executor.executor_id in self.executors:
                del self.executors[executor.executor_id]
                lost = [t for t, (e, _) in self.running.items() if e == executor.executor_id]
                for task in lost:              # give its tasks back
                    del self.running[task]
                    self.pending += 1
                print("%6.1fs executor %d %s" % (now - self.t0, executor.executor_id, state))

    # Tasks -------------------------------------------------------------------------------------

    def run_tasks(self, now):
        for task, (executor, finish) in list(self.running.items()):
            if finish <= now:
                del self.running[task]
                self.done += 1
                slot = self.executors.get(executor)
                if slot is not None:
                    slot["slots"] += 1
                    if slot["slots"] == self.args.cores:
                        slot["idle_since"] = now
        for executor_id, slot in sorted(self.executors.items()):
            while slot["slots"] > 0 and self.pending > 0:
                slot["slots"] -= 1
                self.pending -= 1
                self.running[self.next_task] = (executor_id, now + self.args.task_seconds)
                self.next_task += 1
        self.peak = max(self.peak, len(self.executors))

    # Policy ------------------------------------------------------------------------------------

    def send_target(self, total):
        self.target = total
        self.totals_sent.append(total)
        return self.client.request_total_executors(self.app, {0: total}).accepted

    def allocate(self, now):
        a = self.args
        max_needed = math.ceil((self.pending + len(self.running)) / a.cores)
        if max_needed < self.target:
            # Ramp-down: at once, to what is needed (never below min).
            self.send_target(max(max_needed, a.min_executors))
            self.to_add = 1
            self.backlog_since = None
        elif self.pending > 0:
            if self.backlog_since is None:
                self.backlog_since = now
            wait = a.backlog_timeout if self.first_round else (a.sustained_backlog_timeout or a.backlog_timeout)
            if now - self.backlog_since >= wait:
                wanted = min(max(self.target, len(self.executors)) + self.to_add, max_needed, a.max_executors)
                wanted = max(wanted, a.min_executors)
                if wanted > self.target:
                    delta = wanted - self.target
                    granted = self.send_target(wanted)
                    self.to_add = self.to_add * 2 if granted and delta == self.to_add else 1
                else:
                    self.to_add = 1
                self.first_round = False
                self.backlog_since = now
        else:
            self.backlog_since = None
        # Idle timeout: kill by id, never below the target or min.
        removable = len(self.executors) - max(self.target, a.min_executors)
        idle = sorted(e for e, s in self.executors.items()
                      if s["slots"] == a.cores and now - s["idle_since"] >= a.idle_timeout)
        victims = idle[:max(0, removable)]
        if victims:
            killed = self.client.kill_executors(self.app, victims, adjust_target=False)
            self.killed_idle += list(killed.killed)
            for executor in victims:
                self.executors[executor]["slots"] = 0  # no new tasks while it goes
            print("%6.1fs killed idle executors %s" % (now - self.t0, list(killed.killed)))

    def finished(self):
        return self.done == self.args.tasks and not self.executors and self.target == self.args.min_executors

    def run(self):
        self.t0 = time.monotonic()
        deadline = self.t0 + self.args.timeout
        self.start_watch()
        while not self.finished():
            now = time.monotonic()
            if now > deadline:
                raise SystemExit("timed out: %d of %d tasks done, %d executors" % (self.done, self.args.tasks,
                                                                                   len(self.executors)))
            self.apply_events(now)
            self.run_tasks(now)
            self.allocate(now)
            time.sleep(TICK)
        self.watch.close()
        return time.monotonic() - self.t0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    options = {"token_file": args.token_file} if args.token_file else {}
    client = berth.Client(args.addr, **options) if args.addr else berth.Client.from_environment(**options)
    app = args.app or "dynalloc-" + uuid.uuid4().hex[:8]
    with client:
        client.register_application(app, pools=args.pool, image=args.image,
                                    profiles=[berth.profile(0, cores=args.cores, heap_mib=1024)],
                                    driver_url="spark://CoarseGrainedScheduler@driver.example:7078", lease_ttl=60)
        allocation = Allocation(args, client, app)
        with client.keep_lease(app, 20):
            try:
                seconds = allocation.run()
            finally:
                client.unregister_application(app, "job finished")
    print(json.dumps({"app": app, "tasks": allocation.done, "seconds": round(seconds, 1),
                      "totals_sent": allocation.totals_sent, "peak_executors": allocation.peak,
                      "killed_idle": sorted(allocation.killed_idle)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
