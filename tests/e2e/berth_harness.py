"""Shared fixture of the end-to-end tests: a real berthd and berthctl on ephemeral loopback ports.

Every test gets its own temporary directory (config, state, logs), its own daemon on port 0, and
a unique marker that it passes to its executors as BERTH_E2E_MARKER. The executors that are
actually alive are found by scanning /proc for that marker, and tearDown kills every process that
carries it, even when the test failed, so that no test leaks processes into another.

Standard library only. The binaries come from the environment: BERTHD and BERTHCTL (CTest sets
them); by default the ones under build/bin of the checkout. Run all with `ctest -R e2e -j2`, or one
module from this folder with `/usr/bin/python3 -m unittest -v test_lifecycle`; BERTH_E2E_KEEP=1
keeps each test's directory (config, berthd.log, executor dirs) for a post-mortem.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
BERTHD = os.environ.get("BERTHD", os.path.join(SOURCE_DIR, "build", "bin", "berthd"))
BERTHCTL = os.environ.get("BERTHCTL", os.path.join(SOURCE_DIR, "build", "bin", "berthctl"))

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


def base_config(state_dir, **overrides):
    config = {
        "state_dir": state_dir,
        "listen": "127.0.0.1:0",
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
    return config


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
            f.write(text if text is not None else render_yaml(self.config) + "\n")
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
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for daemon in self.daemons:
            try:
                daemon.kill9()
            except Exception:  # keep cleaning up
                pass
        kill_marked(self.marker)
        if os.environ.get("BERTH_E2E_KEEP"):
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _failure_context(self):
        return "\n".join("---- %s log (%s) ----\n%s" % (d.name, d.log_path, d.log_tail())
                         for d in self.daemons)

    def new_daemon(self, start=True, name="berthd", **overrides):
        state_dir = os.path.join(self.tmp, name + "-state")
        daemon = Daemon(self.tmp, base_config(state_dir, **overrides), name=name)
        self.daemons.append(daemon)
        if start:
            daemon.start()
        return daemon

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
