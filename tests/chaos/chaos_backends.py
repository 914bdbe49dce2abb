"""The four backends of the chaos soak (berth_chaos.py): how to run each one, how berthd's pool
names it, what it holds (read from the backend itself, never from berthd), and which faults it
can suffer.

A backend is started once per campaign and reused across rounds: heal() puts it back to a
healthy cluster with no fault between rounds (faults reset, lost nodes or agents restored or
replaced). The simulators come from tests/e2e (berth_harness, nomad_harness); the local backend
is this host, its executors found in /proc by the campaign's marker.

Every random choice a backend makes comes from the round's random.Random, so one seed, backend
and round replay the same faults. Standard library only.
"""

import http.client
import os
import re
import signal
import time
import urllib.parse

import berth_harness as harness
from nomad_harness import NomadSim

IMAGE = "apache/spark:3.5.1"
EXECUTOR_NAME = re.compile(r"^berth-(.+)-exec-(\d+)$")


class BackendObject:
    """One executor as the backend holds it. `present`: the backend still has something of it
    (a pod, a live job or allocation, a master's task, a process); `running`: it is one running
    executor and nothing else (no second allocation, no pending update, not being deleted)."""

    def __init__(self, name, app, executor, present, running, host=None, state=""):
        self.name = name
        self.app = app
        self.executor = executor
        self.present = present
        self.running = running
        self.host = host
        self.state = state

    def __repr__(self):
        return "%s(%s)" % (self.name, self.state)


def parse_name(name):
    """(app, executor id) of a deterministic backend name berth-<app>-exec-<id>, or (None, None)."""
    match = EXECUTOR_NAME.match(name or "")
    return (match.group(1), int(match.group(2))) if match else (None, None)


def transient(error):
    """An error of reading a backend that a moment later may not repeat: refused connections
    during an outage, a reset stream, a 5xx or 429."""
    if isinstance(error, harness.SimError):
        return error.status in (429, 500, 502, 503, 504)
    return isinstance(error, (OSError, http.client.HTTPException))


