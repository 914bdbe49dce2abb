"""Shared fixture of the end-to-end tests: a real berthd and berthctl on ephemeral loopback ports.

Every test gets its own temporary directory (config, state, logs), its own daemon on port 0, and
a unique marker that it passes to its executors as BERTH_E2E_MARKER. The executors that are
actually alive are found by scanning /proc for that marker, and tearDown kills every process that
carries it, even when the test failed, so that no test leaks processes into another.

Standard library only. The binaries come from the environment: BERTHD, BERTHCTL and BERTH_SIM
(CTest sets them); by default the ones under build/bin of the checkout. KubernetesSim runs
`berth-sim kubernetes` beside the daemon for the tests of Kubernetes pools. Run all with `ctest -R e2e -j2`, or one
module from this folder with `/usr/bin/python3 -m unittest -v test_lifecycle`; BERTH_E2E_KEEP=1
keeps each test's directory (config, berthd.log, executor dirs) for a post-mortem.
"""

import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
BERTHD = os.environ.get("BERTHD", os.path.join(SOURCE_DIR, "build", "bin", "berthd"))
BERTHCTL = os.environ.get("BERTHCTL", os.path.join(SOURCE_DIR, "build", "bin", "berthctl"))
BERTH_SIM = os.environ.get("BERTH_SIM", os.path.join(SOURCE_DIR, "build", "bin", "berth-sim"))

MARKER_VAR = "BERTH_E2E_MARKER"
SHIM_COMM = "berth-local-exec"[:15]  # /proc/PID/comm keeps 15 characters
POLL_SECONDS = 0.05


# -------------------------------------------------------------------------------------------------
# Waiting
# -------------------------------------------------------------------------------------------------

class WaitTimeout(AssertionError):
    pass


def wait_until(predicate, timeout, message, interval=POLL_SECONDS):
    """Polls predicate() until it returns a truthy value, which is returned. Raises WaitTimeout
    with `message` (a string or a callable giving one) and the last value seen after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise WaitTimeout("timed out after %.1fs: %s (last value: %r)" % (timeout, text, last))
        time.sleep(interval)


# -------------------------------------------------------------------------------------------------
# Processes
# -------------------------------------------------------------------------------------------------

def _read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def read_text(path):
    """The file's text, or None when it cannot be read (yet)."""
    return _read(path)


def _proc_state(pid):
    stat = _read("/proc/%d/stat" % pid)
    if stat is None:
        return None
    # "pid (comm) S ..." where comm may hold spaces and parentheses.
    return stat[stat.rfind(")") + 2:].split(" ", 1)[0]


def process_environ(pid):
    raw = _read("/proc/%d/environ" % pid, "rb")
    if raw is None:
        return None
    env = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            key, value = item.split(b"=", 1)
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def marked_processes(marker, comm=None):
    """Live (not zombie) processes whose environment holds BERTH_E2E_MARKER=marker, optionally
    only those whose /proc/PID/comm is `comm`. A list of dicts: pid, comm, env, cwd."""
    found = []
    needle = ("%s=%s" % (MARKER_VAR, marker)).encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        raw = _read("/proc/%d/environ" % pid, "rb")
        if not raw or needle not in raw.split(b"\0"):
            continue
        state = _proc_state(pid)
        if state is None or state in ("Z", "X"):
            continue
        process_comm = (_read("/proc/%d/comm" % pid) or "").strip()
        if comm is not None and process_comm != comm:
            continue
        try:
            cwd = os.readlink("/proc/%d/cwd" % pid)
        except OSError:
            cwd = None
        found.append({"pid": pid, "comm": process_comm, "env": process_environ(pid) or {}, "cwd": cwd})
    return found


def kill_marked(marker, timeout=10):
    """SIGKILLs every process carrying the marker until none is left."""
    def gone():
        alive = marked_processes(marker)
        for process in alive:
            try:
                os.kill(process["pid"], signal.SIGKILL)
            except OSError:
                pass
        return not alive
    wait_until(gone, timeout, "processes with %s=%s still alive" % (MARKER_VAR, marker), 0.05)


# -------------------------------------------------------------------------------------------------
# Config
# -------------------------------------------------------------------------------------------------

