#!/usr/bin/python3
"""Baseline C of berth-bench: what an elastic-worker script does with the official Kubernetes
Python client (Debian python3-kubernetes): create executor pods one by one.

Usage: k8s_python_baseline.py KUBECONFIG PODS_JSON RESULT_FILE
Writes the pods created per second to RESULT_FILE (nothing when the client is not installed)."""
import json
import sys
import time

try:
    from kubernetes import client, config
except ImportError:
    sys.exit(3)

kubeconfig, pods_file, result_file = sys.argv[1:4]
config.load_kube_config(config_file=kubeconfig)
api = client.CoreV1Api()
with open(pods_file) as f:
    pods = json.load(f)
start = time.monotonic()
for pod in pods:
    api.create_namespaced_pod(namespace="bench", body=pod)
elapsed = time.monotonic() - start
with open(result_file, "w") as f:
    f.write("%f\n" % (len(pods) / elapsed))
