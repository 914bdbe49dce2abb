"""Fixtures of the Python client's tests: a real berthd (and `berth-sim kubernetes`) on
ephemeral loopback ports with temporary directories, through the end-to-end tests' harness
(tests/e2e/berth_harness.py). BERTHD, BERTHCTL and BERTH_SIM name the binaries (CTest sets them)."""

import os
import sys
import unittest

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

import berth_harness  # noqa: E402


class _Case(berth_harness.BerthTestCase):
    def runTest(self):  # the harness is a unittest.TestCase; pytest drives it by hand
        pass


@pytest.fixture
def harness():
    """A BerthTestCase set up and cleaned up around one test: new_daemon(), new_kubernetes_sim(),
    marker (put it in the executors' env), tmp."""
    case = _Case()
    case.setUp()
    try:
        yield case
    finally:
        case.doCleanups()


@pytest.fixture
def daemon(harness):
    return harness.new_daemon()


def local_app_kwargs(harness):
    """register_application() arguments for `sleep 3600` executors on the local pool."""
    return dict(pools=["local"], command=["sleep", "3600"], env={berth_harness.MARKER_VAR: harness.marker},
                driver_url="spark://CoarseGrainedScheduler@127.0.0.1:7078")


def wait_until(predicate, timeout, message):
    return berth_harness.wait_until(predicate, timeout, message)