# Short durations so that tests waiting on time take seconds, not minutes.
FAST_RECONCILER = {
    "launch_timeout": "20s",
    "missing_grace": "2s",
    "orphan_grace": "1s",
    "resync_interval": "2s",
    "kill_grace": "1s",
    "backoff_initial": "100ms",
    "backoff_max": "1s",
}


def render_yaml(value, indent=0):
    """YAML block text for dicts, lists and scalars (enough for berthd's config)."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append("%s%s:\n%s" % (pad, key, render_yaml(item, indent + 1)))
            else:
                lines.append("%s%s: %s" % (pad, key, render_yaml(item, indent + 1)))
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return "[]"
        lines = []
        for item in value:
            text = render_yaml(item, indent + 1)
            if isinstance(item, (dict, list)) and item:
                lines.append("%s- %s" % (pad, text.lstrip()))
            else:
                lines.append("%s- %s" % (pad, text))
        return "\n".join(lines)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))  # a double-quoted YAML string


def write_token_files(directory, tokens):
    """Writes each token of {who: token} to <directory>/<who>.token; {who: path}."""
    paths = {}
    for who, token in tokens.items():
        path = os.path.join(directory, who + ".token")
        with open(path, "w") as f:
            f.write(token + "\n")
        paths[who] = path
    return paths


def base_config(state_dir, **overrides):
    """A config for one test's berthd: loopback TCP on ephemeral ports without tokens (which needs
    allow_unauthenticated_loopback), and local pools that may run executors as root (the tests
    run as root in CI), unless an override says otherwise (allow_root: False)."""
    config = {
        "state_dir": state_dir,
        "listen": "127.0.0.1:0",
        "allow_unauthenticated_loopback": True,
        "metrics_listen": "127.0.0.1:0",
        "logging": {"level": "info"},
        "reconciler": dict(FAST_RECONCILER),
        "pools": [{"name": "local", "type": "local", "local": {"poll_interval": "100ms"}}],
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = dict(config[key], **value)
        else:
            config[key] = value
    return local_pools_may_run_as_root(config)


def local_pools_may_run_as_root(config):
    """`config` with allow_root: true in every local pool that does not say otherwise: the tests
    run as root in CI, and berthd refuses root executors unless told."""
    if "pools" not in config:
        return config
    pools = [dict(pool, local=dict({"allow_root": True}, **(pool.get("local") or {})))
             if pool.get("type") == "local" else pool for pool in config["pools"]]
    return dict(config, pools=pools)


# -------------------------------------------------------------------------------------------------
# berthctl
# -------------------------------------------------------------------------------------------------

class CtlResult:
    def __init__(self, args, returncode, stdout, stderr):
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def json(self):
        return json.loads(self.stdout) if self.stdout.strip() else {}

    def json_lines(self):
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def __repr__(self):
        return "berthctl %s -> exit %d\nstdout: %s\nstderr: %s" % (
            " ".join(self.args), self.returncode, self.stdout[-2000:], self.stderr[-2000:])


# -------------------------------------------------------------------------------------------------
# berthd
# -------------------------------------------------------------------------------------------------

class Daemon:
    """One berthd process, a direct child of the test, with its config in `directory`. It can be
    stopped and started again on the same state dir."""

    def __init__(self, directory, config, name="berthd"):
        self.directory = directory
        self.name = name
        self.config_path = os.path.join(directory, name + ".yaml")
        self.port_file = os.path.join(directory, name + ".ports")
        self.log_path = os.path.join(directory, name + ".log")
        self.config = config
        self.process = None
        self.grpc = None
        self.metrics = None
        self.starts = 0
        self.write_config(config)

    # Config -----------------------------------------------------------------------------------

    def write_config(self, config=None, text=None):
        if config is not None:
            self.config = config
        with open(self.config_path + ".tmp", "w") as f:
            f.write(text if text is not None else render_yaml(local_pools_may_run_as_root(self.config)) + "\n")
        os.replace(self.config_path + ".tmp", self.config_path)

    # Life cycle -------------------------------------------------------------------------------

    def start(self, timeout=20):
        """Starts berthd and waits for its port file; fails with its log if it exits first."""
        assert self.process is None or self.process.poll() is not None, "berthd is already running"
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.starts += 1
        log = open(self.log_path, "a")
        log.write("==== start %d ====\n" % self.starts)
        log.flush()
        self.process = subprocess.Popen(
            [BERTHD, "--config", self.config_path, "--port-file", self.port_file],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory)
        log.close()

        def ready():
            if self.process.poll() is not None:
                raise AssertionError("berthd exited with %d before serving; its log:\n%s"
                                     % (self.process.returncode, self.log_tail()))
            text = _read(self.port_file)
            return text if text and text.endswith("\n") else None

        text = wait_until(ready, timeout, lambda: "berthd did not write %s; its log:\n%s"
                          % (self.port_file, self.log_tail()))
        ports = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        self.grpc = ports["grpc"]
        self.metrics = ports.get("metrics") or None
        return self

    def run_to_exit(self, timeout=20):
        """Runs berthd expecting it to exit by itself (a refused start); returns (code, log)."""
        self.starts += 1
        result = subprocess.run([BERTHD, "--config", self.config_path, "--port-file", self.port_file],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=timeout, cwd=self.directory)
        return result.returncode, result.stdout + result.stderr

    def running(self):
        return self.process is not None and self.process.poll() is None

    def signal(self, number):
        self.process.send_signal(number)

    def kill9(self):
        """SIGKILL, then reap, so that no zombie keeps the pid."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait(timeout=20)

    def terminate(self, timeout=20):
        """SIGTERM and wait; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def restart(self):
        return self.start()

    def log_text(self):
        return _read(self.log_path) or ""

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])

    # berthctl ---------------------------------------------------------------------------------

    def ctl(self, *args, output="json", timeout=10, extra=(), env=None):
        """Runs berthctl against this daemon; returns a CtlResult whatever the exit code."""
        argv = [BERTHCTL, "--addr", self.grpc, "-o", output, "--timeout", str(timeout)]
        argv += [str(a) for a in extra] + [str(a) for a in args]
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=timeout + 20, env=env)
        return CtlResult([str(a) for a in argv[1:]], result.returncode, result.stdout, result.stderr)

    def ctl_ok(self, *args, **kwargs):
        """berthctl that must succeed; its parsed JSON output."""
        result = self.ctl(*[str(a) for a in args], **kwargs)
        if result.returncode != 0:
            raise AssertionError("%r\nberthd log:\n%s" % (result, self.log_tail()))
        return result.json()

    def ctl_watch(self, *args, timeout=30, extra=()):
        """`watch ... -o json`; returns the events printed (watch takes --count to end)."""
        argv = [BERTHCTL, "--addr", self.grpc, "-o", "json"] + list(extra) + ["watch"] + [str(a) for a in args]
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        ctl = CtlResult(argv[1:], result.returncode, result.stdout, result.stderr)
        if result.returncode != 0:
            raise AssertionError("%r\nberthd log:\n%s" % (ctl, self.log_tail()))
        return ctl.json_lines()

    # Shorthands -------------------------------------------------------------------------------

    def executors(self, app, states=()):
        args = ["executors", app]
        for state in states:
            args += ["--state", state]
        return self.ctl_ok(*args).get("executors", [])

    def app(self, app):
        return self.ctl_ok("app", "get", app)


def executor_id(executor):
    return int(executor["executorId"])  # int64 is a JSON string in protobuf's mapping


def ids_in(executors, state=None):
    return sorted(executor_id(e) for e in executors if state is None or e.get("state") == state)


def counts(application, profile=0):
    for status in application.get("profileStatus", []):
        if status.get("profileId", 0) == profile:
            return status.get("counts", {})
    return {}


def parse_timestamp(text):
    """Seconds since the epoch of a protobuf JSON Timestamp ("2024-05-01T10:00:00.250Z")."""
    import calendar
    main, _, fraction = text.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
    return seconds + (float("0." + fraction) if fraction else 0.0)


def target_of(application, profile=0):
    for status in application.get("profileStatus", []):
        if status.get("profileId", 0) == profile:
            return status.get("target", 0)
    return 0


# -------------------------------------------------------------------------------------------------
# Certificates
# -------------------------------------------------------------------------------------------------

def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_certificates(directory):
    """In `directory`: a CA (ca.pem, ca.key), a server certificate for 127.0.0.1 and localhost
    (server.pem, server.key), a client certificate (client.pem, client.key), and a second CA that
    signed nothing (other-ca.pem)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=berth-e2e-ca", cwd=directory)
    for name, usage in (("server", "serverAuth"), ("client", "clientAuth")):
        with open(os.path.join(directory, name + ".ext"), "w") as f:
            if name == "server":
                f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
            f.write("extendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n" % usage)
        openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=berth-e2e-" + name, cwd=directory)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2",
                "-extfile", name + ".ext", cwd=directory)
    # A second CA that signed nothing the server trusts.
    openssl("req", "-x509", *ec, "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "2",
            "-subj", "/CN=berth-e2e-other-ca", cwd=directory)


