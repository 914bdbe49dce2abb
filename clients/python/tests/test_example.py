"""examples/dynamic_allocation.py against berthd with a Kubernetes pool on `berth-sim kubernetes`:
the exponential ramp-up, idle kills by id, and pods gone at the end."""

import json
import os
import subprocess
import sys

from conftest import ROOT

EXAMPLE = os.path.join(ROOT, "examples", "dynamic_allocation.py")


def kubernetes_daemon(harness):
    sim = harness.new_kubernetes_sim()
    kubeconfig = sim.write_kubeconfig(os.path.join(harness.tmp, "kubeconfig"), "spark")
    pool = {"name": "k8s", "type": "kubernetes",
            "kubernetes": {"kubeconfig": kubeconfig, "namespace": "spark", "qps": 0, "delete_grace_period": "1s"}}
    return sim, harness.new_daemon(pools=[pool])


def test_dynamic_allocation_ramps_up_exponentially_and_releases_idle_executors(harness):
    sim, daemon = kubernetes_daemon(harness)
    result = subprocess.run([sys.executable, EXAMPLE, "--addr", daemon.grpc, "--pool", "k8s", "--tasks", "40",
                             "--task-seconds", "1", "--cores", "2", "--max", "8", "--idle-timeout", "1",
                             "--timeout", "90"],
                            capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert result.returncode == 0, result.stdout + result.stderr + daemon.log_tail()
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["tasks"] == 40
    # 40 tasks need 20 two-core executors, capped at 8: +1, +2, +4, then the cap.
    assert summary["totals_sent"][:4] == [1, 3, 7, 8], summary
    assert summary["peak_executors"] == 8
    # Ramp-down lowered the target; the idle executors were killed by id, and their pods are gone.
    assert summary["totals_sent"][-1] == 0
    assert summary["killed_idle"], summary
    harness.wait_until(lambda: not sim.pods("spark"), 20, "every executor pod deleted")
