"""berth.Client against a real berthd: calls, errors, fail-over, retries, deadlines, tokens, TLS,
the lease keeper and the resumable watch."""

import os
import socket
import threading
import time

import grpc
import pytest

import berth
from berth import pb
from conftest import local_app_kwargs, wait_until
import berth_harness


def dead_address():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "127.0.0.1:%d" % s.getsockname()[1]


def running(client, app, n):
    def check():
        found = client.list_executors(app, states=["RUNNING"]).executors
        return found if len(found) == n else None
    return wait_until(check, 30, "%d RUNNING executors of %s" % (n, app))


def test_register_target_kill_unregister(harness, daemon):
    with berth.Client(daemon.grpc) as client:
        app = harness.app_id("py")
        registered = client.register_application(app, profiles=[berth.profile(0, cores=1, heap_mib=512)],
                                                 **local_app_kwargs(harness))
        assert registered.phase == pb.ACTIVE
        client.register_application(app, profiles=[berth.profile(0, cores=1, heap_mib=512)],
                                    **local_app_kwargs(harness))  # identical spec: accepted again
        assert client.request_total_executors(app, {0: 2}, locality={0: {"host-a": 2}}).accepted
        assert sorted(e.executor_id for e in running(client, app, 2)) == [1, 2]
        killed = client.kill_executors(app, [1, 42])
        assert list(killed.killed) == [1] and list(killed.unknown) == [42]
        assert client.get_application(app).profile_status[0].target == 1
        assert [e.executor_id for e in running(client, app, 1)] == [2]
        client.unregister_application(app, "test done")
        wait_until(lambda: not client.list_executors(app, states=["RUNNING"]).executors, 20, "executors ended")
        assert client.get_application(app).phase == pb.ENDED


def test_errors_carry_the_daemons_codes(harness, daemon):
    with berth.Client(daemon.grpc) as client:
        with pytest.raises(grpc.RpcError) as error:
            client.get_application("no-such-app")
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        app = harness.app_id("py-errors")
        client.register_application(app, **local_app_kwargs(harness))
        with pytest.raises(grpc.RpcError) as error:
            client.request_total_executors(app, {9: 1})
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        client.unregister_application(app)


def test_fails_over_to_the_next_address(harness, daemon):
    with berth.Client([dead_address(), daemon.grpc], initial_backoff=0.02, max_backoff=0.1) as client:
        app = harness.app_id("py-failover")
        client.register_application(app, **local_app_kwargs(harness))
        assert client.current_address == daemon.grpc
        client.unregister_application(app)


def test_the_deadline_covers_the_retries():
    with berth.Client(dead_address(), timeout=0.5, attempts=1000, initial_backoff=0.05, max_backoff=0.2) as client:
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as error:
            client.get_application("any")
        assert error.value.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)
        assert time.monotonic() - start < 3


def restart_on_same_port(daemon):
    """kill -9 berthd and start it again on the port it had."""
    port = daemon.grpc.rsplit(":", 1)[1]
    daemon.kill9()
    daemon.config["listen"] = "127.0.0.1:" + port
    daemon.write_config()
    daemon.start()


def test_retries_unavailable_until_the_daemon_is_back(harness, daemon):
    app = harness.app_id("py-retry")
    with berth.Client(daemon.grpc, attempts=1000, initial_backoff=0.05, max_backoff=0.3) as client, \
            berth.Client(daemon.grpc, attempts=1) as once:
        client.register_application(app, **local_app_kwargs(harness))
        port = daemon.grpc.rsplit(":", 1)[1]
        daemon.kill9()
        with pytest.raises(grpc.RpcError) as error:
            once.get_application(app)
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        result = {}
        thread = threading.Thread(target=lambda: result.setdefault("app", client.get_application(app)))
        thread.start()
        daemon.config["listen"] = "127.0.0.1:" + port
        daemon.write_config()
        daemon.start()
        thread.join(30)
        assert result["app"].app_id == app
        client.unregister_application(app)


def test_token_file_and_mutual_tls(harness):
    berth_harness.make_certificates(harness.tmp)
    cert = lambda name: os.path.join(harness.tmp, name)  # noqa: E731
    token = "python-client-test-token-0123456789"
    with open(cert("tokens.yaml"), "w") as f:
        f.write('tokens:\n  - {token: "%s", tenant: default, role: driver}\n' % token)
    with open(cert("token"), "w") as f:
        f.write(token + "\n")
    daemon = harness.new_daemon(tls={"cert_file": cert("server.pem"), "key_file": cert("server.key"),
                                     "client_ca_file": cert("ca.pem")}, tokens_file=cert("tokens.yaml"))
    tls = dict(ca_file=cert("ca.pem"), cert_file=cert("client.pem"), key_file=cert("client.key"), attempts=1)
    with berth.Client(daemon.grpc, token_file=cert("token"), **tls) as client:
        app = harness.app_id("py-tls")
        assert client.register_application(app, **local_app_kwargs(harness)).app_id == app
        client.unregister_application(app)
    with berth.Client(daemon.grpc, **tls) as no_token:
        with pytest.raises(grpc.RpcError) as error:
            no_token.get_application("any")
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with berth.Client(daemon.grpc, token=token, attempts=1) as plaintext:
        with pytest.raises(grpc.RpcError) as error:
            plaintext.get_application("any")
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_token_on_a_plaintext_loopback_daemon(harness):
    token = "python-plaintext-token-0123456789"
    path = os.path.join(harness.tmp, "tokens.yaml")
    with open(path, "w") as f:
        f.write('tokens:\n  - {token: "%s", tenant: default, role: driver}\n' % token)
    daemon = harness.new_daemon(tokens_file=path)
    with berth.Client(daemon.grpc, token=token) as client:
        with pytest.raises(grpc.RpcError) as error:
            client.get_application("no-such-app")
        assert error.value.code() == grpc.StatusCode.NOT_FOUND  # authenticated, then not found