# -------------------------------------------------------------------------------------------------
# The Kubernetes API simulator
# -------------------------------------------------------------------------------------------------

class SimError(AssertionError):
    """A simulator request that answered an unexpected status."""

    def __init__(self, method, path, status, body):
        super().__init__("%s %s -> %s: %s" % (method, path, status, str(body)[:2000]))
        self.status = status
        self.body = body


class SimProcess:
    """One `berth-sim <kind>` process on ephemeral loopback ports, a direct child of the test, with
    its config file and log in `directory`. Subclasses name the kind, add their flags
    (`backend_argv`) and any further port files (`extra_port_files`, read into attributes).
    After kill9() the same object can start() again: a new process, an empty cluster."""

    kind = None

    def __init__(self, directory, config=None, name=None, args=()):
        self.directory = directory
        self.name = name or self.kind + "-sim"
        self.config = config
        self.args = list(args)
        self.config_path = os.path.join(directory, self.name + ".yaml")
        self.port_file = os.path.join(directory, self.name + ".port")
        self.log_path = os.path.join(directory, self.name + ".log")
        self.process = None
        self.address = None

    def backend_argv(self):
        return []

    def extra_port_files(self):
        """{attribute: port file} of further addresses the process writes."""
        return {}

    def start(self, timeout=20):
        assert self.process is None or self.process.poll() is not None, "the simulator is already running"
        argv = [BERTH_SIM, self.kind, "--listen", "127.0.0.1:0", "--port-file", self.port_file]
        if self.config is not None:
            with open(self.config_path, "w") as f:
                f.write(render_yaml(self.config) + "\n")
            argv += ["--config", self.config_path]
        argv += self.backend_argv() + self.args
        for path in [self.port_file] + list(self.extra_port_files().values()):
            if os.path.exists(path):
                os.unlink(path)
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        cwd=self.directory)
        log.close()

        def written(path):
            if self.process.poll() is not None:
                raise AssertionError("berth-sim %s exited with %d; its log:\n%s"
                                     % (self.kind, self.process.returncode, self.log_tail()))
            text = _read(path)
            return text.strip() if text and text.endswith("\n") else None

        self.address = wait_until(lambda: written(self.port_file), timeout,
                                  "berth-sim %s did not write %s" % (self.kind, self.port_file))
        for attribute, path in self.extra_port_files().items():
            setattr(self, attribute, wait_until(lambda: written(path), timeout,
                                                "berth-sim %s did not write %s" % (self.kind, path)))
        return self

    def kill9(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=20)

    def log_tail(self, lines=40):
        return "\n".join((_read(self.log_path) or "").splitlines()[-lines:])

    # Request counts (every kind; subclasses provide call()) -------------------------------------

    def request_counts(self, reset=False):
        """{"METHOD route": n} of the requests the simulator served since it started or since the
        last reset, administration (/sim/...) excepted. Routes are patterns, e.g.
        "DELETE /api/v1/namespaces/{ns}/pods/{name}", "GET /api/v1/namespaces/{ns}/pods watch",
        "DELETE /v1/job/{id}", "POST /api/v1/scheduler KILL". reset=True reads and resets in one
        step."""
        answer = self.call("GET", "/sim/requests" + ("?reset=1" if reset else ""))
        return {"%s %s" % (entry["method"], entry["route"]): entry["count"] for entry in answer["requests"]}

    def reset_request_counts(self):
        self.call("POST", "/sim/requests/reset")


