"""berth.Client: the Executors service of berthd with the conveniences every driver needs.

- several daemon addresses: a call that finds its daemon UNAVAILABLE goes to the next one;
- retries with exponential backoff and jitter for UNAVAILABLE (every Executors call is
  idempotent: absolute totals, kills by id, a register that accepts an identical spec again);
- one deadline per call, covering its retries;
- a bearer token (given, or read from a file on every call) and TLS / mutual TLS;
- watch(): an iterator over WatchEvents that resumes after the last revision it delivered when
  the stream breaks, and passes RESYNC on (a snapshot of the current state follows it);
- keep_lease(): a thread calling KeepAlive every interval.

Errors reach the caller as grpc.RpcError with berthd's code and message. A Client is safe to
share between threads; close it (or use it as a context manager) to release its channels.
"""

import os
import random
import threading
import time

import grpc

from berth.v1 import berth_pb2 as pb
from berth.v1 import berth_pb2_grpc

DEFAULT_ADDRESS = "127.0.0.1:7433"
TERMINAL_STATES = frozenset(["SUCCEEDED", "FAILED", "KILLED", "LOST", "LAUNCH_FAILED", "CANCELLED"])
_FATAL = frozenset([grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
                    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                    grpc.StatusCode.UNIMPLEMENTED])


def executor_state_name(state):
    """"RUNNING" for pb.RUNNING."""
    return pb.ExecutorState.Name(state)


def profile(profile_id, cores, heap_mib, overhead_mib=0, overhead_factor=0.0, offheap_mib=0, pyspark_mib=0,
            resources=()):
    """A ResourceProfile; resources: (name, vendor, amount) tuples."""
    return pb.ResourceProfile(id=profile_id, cores=cores, heap_mib=heap_mib, overhead_mib=overhead_mib,
                              overhead_factor=overhead_factor, offheap_mib=offheap_mib, pyspark_mib=pyspark_mib,
                              resources=[pb.CustomResource(name=n, vendor=v, amount=a) for n, v, a in resources])


def launch_spec(image="", command=(), args=(), env=None, labels=None, annotations=None):
    return pb.LaunchSpec(image=image, command=list(command), args=list(args), env=env or {}, labels=labels or {},
                         annotations=annotations or {})


def _split(addresses):
    if isinstance(addresses, str):
        addresses = addresses.split(",")
    result = [a.strip() for a in addresses if a and a.strip()]
    return result or [DEFAULT_ADDRESS]


def _read(path):
    with open(path, "rb") as f:
        return f.read()


class _TokenAuth(grpc.AuthMetadataPlugin):
    def __init__(self, token_source):
        self._token_source = token_source

    def __call__(self, context, callback):
        try:
            callback((("authorization", "Bearer " + self._token_source()),), None)
        except OSError as error:
            callback((), error)