def test_keep_lease_moves_the_deadline(harness, daemon):
    with berth.Client(daemon.grpc) as client:
        app = harness.app_id("py-lease")
        first = client.register_application(app, lease_ttl=3, **local_app_kwargs(harness)).lease_deadline.seconds
        with client.keep_lease(app, 0.2):
            wait_until(lambda: client.get_application(app).lease_deadline.seconds >= first + 2, 10,
                       "the lease deadline moves on")
            assert client.get_application(app).phase == pb.ACTIVE
        client.unregister_application(app)


def collect(watch, into, stop_when):
    """Iterates the watch on a thread, appending events, until stop_when(events) is true."""
    def run():
        for event in watch:
            into.append(event)
            if stop_when(into):
                return
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def saw(events, executor_id, state):
    return any(e.type == pb.Event.EXECUTOR and e.executor.executor_id == executor_id
               and e.executor.state == pb.ExecutorState.Value(state) for e in events)


def test_watch_snapshot_then_live(harness, daemon):
    with berth.Client(daemon.grpc) as client:
        app = harness.app_id("py-watch")
        client.register_application(app, **local_app_kwargs(harness))
        events = []
        with client.watch(app) as watch:
            thread = collect(watch, events, lambda ev: saw(ev, 2, "RUNNING") and saw(ev, 1, "RUNNING"))
            wait_until(lambda: any(e.type == pb.Event.SYNCED for e in events), 10, "SYNCED")
            assert events[0].type == pb.Event.APPLICATION
            client.request_total_executors(app, {0: 2})
            thread.join(30)
            assert saw(events, 1, "RUNNING") and saw(events, 2, "RUNNING")
            assert watch.revision >= events[-1].revision
        client.unregister_application(app)


def test_watch_resumes_after_the_daemon_crashes(harness, daemon):
    with berth.Client(daemon.grpc, attempts=1000, initial_backoff=0.05, max_backoff=0.3) as client:
        app = harness.app_id("py-resume")
        client.register_application(app, **local_app_kwargs(harness))
        client.request_total_executors(app, {0: 2})
        running(client, app, 2)
        events = []
        with client.watch(app) as watch:
            thread = collect(watch, events, lambda ev: saw(ev, 1, "KILLED"))
            wait_until(lambda: any(e.type == pb.Event.SYNCED for e in events), 10, "SYNCED")
            before = watch.revision
            restart_on_same_port(daemon)
            client.kill_executors(app, [1])
            thread.join(30)
            assert saw(events, 1, "KILLED"), "executor 1's KILLED through the resumed watch"
            assert watch.streams >= 2 and watch.revision > before
            assert [e.type for e in events].count(pb.Event.SYNCED) == 1, "resumed without a second snapshot"
            assert pb.Event.RESYNC not in [e.type for e in events]
        client.unregister_application(app)


def test_watch_resync_when_the_revision_left_the_window(harness):
    daemon = harness.new_daemon(reconciler={"event_window": 5})
    with berth.Client(daemon.grpc) as client:
        app = harness.app_id("py-resync")
        client.register_application(app, **local_app_kwargs(harness))
        client.request_total_executors(app, {0: 3})
        running(client, app, 3)
        events = []
        with client.watch(app, from_revision=1) as watch:
            thread = collect(watch, events, lambda ev: saw(ev, 2, "KILLED"))
            wait_until(lambda: any(e.type == pb.Event.SYNCED for e in events), 10, "SYNCED")
            assert events[0].type == pb.Event.RESYNC
            assert "revision 1 is no longer available" in events[0].message
            assert [e.type for e in events[1:5]] == [pb.Event.APPLICATION] + [pb.Event.EXECUTOR] * 3
            assert watch.revision == events[5].revision
            client.kill_executors(app, [2])
            thread.join(20)
            assert saw(events, 2, "KILLED")
        client.unregister_application(app)


def test_watch_of_an_unknown_application_raises(daemon):
    with berth.Client(daemon.grpc) as client:
        with pytest.raises(grpc.RpcError) as error:
            for _ in client.watch("no-such-app"):
                pass
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