class RequestBudget:
    """Kill storms (regression), for one backend's test case: an executor's launch -> kill ->
    gone costs at most three requests on the simulator's routes that act on executors (its
    creation, one kill, at most one follow-up), however many watch events and resyncs show the
    object while it stops. The case provides POOL, start_cluster(**settings), register_app(app),
    set_target, wait_converged, acts_on_executors(route) and all_ended(app)."""

    EXECUTORS = 5

    def lifecycle(self, end, **cluster):
        """Launch EXECUTORS executors, end them with end(app), wait until they are gone and
        berthd has listed the pool three more times; the counts on executor routes."""
        self.start_cluster(**cluster)
        app = self.app_id("budget")
        self.register_app(app)
        self.sim.reset_request_counts()
        self.set_target(app, self.EXECUTORS)
        self.wait_converged(app, self.EXECUTORS)
        end(app)
        self.wait_until(lambda: self.all_ended(app), 30, "every executor object of %s gone" % app)
        self.wait_resyncs(self.daemon, self.POOL)
        return self.assert_requests_per_executor(self.sim.request_counts(), self.acts_on_executors, self.EXECUTORS)

    def kill_all(self, app):
        self.daemon.ctl_ok("kill", app, *range(1, self.EXECUTORS + 1))

    def unregister(self, app):
        self.daemon.ctl_ok("app", "unregister", app)


