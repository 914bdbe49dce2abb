"""`berth-sim nomad` for the end-to-end tests of Nomad pools (test_nomad.py).

NomadSim runs the simulator as a direct child of the test on an ephemeral loopback port, with its
config file and log in the test's directory, and calls its Nomad API and its /sim/ admin endpoints
with urllib: over HTTPS when it serves TLS, and with the ACL token when it has one. Kept apart from
berth_harness.py so that the shared fixture stays backend-neutral; it reuses its helpers.

Standard library only.
"""

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request

from berth_harness import SimError, SimProcess


class NomadSim(SimProcess):
    """One `berth-sim nomad` process. `config` is the simulator's YAML config as a dict (nodes,
    behaviours, time_scale, heartbeat_interval ...); `tls` a dict with cert, key and ca (PEM
    paths); `token` the ACL (management) token every request needs."""

    kind = "nomad"

    def __init__(self, directory, config=None, name="nomad-sim", tls=None, token=None, args=()):
        super().__init__(directory, config, name, args)
        self.tls = tls
        self.token = token
        self._context = ssl.create_default_context(cafile=tls["ca"]) if tls else None

    def backend_argv(self):
        argv = []
        if self.tls:
            argv += ["--tls", "--cert", self.tls["cert"], "--key", self.tls["key"]]
        if self.token:
            argv += ["--acl-token", self.token]
        return argv

    @property
    def url(self):
        """The agent address a pool's `nomad.address` names."""
        return ("https://" if self.tls else "http://") + self.address

    # HTTP -------------------------------------------------------------------------------------

    def request(self, method, path, body=None, timeout=10, token=None):
        """(status, parsed JSON or text) of one request; never raises on an HTTP error status.
        `token` overrides the simulator's token ("" sends none)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        token = self.token if token is None else token
        if token:
            request.add_header("X-Nomad-Token", token)
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

    def call(self, method, path, body=None, expect=(200,)):
        """The parsed answer of a request that must answer one of `expect`."""
        status, answer = self.request(method, path, body)
        if status not in expect:
            raise SimError(method, path, status, answer)
        return answer

    # The Nomad API ----------------------------------------------------------------------------

    def jobs(self, prefix=""):
        """Job stubs, with their Meta, whose ID starts with `prefix` (the simulator pages only
        when asked to)."""
        return self.call("GET", "/v1/jobs?" + urllib.parse.urlencode({"prefix": prefix, "meta": "true"}))

    def job(self, job_id):
        """The full job, or None when it does not exist (purged or never registered)."""
        status, answer = self.request("GET", "/v1/job/" + urllib.parse.quote(job_id, safe=""))
        if status == 404:
            return None
        if status != 200:
            raise SimError("GET", job_id, status, answer)
        return answer

    def job_allocations(self, job_id):
        return self.call("GET", "/v1/job/%s/allocations?all=true" % urllib.parse.quote(job_id, safe=""))

    def job_evaluations(self, job_id):
        return self.call("GET", "/v1/job/%s/evaluations" % urllib.parse.quote(job_id, safe=""))

    def allocations(self):
        return self.call("GET", "/v1/allocations")

    # Administration (/sim/) -------------------------------------------------------------------

    def state(self):
        return self.call("GET", "/sim/state")

    def faults(self, **fields):
        return self.call("POST", "/sim/faults", fields)

    def add_node(self, name, **fields):
        return self.call("POST", "/sim/nodes", dict(fields, name=name))

    def node_down(self, name):
        return self.call("POST", "/sim/nodes/%s/down" % name)

    def node_up(self, name):
        return self.call("POST", "/sim/nodes/%s/up" % name)

    def exit_allocation(self, alloc_id, code=0, oom=False):
        return self.call("POST", "/sim/allocations/%s/exit" % alloc_id, {"code": code, "oom": oom})