class Client:
    """See the module's documentation. Keyword arguments:

    token / token_file   bearer token, or a file holding it (re-read on every call)
    tls                  TLS with the system's CAs (implied by ca_file or cert_file)
    ca_file, cert_file, key_file, authority   server CA, client certificate (mutual TLS), name to verify
    timeout              deadline of one call in seconds, retries included (default 30)
    attempts             attempts per call while the daemon is UNAVAILABLE (default 5)
    initial_backoff, max_backoff   seconds (default 0.1 and 5)
    """

    def __init__(self, addresses=DEFAULT_ADDRESS, *, token=None, token_file=None, tls=False, ca_file=None,
                 cert_file=None, key_file=None, authority=None, timeout=30.0, attempts=5, initial_backoff=0.1,
                 max_backoff=5.0):
        if token is not None and token_file is not None:
            raise ValueError("give a token or a token file, not both")
        if (cert_file is None) != (key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS)")
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self.addresses = _split(addresses)
        self.timeout = timeout
        self.attempts = attempts
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._token = token
        self._token_file = token_file
        self._lock = threading.Lock()
        self._current = 0
        self._channels = []
        self._stubs = []
        tls = tls or ca_file is not None or cert_file is not None
        self._tls = tls
        options = [("grpc.override_ssl_target_name", authority)] if authority else []
        for address in self.addresses:
            if tls:
                credentials = grpc.ssl_channel_credentials(
                    root_certificates=_read(ca_file) if ca_file else None,
                    private_key=_read(key_file) if key_file else None,
                    certificate_chain=_read(cert_file) if cert_file else None)
                if token is not None or token_file is not None:
                    credentials = grpc.composite_channel_credentials(
                        credentials, grpc.metadata_call_credentials(_TokenAuth(self._bearer_token)))
                channel = grpc.secure_channel(address, credentials, options)
            else:
                channel = grpc.insecure_channel(address, options)
            self._channels.append(channel)
            self._stubs.append(berth_pb2_grpc.ExecutorsStub(channel))

    @classmethod
    def from_environment(cls, **kwargs):
        """A client of BERTH_ADDR (comma-separated) with BERTH_TOKEN_FILE, as berthctl reads them."""
        kwargs.setdefault("token_file", os.environ.get("BERTH_TOKEN_FILE") or None)
        return cls(os.environ.get("BERTH_ADDR") or DEFAULT_ADDRESS, **kwargs)

    # Context manager -------------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for channel in self._channels:
            channel.close()

    @property
    def current_address(self):
        """The address the next call goes to first."""
        return self.addresses[self._current]

    # Executors calls ---------------------------------------------------------------------------

    def register_application(self, app_id, *, pools=(), profiles=(), launch=None, image="", command=(), args=(),
                             env=None, labels=None, annotations=None, driver_url="", driver_pod=None,
                             lease_ttl=0, tenant=""):
        """Registers an application; `launch` (a pb.LaunchSpec) or image/command/args/env/labels/annotations.
        ALREADY_EXISTS when the id is registered with another spec."""
        if launch is None:
            launch = launch_spec(image, command, args, env, labels, annotations)
        request = pb.RegisterApplicationRequest(
            app_id=app_id, tenant=tenant, pools=list(pools), profiles=list(profiles) or [profile(0, 1, 1024)],
            launch=launch, driver=pb.Driver(url=driver_url, pod=driver_pod), lease_ttl_seconds=int(lease_ttl))
        return self._call("RegisterApplication", request)

    def request_total_executors(self, app_id, totals, locality=None, locality_aware_tasks=None):
        """Absolute totals {profile id: n}; locality {profile id: {host: tasks}}. Returns at once."""
        request = pb.RequestTotalExecutorsRequest(
            app_id=app_id, totals=dict(totals),
            locality={p: pb.HostTasks(tasks_per_host=hosts) for p, hosts in (locality or {}).items()},
            locality_aware_tasks=dict(locality_aware_tasks or {}))
        return self._call("RequestTotalExecutors", request)

    def kill_executors(self, app_id, executor_ids, adjust_target=True, force=False):
        request = pb.KillExecutorsRequest(app_id=app_id, executor_ids=[int(i) for i in executor_ids],
                                          adjust_target=adjust_target, force=force)
        return self._call("KillExecutors", request)

    def decommission_executors(self, app_id, executor_ids, grace_seconds=0, adjust_target=False):
        request = pb.DecommissionExecutorsRequest(app_id=app_id, executor_ids=[int(i) for i in executor_ids],
                                                  grace_seconds=int(grace_seconds), adjust_target=adjust_target)
        return self._call("DecommissionExecutors", request)

    def get_application(self, app_id):
        return self._call("GetApplication", pb.GetApplicationRequest(app_id=app_id))

    def list_executors(self, app_id, states=()):
        """ListExecutorsResponse; states: names ("RUNNING") or enum values, empty = all."""
        values = [pb.ExecutorState.Value(s) if isinstance(s, str) else s for s in states]
        return self._call("ListExecutors", pb.ListExecutorsRequest(app_id=app_id, states=values))

    def keep_alive(self, app_id):
        return self._call("KeepAlive", pb.KeepAliveRequest(app_id=app_id))

    def unregister_application(self, app_id, reason=""):
        """Ends the application: berthd kills its executors."""
        return self._call("UnregisterApplication", pb.UnregisterApplicationRequest(app_id=app_id, reason=reason))

    # Watch and lease -----------------------------------------------------------------------------

    def watch(self, app_id="", from_revision=0):
        """An EventWatch: iterate it for pb.Event values (EXECUTOR, APPLICATION, RESYNC, SYNCED)."""
        return EventWatch(self, app_id, from_revision)

    def keep_lease(self, app_id, interval, on_failure=None):
        """A LeaseKeeper calling KeepAlive every `interval` seconds until closed."""
        return LeaseKeeper(self, app_id, interval, on_failure)

    # Internals ---------------------------------------------------------------------------------

    def _bearer_token(self):
        if self._token is not None:
            return self._token
        return _read(self._token_file).decode().strip()

    def _stub(self, index):
        return self._stubs[index]

    def _fail_over(self, index):
        with self._lock:
            if self._current == index:
                self._current = (index + 1) % len(self.addresses)

    def _backoff(self, attempt):
        """Seconds before attempt `attempt` + 1: exponential, capped, half of it jitter."""
        exp = min(self.max_backoff, self.initial_backoff * (2 ** min(attempt - 1, 20)))
        return exp / 2 + random.uniform(0, exp / 2)

    def _call(self, method, request):
        deadline = time.monotonic() + self.timeout
        attempt = 0
        rounds = 0
        while True:
            attempt += 1
            index = self._current
            remaining = deadline - time.monotonic()
            try:
                return getattr(self._stub(index), method)(request, timeout=max(remaining, 0.001),
                                                          metadata=self._plain_metadata())
            except grpc.RpcError as error:
                if (error.code() != grpc.StatusCode.UNAVAILABLE or attempt >= self.attempts
                        or time.monotonic() >= deadline):
                    raise
                self._fail_over(index)
                if attempt % len(self.addresses) == 0:  # each address once, then back off
                    rounds += 1
                    time.sleep(max(0.0, min(self._backoff(rounds), deadline - time.monotonic())))

    def _plain_metadata(self):
        """The token as call metadata on plaintext channels (TLS channels carry it as call
        credentials, which gRPC sends only over TLS)."""
        if self._tls:
            return None
        if self._token is None and self._token_file is None:
            return None
        return (("authorization", "Bearer " + self._bearer_token()),)