class KubernetesSim(SimProcess):
    """One `berth-sim kubernetes` process on an ephemeral loopback port, a direct child of the
    test, with its config file and log in `directory`. Its pod API and its /sim/ admin endpoints
    are called with urllib, over HTTPS and with the bearer token when it serves them so.

    `config` is the simulator's YAML config as a dict (nodes, quotas, behaviours, time_scale ...);
    `tls` a dict with cert, key and ca (PEM paths), optionally client_ca, and client_cert and
    client_key for this client; `token` the bearer token every request needs; `rbac_role` a
    YAML file whose Role (and RoleBinding) authorizes the pod API (`--rbac-role`): the token's
    user is then the RoleBinding's first subject, and /sim/ stays open."""

    kind = "kubernetes"

    def __init__(self, directory, config=None, name="k8s-sim", tls=None, token=None, rbac_role=None, args=()):
        super().__init__(directory, config, name, args)
        self.tls = tls
        self.token = token
        self.rbac_role = rbac_role
        self._context = None
        if tls:
            self._context = ssl.create_default_context(cafile=tls["ca"])
            if tls.get("client_cert"):
                self._context.load_cert_chain(tls["client_cert"], tls["client_key"])

    def backend_argv(self):
        argv = []
        if self.tls:
            argv += ["--tls", "--cert", self.tls["cert"], "--key", self.tls["key"]]
            if self.tls.get("client_ca"):
                argv += ["--client-ca", self.tls["client_ca"]]
        if self.token:
            argv += ["--token", self.token]
        if self.rbac_role:
            argv += ["--rbac-role", self.rbac_role]
        return argv

    @property
    def server(self):
        """The URL a kubeconfig names."""
        return ("https://" if self.tls else "http://") + self.address

    # HTTP -------------------------------------------------------------------------------------

    def request(self, method, path, body=None, timeout=10):
        """(status, parsed JSON or text) of one request; never raises on an HTTP error status."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._context) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text) if text.strip() else {}
        except ValueError:
            return status, text

    def call(self, method, path, body=None, expect=(200, 201, 202)):
        """The parsed answer of a request that must answer one of `expect`."""
        status, answer = self.request(method, path, body)
        if status not in expect:
            raise SimError(method, path, status, answer)
        return answer

    # Pods -------------------------------------------------------------------------------------

    def pods(self, namespace, selector=None):
        path = "/api/v1/namespaces/%s/pods" % namespace
        if selector:
            path += "?" + urllib.parse.urlencode({"labelSelector": selector})
        return self.call("GET", path).get("items", [])

    def create_pod(self, namespace, pod, expect=(201,)):
        return self.call("POST", "/api/v1/namespaces/%s/pods" % namespace, pod, expect=expect)

    def pod(self, namespace, name):
        """The pod, or None when it does not exist."""
        status, answer = self.request("GET", "/api/v1/namespaces/%s/pods/%s" % (namespace, name))
        if status == 404:
            return None
        if status != 200:
            raise SimError("GET", name, status, answer)
        return answer

    # Administration (/sim/) -------------------------------------------------------------------

    def state(self):
        return self.call("GET", "/sim/state")

    def faults(self, **fields):
        return self.call("POST", "/sim/faults", fields)

    def exit_pod(self, namespace, name, code=0, oom=False):
        return self.call("POST", "/sim/pods/%s/%s/exit" % (namespace, name), {"code": code, "oom": oom})

    def kill_node(self, node, mode="fail"):
        return self.call("POST", "/sim/nodes/%s/kill" % node, {"mode": mode})

    def set_quota(self, namespace, name, hard):
        return self.call("POST", "/sim/quotas", {"namespace": namespace, "name": name, "hard": hard})

    def delete_quota(self, namespace, name):
        return self.call("DELETE", "/sim/quotas/%s/%s" % (namespace, name))

    # Clients ----------------------------------------------------------------------------------

    def write_kubeconfig(self, path, namespace=None, token=None, ca=None, client_cert=None, client_key=None):
        """A kubeconfig (YAML) for this simulator; returns its path. Paths in it are absolute."""
        cluster = {"server": self.server}
        if ca:
            cluster["certificate-authority"] = ca
        user = {}
        if token:
            user["token"] = token
        if client_cert:
            user["client-certificate"] = client_cert
            user["client-key"] = client_key
        context = {"cluster": "sim", "user": "berth"}
        if namespace:
            context["namespace"] = namespace
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sim", "cluster": cluster}],
            "users": [{"name": "berth", "user": user}],
            "contexts": [{"name": "sim", "context": context}],
            "current-context": "sim",
        }
        with open(path, "w") as f:
            f.write(render_yaml(kubeconfig) + "\n")
        return path


# -------------------------------------------------------------------------------------------------
# The Mesos master simulator
# -------------------------------------------------------------------------------------------------

class MesosSim(SimProcess):
    """One `berth-sim mesos` process (a leading master, and a standby when `standby` is true) on
    ephemeral loopback ports, a direct child of the test, with its config file and log in
    `directory`. Its /sim/ admin endpoints are called with urllib, with basic authentication when
    it requires it.

    `config` is the simulator's YAML config as a dict (agents, behaviours, update_retry ...);
    `time_scale` and `heartbeat` (seconds) become its flags; `principal` and `secret` make every
    request need `Authorization: Basic`."""

    kind = "mesos"

    def __init__(self, directory, config=None, name="mesos-sim", time_scale=10, heartbeat=None,
                 standby=False, principal=None, secret=None, args=()):
        super().__init__(directory, config, name, args)
        self.time_scale = time_scale
        self.heartbeat = heartbeat
        self.standby = standby
        self.principal = principal
        self.secret = secret
        self.standby_port_file = os.path.join(directory, self.name + ".standby-port")
        self.standby_address = None

    def backend_argv(self):
        argv = []
        if self.time_scale is not None:
            argv += ["--time-scale", str(self.time_scale)]
        if self.heartbeat is not None:
            argv += ["--heartbeat", str(self.heartbeat)]
        if self.standby:
            argv += ["--standby-listen", "127.0.0.1:0", "--standby-port-file", self.standby_port_file]
        if self.principal:
            argv += ["--principal", self.principal, "--secret", self.secret]
        return argv

    def extra_port_files(self):
        return {"standby_address": self.standby_port_file} if self.standby else {}

    @property
    def master(self):
        """The URL of the master started as the leader (berthd's `masters:` entry)."""
        return "http://" + self.address

    @property
    def standby_master(self):
        return "http://" + self.standby_address

    # HTTP -------------------------------------------------------------------------------------

    def request(self, method, path, body=None, timeout=10, address=None):
        """(status, parsed JSON or text) of one request; never raises on an HTTP error status."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request("http://%s%s" % (address or self.address, path), data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.principal:
            token = base64.b64encode(("%s:%s" % (self.principal, self.secret)).encode()).decode()
            request.add_header("Authorization", "Basic " + token)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text) if text.strip() else {}
        except ValueError:
            return status, text

    def call(self, method, path, body=None, expect=(200, 201, 202)):
        """The parsed answer of a request that must answer one of `expect`."""
        status, answer = self.request(method, path, body)
        if status not in expect:
            raise SimError(method, path, status, answer)
        return answer

    # Administration (/sim/) -------------------------------------------------------------------

    def state(self):
        return self.call("GET", "/sim/state")

    def frameworks(self):
        return self.state()["frameworks"]

    def tasks(self, framework_id=None):
        """The tasks the master knows (not yet ended and acknowledged), optionally of one framework."""
        return [t for t in self.state()["tasks"] if framework_id is None or t["framework_id"] == framework_id]

    def agents(self):
        return self.state()["agents"]

    def faults(self, **fields):
        return self.call("POST", "/sim/faults", fields)

    def advance(self, seconds):
        return self.call("POST", "/sim/advance", {"seconds": seconds})

    def add_agent(self, **agent):
        return self.call("POST", "/sim/agents", agent)["id"]

    def remove_agent(self, agent, mode="lost"):
        return self.call("POST", "/sim/agents/%s/remove" % agent, {"mode": mode})

    def exit_task(self, task_id, code=0, oom=False):
        return self.call("POST", "/sim/tasks/%s/exit" % task_id, {"code": code, "oom": oom})

    def swap_leader(self):
        """Master failover: the standby leads, the old leader redirects to it (`state()["leader"]`
        names the leader; both addresses keep serving /sim/)."""
        return self.call("POST", "/sim/leader")


# -------------------------------------------------------------------------------------------------
# The test case base
# -------------------------------------------------------------------------------------------------

class BerthTestCase(unittest.TestCase):
    """A temp dir, a marker, daemons started through new_daemon(), and a tearDown that kills
    every daemon and every process carrying the marker."""

    # The executor command: `sleep` as its comm, so the live executors are countable.
    EXECUTOR_COMM = "sleep"
    EXECUTOR_COMMAND = ("sleep", "3600")

    def setUp(self):
        for binary in (BERTHD, BERTHCTL):
            if not os.access(binary, os.X_OK):
                self.fail("%s is not built (set BERTHD and BERTHCTL)" % binary)
        self.tmp = tempfile.mkdtemp(prefix="berth-e2e-")
        self.marker = uuid.uuid4().hex
        self.daemons = []
        self.sims = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for daemon in self.daemons:
            try:
                daemon.kill9()
            except Exception:  # keep cleaning up
                pass
        for sim in self.sims:
            try:
                sim.kill9()
            except Exception:  # keep cleaning up
                pass
        kill_marked(self.marker)
        if os.environ.get("BERTH_E2E_KEEP"):
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _failure_context(self):
        return "\n".join(["---- %s log (%s) ----\n%s" % (d.name, d.log_path, d.log_tail())
                          for d in self.daemons] +
                         ["---- %s log (%s) ----\n%s" % (s.name, s.log_path, s.log_tail(20))
                          for s in self.sims])

    def new_daemon(self, start=True, name="berthd", **overrides):
        state_dir = os.path.join(self.tmp, name + "-state")
        daemon = Daemon(self.tmp, base_config(state_dir, **overrides), name=name)
        self.daemons.append(daemon)
        if start:
            daemon.start()
        return daemon

    def new_kubernetes_sim(self, config=None, name="k8s-sim", start=True, **kwargs):
        """A `berth-sim kubernetes` (see KubernetesSim), killed at tearDown."""
        if not os.access(BERTH_SIM, os.X_OK):
            self.fail("%s is not built (set BERTH_SIM)" % BERTH_SIM)
        sim = KubernetesSim(self.tmp, config, name=name, **kwargs)
        self.sims.append(sim)
        if start:
            sim.start()
        return sim

    def app_id(self, prefix):
        return "%s-%s" % (prefix, uuid.uuid4().hex[:8])

    def register(self, daemon, app, *options, command=None, extra=()):
        """`app register APP --pool local --env MARKER ... -- COMMAND`."""
        command = list(command or self.EXECUTOR_COMMAND)
        return daemon.ctl_ok("app", "register", app, "--pool", "local",
                             "--env", "%s=%s" % (MARKER_VAR, self.marker), *options, "--", *command,
                             extra=extra)

    def wait_until(self, predicate, timeout, message):
        try:
            return wait_until(predicate, timeout, message)
        except WaitTimeout as error:
            raise WaitTimeout("%s\n%s" % (error, self._failure_context())) from None

    # Backend requests per executor (kill storms) -------------------------------------------------

    def pool_lists(self, daemon, pool):
        """Full lists of `pool` that berthd has completed since it started."""
        pools = daemon.ctl_ok("pools").get("pools", [])
        return int(next(p for p in pools if p["name"] == pool).get("lists", "0"))

    def wait_resyncs(self, daemon, pool, count=3, timeout=30):
        """Until berthd has listed `pool` `count` more times: every object it still knows has been
        seen again, so a kill it would repeat on each sighting has been repeated."""
        start = self.pool_lists(daemon, pool)
        self.wait_until(lambda: self.pool_lists(daemon, pool) >= start + count, timeout,
                        "%d more full lists of pool %s" % (count, pool))

    def assert_requests_per_executor(self, counts, is_executor_route, executors, budget=3):
        """The requests the simulator counted on routes that act on executors (create, kill,
        per-object reads) are at most `budget` per executor: creation, one kill, at most one
        follow-up. Lists, watches and streams serve every executor at once and are not counted."""
        acting = {route: n for route, n in counts.items() if is_executor_route(route)}
        self.assertLessEqual(sum(acting.values()), budget * executors,
                             "backend requests on executor routes for %d executors: %s (all: %s)"
                             % (executors, acting, counts))
        return acting

    def live_executors(self, app=None):
        """The executor processes alive now (comm `sleep`, the marker in their environment),
        optionally only `app`'s."""
        found = marked_processes(self.marker, self.EXECUTOR_COMM)
        if app is not None:
            found = [p for p in found if p["env"].get("SPARK_APPLICATION_ID") == app]
        return found

    def live_shims(self, app=None):
        """The berth-local-exec supervisors alive now, optionally only `app`'s."""
        found = marked_processes(self.marker, SHIM_COMM)
        if app is not None:
            found = [p for p in found if p["env"].get("SPARK_APPLICATION_ID") == app]
        return found

    def live_backend_names(self, app=None):
        return sorted(p["env"].get("BERTH_BACKEND_NAME", "?") for p in self.live_executors(app))

    def wait_running(self, daemon, app, n, timeout=30):
        """Until exactly n executors are RUNNING and n executor processes of app are alive."""
        def converged():
            running = daemon.executors(app, states=["RUNNING"])
            live = self.live_executors(app)
            return running if len(running) == n and len(live) == n else None
        return self.wait_until(converged, timeout, "%d RUNNING executors of %s with %d live processes"
                               % (n, app, n))

    def assert_running_match_processes(self, daemon, app, running=None):
        """Each RUNNING executor has exactly one live process, with its backend name and id in its
        environment, in its own directory; and no live process is unaccounted for."""
        running = daemon.executors(app, states=["RUNNING"]) if running is None else running
        live = self.live_executors(app)
        names = sorted(p["env"].get("BERTH_BACKEND_NAME") for p in live)
        self.assertEqual(len(names), len(set(names)), "two processes for one executor: %s" % names)
        self.assertEqual(sorted(e["backendName"] for e in running), names,
                         "RUNNING executors and live processes differ")
        # A supervisor outlives its executor by the moment it takes to record the exit.
        self.wait_until(lambda: sorted(p["env"].get("BERTH_BACKEND_NAME") for p in self.live_shims(app)) == names,
                        5, "one berth-local-exec per executor, none left over: %s" % names)
        by_name = {p["env"]["BERTH_BACKEND_NAME"]: p for p in live}
        for executor in running:
            process = by_name[executor["backendName"]]
            self.assertEqual(process["env"].get("SPARK_EXECUTOR_ID"), str(executor_id(executor)))
            self.assertEqual(os.path.basename(process["cwd"] or ""), executor["backendName"])
            self.assertTrue(os.path.isfile(os.path.join(process["cwd"], "executor.json")))
