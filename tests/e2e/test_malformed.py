"""Requests whose bytes are not protobuf get INVALID_ARGUMENT naming the message type, on every
method (gRPC's own handlers answer UNIMPLEMENTED, as if the method did not exist), and the daemon
carries on serving well-formed requests."""

import unittest

from berth_harness import BerthTestCase

try:
    import grpc  # Debian's python3-grpcio, which deploy/install-deps.sh installs for the clients
except ImportError:  # pragma: no cover
    grpc = None

# A length-delimited field 1 that announces 5 bytes and has 2: no protobuf parser accepts it.
TRUNCATED = b"\x0a\x05ab"

UNARY = {
    "berth.v1.Executors": ["RegisterApplication", "RequestTotalExecutors", "KillExecutors",
                           "DecommissionExecutors", "GetApplication", "ListExecutors", "KeepAlive",
                           "UnregisterApplication"],
    "berth.v1.Admin": ["ListPools", "ListApplications", "DrainPool", "Status"],
}


@unittest.skipIf(grpc is None, "python3-grpcio is not installed")
class MalformedRequestTest(BerthTestCase):

    def test_every_method_answers_invalid_argument_to_bytes_that_do_not_parse(self):
        daemon = self.new_daemon()
        channel = grpc.insecure_channel(daemon.grpc)
        self.addCleanup(channel.close)
        for service, methods in UNARY.items():
            for method in methods:
                call = channel.unary_unary("/%s/%s" % (service, method))
                with self.assertRaises(grpc.RpcError, msg=method) as caught:
                    call(TRUNCATED, timeout=20)
                self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, method)
                self.assertIn("request: not a valid berth.v1.", caught.exception.details(), method)
        watch = channel.unary_stream("/berth.v1.Executors/WatchEvents")
        with self.assertRaises(grpc.RpcError) as caught:
            list(watch(TRUNCATED, timeout=20))
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("berth.v1.WatchEventsRequest", caught.exception.details())

        # Well-formed requests are served as before, by the same handlers.
        app = self.app_id("after")
        self.register(daemon, app)
        self.assertEqual(daemon.ctl_ok("app", "get", app)["appId"], app)
        self.assertTrue(daemon.running())


if __name__ == "__main__":
    unittest.main()