class EventWatch:
    """WatchEvents that survives broken streams. Iterating yields pb.Event values in order; when
    the stream breaks (daemon restarted, connection lost, watcher fell behind) it is reopened
    from the revision of the last event delivered, after a backoff, on the next address if the
    daemon was UNAVAILABLE. If that revision has left berthd's window, a RESYNC event is yielded
    and a snapshot of the current state follows, then SYNCED: rebuild derived state from it. A
    stream broken during a snapshot resumes from before the snapshot, so nothing is skipped.
    Errors retrying cannot fix (NOT_FOUND, PERMISSION_DENIED, ...) are raised as grpc.RpcError.

    `revision` is the resume point, `streams` the number of streams opened. close() (from any
    thread) ends the iteration."""

    def __init__(self, client, app_id, from_revision):
        self._client = client
        self.app_id = app_id
        self.revision = from_revision
        self.streams = 0
        self.disconnects = 0
        self._closed = threading.Event()
        self._call = None
        self._lock = threading.Lock()

    def __iter__(self):
        return self._events()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._closed.set()
        with self._lock:
            call = self._call
        if call is not None:
            call.cancel()

    def _events(self):
        failures = 0
        while not self._closed.is_set():
            index = self._client._current
            in_snapshot = self.revision == 0
            request = pb.WatchEventsRequest(app_id=self.app_id, from_revision=self.revision)
            call = self._client._stub(index).WatchEvents(request, metadata=self._client._plain_metadata())
            with self._lock:
                self._call = call
                self.streams += 1
            if self._closed.is_set():
                call.cancel()
            try:
                for event in call:
                    failures = 0
                    if event.type == pb.Event.RESYNC:
                        in_snapshot = True
                    elif event.type == pb.Event.SYNCED:
                        in_snapshot = False
                        self.revision = max(self.revision, event.revision)
                    elif not in_snapshot:
                        self.revision = max(self.revision, event.revision)
                    yield event
                code = grpc.StatusCode.UNAVAILABLE  # the daemon ended the stream
            except grpc.RpcError as error:
                code = error.code()
                if self._closed.is_set():
                    return
                if code in _FATAL:
                    raise
            finally:
                with self._lock:
                    self._call = None
            if self._closed.is_set():
                return
            if code == grpc.StatusCode.UNAVAILABLE:
                self._client._fail_over(index)
            failures += 1
            self.disconnects += 1
            self._closed.wait(self._client._backoff(failures))


class LeaseKeeper:
    """Calls KeepAlive for an application every `interval` seconds on a thread until closed. A
    failed call goes to on_failure(error) (if given) and is tried again at the next tick."""

    def __init__(self, client, app_id, interval, on_failure=None):
        self._client = client
        self._app_id = app_id
        self._interval = interval
        self._on_failure = on_failure
        self._stop = threading.Event()
        self.renewals = 0
        self._thread = threading.Thread(target=self._run, name="berth-lease-" + app_id, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self._client.keep_alive(self._app_id)
                self.renewals += 1
            except grpc.RpcError as error:
                if self._on_failure is not None:
                    self._on_failure(error)
            self._stop.wait(self._interval)

    def close(self):
        self._stop.set()
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