def retrying(call, timeout=30):
    """call(), retried while it fails transiently (an outage may still be under way)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - only transient ones are retried
            if not transient(error) or time.monotonic() >= deadline:
                raise
            time.sleep(harness.POLL_SECONDS)


class Backend:
    """What every backend offers the campaign. Subclasses set KIND, POOL, VERBS (fault keys of the
    simulator's error_rate and fail_next) and ERROR_CODES, and fill in the methods."""

    KIND = None
    POOL = None
    VERBS = ("*",)
    ERROR_CODES = (503,)

    def __init__(self, directory, marker, seed):
        self.directory = directory
        self.marker = marker
        self.seed = seed
        self.sim = None

    # Life cycle ------------------------------------------------------------------------------

    def start(self):
        pass

    def stop(self):
        if self.sim is not None:
            self.sim.kill9()

    def log_paths(self):
        return [self.sim.log_path] if self.sim is not None else []

    # berthd's side ----------------------------------------------------------------------------

    def pool_config(self):
        raise NotImplementedError

    def register_args(self):
        """berthctl `app register` arguments after the app id."""
        return ["--pool", self.POOL, "--image", IMAGE]

    # The backend's side -----------------------------------------------------------------------

    def objects(self):
        """Every Berth executor the backend holds, of any application: [BackendObject]."""
        raise NotImplementedError

    def pool_problems(self, waiting):
        """Backend-level invariants, given whether berthd has launches waiting: [(invariant,
        details)]. No problem by default."""
        return []

    # Faults -----------------------------------------------------------------------------------

    def fault_menu(self):
        """[(name, weight, function(rng, running))]: running is a sorted list of berthd's RUNNING
        executors' backend names; the function returns a description, or None when the fault had
        nothing to act on."""
        return [("error_rate", 3, self.error_rate), ("fail_next", 3, self.fail_next),
                ("latency", 1, self.latency), ("outage", 1, self.outage)]

    def faults(self, **fields):
        return retrying(lambda: self.sim.faults(**fields))

    def action(self, description, **fields):
        """A one-shot fault (drop streams, compact...): POST /sim/faults, then its description."""
        self.faults(**fields)
        return description

    def error_rate(self, rng, running):
        verb = rng.choice(self.VERBS)
        rate = round(rng.uniform(0.1, 0.3), 2)
        code = rng.choice(self.ERROR_CODES)
        self.faults(error_rate={verb: rate}, error_code=code)
        return "error_rate %s=%s code %d" % (verb, rate, code)

    def fail_next(self, rng, running):
        verb = rng.choice(self.VERBS)
        count = rng.randint(1, 3)
        code = rng.choice(self.ERROR_CODES)
        self.faults(fail_next={verb: count}, error_code=code)
        return "fail_next %s=%d code %d" % (verb, count, code)

    def latency(self, rng, running):
        ms = rng.choice((20, 50, 100, 200, 400))
        self.faults(latency_ms=ms)
        return "latency %d ms" % ms

    def outage(self, rng, running):
        ms = rng.randint(300, 2500)
        self.faults(down_for_ms=ms)
        return "outage %d ms" % ms

    def heal(self):
        """No fault any more, full capacity back, and the simulator answering."""
        self.faults(reset=True)


# -------------------------------------------------------------------------------------------------
# local
# -------------------------------------------------------------------------------------------------

class LocalBackend(Backend):
    """Executors as processes of this host: `sleep 3600` carrying the campaign's marker. The
    backend's view is /proc: an executor is present while its process or its supervisor
    (berth-local-exec) lives."""

    KIND = "local"
    POOL = "local"
    COMMAND = ("sleep", "3600")
    EXECUTOR_COMM = "sleep"

    def pool_config(self):
        return {"name": self.POOL, "type": "local", "local": {"poll_interval": "100ms"}}

    def register_args(self):
        return ["--pool", self.POOL, "--env", "%s=%s" % (harness.MARKER_VAR, self.marker), "--"] + list(self.COMMAND)

    def stop(self):
        harness.kill_marked(self.marker)

    def _processes(self):
        executors, shims = {}, {}
        for process in harness.marked_processes(self.marker):
            name = process["env"].get("BERTH_BACKEND_NAME")
            if process["comm"] == self.EXECUTOR_COMM:
                executors.setdefault(name, []).append(process)
            elif process["comm"] == harness.SHIM_COMM:
                shims.setdefault(name, []).append(process)
        return executors, shims

    def objects(self):
        executors, shims = self._processes()
        found = []
        for name in sorted(set(executors) | set(shims)):
            app, number = parse_name(name)
            count, supervisors = len(executors.get(name, [])), len(shims.get(name, []))
            found.append(BackendObject(name, app, number, present=True,
                                       running=count == 1 and supervisors == 1,
                                       state="%d process(es), %d supervisor(s)" % (count, supervisors)))
        return found

    def fault_menu(self):
        return [("kill_executor", 3, self.kill_executor), ("term_executor", 2, self.term_executor),
                ("kill_group", 2, self.kill_group)]

    def _victim(self, rng, running):
        executors, _ = self._processes()
        names = [n for n in running if n in executors]
        if not names:
            return None, None
        name = rng.choice(names)
        return name, executors[name][0]

    def _signal(self, pid, number, group=False):
        try:
            if group:
                os.killpg(os.getpgid(pid), number)
            else:
                os.kill(pid, number)
        except OSError:
            pass

    def kill_executor(self, rng, running):
        name, process = self._victim(rng, running)
        if process is None:
            return None
        self._signal(process["pid"], signal.SIGKILL)
        return "SIGKILL executor process %s" % name

    def term_executor(self, rng, running):
        name, process = self._victim(rng, running)
        if process is None:
            return None
        self._signal(process["pid"], signal.SIGTERM)
        return "SIGTERM executor process %s" % name

    def kill_group(self, rng, running):
        """The executor and its supervisor die together, as on a host that lost them."""
        name, process = self._victim(rng, running)
        if process is None:
            return None
        self._signal(process["pid"], signal.SIGKILL, group=True)
        return "SIGKILL process group of %s" % name

    def heal(self):
        pass


# -------------------------------------------------------------------------------------------------
# Kubernetes
# -------------------------------------------------------------------------------------------------

class KubernetesBackend(Backend):
    KIND = "kubernetes"
    POOL = "k8s"
    NAMESPACE = "chaos"
    VERBS = ("create", "delete", "list", "watch", "get", "*")
    ERROR_CODES = (429, 500, 503, 504)
    NODES = [{"name": "chaos-node-%d" % i, "cpu": "16", "memory": "64Gi", "maxPods": 110} for i in (1, 2, 3)]

    def __init__(self, directory, marker, seed):
        super().__init__(directory, marker, seed)
        self.lost_nodes = {}  # name -> "fail" | "vanish"

    def start(self):
        config = {"time_scale": 10, "seed": self.seed,
                  "nodes": [{"name": n["name"], "cpu": n["cpu"], "memory": n["memory"], "max_pods": n["maxPods"]}
                            for n in self.NODES]}
        self.sim = harness.KubernetesSim(self.directory, config, name="k8s-sim").start()
        self.kubeconfig = self.sim.write_kubeconfig(os.path.join(self.directory, "kubeconfig"), self.NAMESPACE)

    def pool_config(self):
        return {"name": self.POOL, "type": "kubernetes",
                "kubernetes": {"kubeconfig": self.kubeconfig, "namespace": self.NAMESPACE, "qps": 0,
                               "image_pull_failure_timeout": "1s", "delete_grace_period": "1s",
                               "request_timeout": "5s", "retry_max_backoff": "1s"}}

    def objects(self):
        pods = retrying(lambda: self.sim.pods(self.NAMESPACE))
        found = []
        for pod in pods:
            metadata = pod["metadata"]
            labels = metadata.get("labels", {})
            if "berth.dev/app" not in labels:
                continue
            phase = pod.get("status", {}).get("phase")
            deleting = bool(metadata.get("deletionTimestamp"))
            found.append(BackendObject(metadata["name"], labels["berth.dev/app"],
                                       int(labels.get("berth.dev/executor", "0")), present=True,
                                       running=phase == "Running" and not deleting,
                                       host=pod["spec"].get("nodeName"),
                                       state=phase + ("/deleting" if deleting else "")))
        return found

    def fault_menu(self):
        return super().fault_menu() + [
            ("compact", 1, lambda rng, running: self.action("compact history", compact=True)),
            ("expire_watches", 1, lambda rng, running: self.action("expire watches (410)", expire_watches=True)),
            ("drop_watches", 1, lambda rng, running: self.action("drop watches", drop_watches=True)),
            ("node_loss", 1, self.node_loss), ("exit", 2, self.pod_exit), ("evict", 1, self.evict)]

    def node_loss(self, rng, running):
        state = retrying(self.sim.state)
        ready = sorted(n["name"] for n in state["nodes"] if n["ready"] and n["name"] not in self.lost_nodes)
        if len(ready) < 2:
            return None  # keep one node, so that the round can still place its executors
        node = rng.choice(ready)
        mode = rng.choice(("fail", "vanish"))
        retrying(lambda: self.sim.kill_node(node, mode))
        self.lost_nodes[node] = mode
        return "node %s lost (%s)" % (node, mode)

    def pod_exit(self, rng, running):
        if not running:
            return None
        name = rng.choice(running)
        code, oom = rng.choice(((0, False), (1, False), (3, False), (137, True)))
        status, _ = retrying(lambda: self.sim.request("POST", "/sim/pods/%s/%s/exit" % (self.NAMESPACE, name),
                                                      {"code": code, "oom": oom}))
        return "pod %s exits %d%s%s" % (name, code, " (OOM)" if oom else "", "" if status == 200 else " (gone)")

    def evict(self, rng, running):
        if not running:
            return None
        name = rng.choice(running)
        status, _ = retrying(lambda: self.sim.request("POST", "/sim/pods/%s/%s/evict" % (self.NAMESPACE, name)))
        return "pod %s evicted%s" % (name, "" if status == 200 else " (gone)")

    def heal(self):
        self.faults(reset=True)
        for node, mode in sorted(self.lost_nodes.items()):
            if mode == "fail":
                retrying(lambda: self.sim.call("POST", "/sim/nodes/%s/restore" % node))
            else:
                spec = next(n for n in self.NODES if n["name"] == node)
                retrying(lambda: self.sim.call("POST", "/sim/nodes", spec))
        self.lost_nodes.clear()


# -------------------------------------------------------------------------------------------------
# Nomad
# -------------------------------------------------------------------------------------------------

class NomadBackend(Backend):
    KIND = "nomad"
    POOL = "nomad"
    VERBS = ("register", "deregister", "get", "list", "stream", "stop", "*")
    ERROR_CODES = (500, 429, 502, 503, 504)
    NODES = [{"name": "chaos-node-%d" % i, "cpu_mhz": 64000, "memory_mb": 262144, "cores": 64} for i in (1, 2, 3)]

    def __init__(self, directory, marker, seed):
        super().__init__(directory, marker, seed)
        self.down_nodes = set()

    def start(self):
        # Nomad's garbage collection, shortened (simulated time, 10x): a stopped job stays readable
        # for about a minute, then goes, as on a cluster whose operators keep little history.
        config = {"time_scale": 10, "heartbeat_interval": "1s", "seed": self.seed, "nodes": self.NODES,
                  "gc_interval": "1m", "job_gc_threshold": "10m", "eval_gc_threshold": "10m"}
        self.sim = NomadSim(self.directory, config, name="nomad-sim").start()

    def pool_config(self):
        return {"name": self.POOL, "type": "nomad",
                "nomad": {"address": self.sim.url, "kill_timeout": "2s", "request_timeout": "5s",
                          "stream_idle_timeout": "3s", "retry_max_backoff": "500ms"}}

    def _live_allocations(self):
        """JobID -> its allocations that hold resources (pending or running, also when told to
        stop and still stopping)."""
        live = {}
        for alloc in retrying(lambda: self.sim.call("GET", "/v1/allocations?" + urllib.parse.urlencode(
                {"prefix": "", "task_states": "false"}))):
            if alloc.get("ClientStatus") in ("pending", "running"):
                live.setdefault(alloc["JobID"], []).append(alloc)
        return live

    def objects(self):
        jobs = retrying(lambda: self.sim.jobs("berth-"))
        allocations = self._live_allocations()
        found = []
        for job in jobs:
            meta = job.get("Meta") or {}
            if "berth.dev/app" not in meta:
                continue
            live_job = not job.get("Stop") and job.get("Status") != "dead"
            allocs = allocations.get(job["ID"], [])
            running = (live_job and len(allocs) == 1 and allocs[0]["ClientStatus"] == "running"
                       and allocs[0].get("DesiredStatus") == "run")
            found.append(BackendObject(job["ID"], meta["berth.dev/app"], int(meta.get("berth.dev/executor", "0")),
                                       present=live_job or bool(allocs), running=running,
                                       host=allocs[0].get("NodeName") if len(allocs) == 1 else None,
                                       state="%s%s, %d live allocation(s)" % (job.get("Status"),
                                                                              "/stopped" if job.get("Stop") else "",
                                                                              len(allocs))))
        return found

    def fault_menu(self):
        return super().fault_menu() + [
            ("drop_streams", 1, lambda rng, running: self.action("drop event streams", drop_streams=True)),
            ("compact_events", 1, lambda rng, running: self.action("compact event buffer", compact_events=True)),
            ("leader_loss", 1, self.leader_loss), ("node_down", 1, self.node_down),
            ("exit", 2, self.allocation_exit)]

    def leader_loss(self, rng, running):
        ms = rng.randint(300, 2500)
        self.faults(leader_loss_for_ms=ms)
        return "leader loss %d ms" % ms

    def node_down(self, rng, running):
        state = retrying(self.sim.state)
        ready = sorted(n["Name"] for n in state["Nodes"] if n["Status"] == "ready")
        if len(ready) < 2:
            return None
        node = rng.choice(ready)
        retrying(lambda: self.sim.node_down(node))
        self.down_nodes.add(node)
        return "node %s down" % node

    def allocation_exit(self, rng, running):
        """The running allocation of one of berthd's RUNNING executors exits. Its id is read from
        the Nomad API, through whatever faults are injected: a failed read skips the fault."""
        if not running:
            return None
        job = rng.choice(running)
        code, oom = rng.choice(((0, False), (1, False), (3, False), (137, True)))
        try:
            allocs = self.sim.job_allocations(job)
        except Exception as error:  # noqa: BLE001 - an injected fault or an outage
            if transient(error):
                return None
            raise
        live = sorted(a["ID"] for a in allocs if a.get("ClientStatus") == "running")
        if not live:
            return None
        status, _ = retrying(lambda: self.sim.request("POST", "/sim/allocations/%s/exit" % live[0],
                                                      {"code": code, "oom": oom}))
        return "allocation of %s exits %d%s%s" % (job, code, " (OOM)" if oom else "", "" if status == 200 else " (gone)")

    def heal(self):
        self.faults(reset=True)
        for node in sorted(self.down_nodes):
            retrying(lambda: self.sim.node_up(node))
        self.down_nodes.clear()


# -------------------------------------------------------------------------------------------------
# Mesos
# -------------------------------------------------------------------------------------------------

class MesosBackend(Backend):
    """A leading master and a standby (for leader failover), four agents. Lost agents do not come
    back (the simulator has no way back from removal): heal() adds new ones instead."""

    KIND = "mesos"
    POOL = "mesos"
    VERBS = ("ACCEPT", "DECLINE", "REVIVE", "SUPPRESS", "KILL", "ACKNOWLEDGE", "RECONCILE", "SUBSCRIBE", "*")
    ERROR_CODES = (503, 500)
    AGENTS = 4
    AGENT = {"cpus": 16, "mem": 65536, "disk": 400000, "ports": "31000-32000"}

    def __init__(self, directory, marker, seed):
        super().__init__(directory, marker, seed)
        self.added_agents = 0

    def start(self):
        config = {"seed": self.seed, "agents": [dict(self.AGENT, hostname="chaos-agent-%d" % i)
                                                for i in range(1, self.AGENTS + 1)]}
        self.sim = harness.MesosSim(self.directory, config, name="mesos-sim", heartbeat=0.5, standby=True).start()

    def pool_config(self):
        return {"name": self.POOL, "type": "mesos",
                "mesos": {"masters": [self.sim.master, self.sim.standby_master], "refuse": "1s", "kill_grace": "2s",
                          "reconcile_interval": "5s", "request_timeout": "5s", "retry_max_backoff": "1s",
                          "agent_exclusion": "0s"}}

    def register_args(self):
        return ["--pool", self.POOL]

    def objects(self):
        state = retrying(lambda: self.sim.state())
        hosts = {a["id"]: a["hostname"] for a in state["agents"]}
        found = []
        for task in state["tasks"]:
            app, number = parse_name(task["id"])
            if app is None:
                continue
            found.append(BackendObject(task["id"], app, number, present=True,
                                       running=task["state"] == "TASK_RUNNING" and not task["unacked"],
                                       host=hosts.get(task["agent_id"]),
                                       state=task["state"] + ("/unacked %s" % ",".join(task["unacked"])
                                                              if task["unacked"] else "")))
        return found

    def pool_problems(self, waiting):
        """One framework, subscribed; never suppressed while launches wait (a stuck pool), and
        holding no offer when none waits (an offer never answered keeps its agent from everyone)."""
        frameworks = [f for f in retrying(lambda: self.sim.state())["frameworks"] if not f.get("removed")]
        problems = []
        if len(frameworks) != 1:
            problems.append(("framework", "the master has %d frameworks not removed (one expected): %s"
                             % (len(frameworks), [(f["id"], f["subscribed"]) for f in frameworks])))
        for framework in frameworks:
            if not framework.get("subscribed"):
                problems.append(("framework", "framework %s is not subscribed" % framework["id"]))
            if waiting and framework.get("suppressed_roles"):
                problems.append(("stuck-pool", "framework %s is suppressed (%s) while berthd has launches waiting"
                                 % (framework["id"], framework["suppressed_roles"])))
            if not waiting and framework.get("outstanding_offers", 0) > 0:
                problems.append(("held-offers", "framework %s holds %d offers with no launch waiting"
                                 % (framework["id"], framework["outstanding_offers"])))
        return problems

    def fault_menu(self):
        return super().fault_menu() + [
            ("revive_failure", 2, self.revive_failure), ("answer_failure", 2, self.answer_failure),
            ("drop_streams", 1, lambda rng, running: self.action("drop subscriptions", drop_streams=True)),
            ("no_leader", 1, self.no_leader), ("failover", 1, self.failover),
            ("agent_loss", 1, self.agent_loss), ("exit", 2, self.task_exit)]

    def revive_failure(self, rng, running):
        count = rng.randint(1, 2)
        self.faults(fail_next={"REVIVE": count})
        return "fail_next REVIVE=%d" % count

    def answer_failure(self, rng, running):
        """The next answers to offers refused: the offers stay the framework's until declined."""
        counts = {"DECLINE": rng.randint(1, 3), "ACCEPT": rng.randint(0, 1)}
        self.faults(fail_next=counts)
        return "fail_next %s" % " ".join("%s=%d" % item for item in sorted(counts.items()))

    def no_leader(self, rng, running):
        """No leader for a moment (the tool waits it out: it is the fault's duration)."""
        seconds = round(rng.uniform(0.3, 1.5), 2)
        self.faults(no_leader=True)
        time.sleep(seconds)
        self.faults(no_leader=False)
        return "no leader for %.2f s" % seconds

    def failover(self, rng, running):
        retrying(self.sim.swap_leader)
        return "master failover"

    def agent_loss(self, rng, running):
        state = retrying(lambda: self.sim.state())
        registered = sorted((a["hostname"], a["id"]) for a in state["agents"] if a["state"] == "registered")
        if len(registered) < 2:
            return None
        hostname, agent = rng.choice(registered)
        mode = rng.choice(("lost", "gone"))
        retrying(lambda: self.sim.remove_agent(agent, mode))
        return "agent %s removed (%s)" % (hostname, mode)

    def task_exit(self, rng, running):
        if not running:
            return None
        name = rng.choice(running)
        code, oom = rng.choice(((0, False), (1, False), (3, False), (137, True)))
        status, _ = retrying(lambda: self.sim.request("POST", "/sim/tasks/%s/exit" % name, {"code": code, "oom": oom}))
        return "task %s exits %d%s%s" % (name, code, " (OOM)" if oom else "", "" if status == 200 else " (gone)")

    def heal(self):
        self.faults(reset=True)
        state = retrying(lambda: self.sim.state())
        registered = [a for a in state["agents"] if a["state"] == "registered"]
        for _ in range(self.AGENTS - len(registered)):
            self.added_agents += 1
            spec = dict(self.AGENT, hostname="chaos-agent-new-%d" % self.added_agents)
            retrying(lambda: self.sim.add_agent(**spec))


BACKENDS = {cls.KIND: cls for cls in (LocalBackend, KubernetesBackend, NomadBackend, MesosBackend)}
