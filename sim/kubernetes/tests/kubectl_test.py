#!/usr/bin/python3
"""kubectl against `berth-sim kubernetes`: HTTPS with a CA-verified server certificate and a bearer
token, through a kubeconfig. Checks get, get -o json -l, create -f, delete and get -w.

Usage: kubectl_test.py PATH/TO/berth-sim   (exit 77 = skipped: kubectl absent)
"""
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BERTH_SIM = None
KUBECTL = shutil.which("kubectl")

POD_YAML = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: demo
    run: "{name}"
  annotations:
    sim.berth.dev/start-delay: "1s"
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: registry.example/spark:3.5
    resources:
      requests: {{cpu: "1", memory: 1Gi}}
      limits: {{memory: 1Gi}}
"""


def wait_for(predicate, deadline_s=20.0, what="condition"):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def read_text(path):
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read().strip()


def make_pki(directory):
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    run("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=berth-sim-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kubernetes")
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "server.ext", "-out", "server.crt")


class KubectlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="berth-kubectl-")
        make_pki(cls.dir)
        port_file = os.path.join(cls.dir, "address")
        cls.sim = subprocess.Popen(
            [BERTH_SIM, "kubernetes", "--listen", "127.0.0.1:0", "--tls", "--cert", "server.crt", "--key",
             "server.key", "--token", "t0ken", "--time-scale", "10", "--port-file", port_file],
            cwd=cls.dir, stdout=subprocess.DEVNULL)
        address = wait_for(lambda: read_text(port_file), what="berth-sim")
        cls.address = address
        cls.kubeconfig = os.path.join(cls.dir, "kubeconfig")
        with open(cls.kubeconfig, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
current-context: sim
clusters:
- name: sim
  cluster:
    server: https://{address}
    certificate-authority: ca.crt
users:
- name: tester
  user:
    token: t0ken
- name: intruder
  user:
    token: wrong
contexts:
- name: sim
  context: {{cluster: sim, user: tester, namespace: jobs}}
- name: bad
  context: {{cluster: sim, user: intruder}}
""")

    @classmethod
    def tearDownClass(cls):
        cls.sim.terminate()
        cls.sim.wait(timeout=10)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def kubectl(self, *args, check=True, stdin=None):
        env = dict(os.environ, KUBECONFIG=self.kubeconfig, HOME=self.dir)
        result = subprocess.run([KUBECTL, "--cache-dir", os.path.join(self.dir, "cache"), *args], env=env,
                                input=stdin, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            self.fail(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def create(self, name):
        result = self.kubectl("create", "-f", "-", stdin=POD_YAML.format(name=name))
        self.assertEqual(result.stdout.strip(), f"pod/{name} created")

    def test_1_version_and_empty_get(self):
        version = json.loads(self.kubectl("version", "-o", "json").stdout)
        self.assertEqual(version["serverVersion"]["major"], "1")
        result = self.kubectl("get", "pods")
        self.assertIn("No resources found in jobs namespace.", result.stderr)

    def test_2_create_get_json_delete(self):
        self.create("demo")
        lines = self.kubectl("get", "pods").stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "READY", "STATUS", "RESTARTS", "AGE"])
        self.assertEqual(lines[1].split()[0], "demo")
        # The kubelet starts it; the Table shows it.
        wait_for(lambda: "Running" in self.kubectl("get", "pod", "demo").stdout, what="demo Running")
        wide = self.kubectl("get", "pods", "-o", "wide").stdout
        self.assertIn("10.244.", wide)
        self.assertIn("sim-", wide)

        self.create("other")
        listed = json.loads(self.kubectl("get", "pods", "-o", "json", "-l", "run=demo").stdout)
        self.assertEqual([item["metadata"]["name"] for item in listed["items"]], ["demo"])
        self.assertEqual(listed["items"][0]["metadata"]["labels"]["app"], "demo")
        self.assertEqual(listed["items"][0]["spec"]["containers"][0]["resources"]["requests"]["memory"], "1Gi")
        both = json.loads(self.kubectl("get", "pods", "-o", "json", "-l", "app in (demo)").stdout)
        self.assertEqual(len(both["items"]), 2)

        duplicate = self.kubectl("create", "-f", "-", stdin=POD_YAML.format(name="demo"), check=False)
        self.assertNotEqual(duplicate.returncode, 0)
        self.assertIn('pods "demo" already exists', duplicate.stderr)

        deleted = self.kubectl("delete", "pod", "demo")  # waits for the DELETED event
        self.assertEqual(deleted.stdout.strip(), 'pod "demo" deleted')
        names = self.kubectl("get", "pods", "-o", "name").stdout.split()
        self.assertEqual(names, ["pod/other"])
        missing = self.kubectl("get", "pod", "demo", check=False)
        self.assertIn('pods "demo" not found', missing.stderr)

    def test_3_watch_shows_new_pods(self):
        env = dict(os.environ, KUBECONFIG=self.kubeconfig, HOME=self.dir)
        watcher = subprocess.Popen([KUBECTL, "--cache-dir", os.path.join(self.dir, "cache"), "get", "pods", "-w"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()
        seen = []

        def saw(text):
            while True:
                try:
                    seen.append(lines.get_nowait())
                except queue.Empty:
                    break
            return any(text in line for line in seen)
        try:
            wait_for(lambda: saw("NAME"), what="the watch's header")
            self.create("watched")
            wait_for(lambda: saw("watched"), what="the new pod in kubectl get -w")
            wait_for(lambda: saw("watched") and any("watched" in l and "Running" in l for l in seen),
                     what="the new pod running in kubectl get -w")
        finally:
            watcher.kill()
            watcher.wait(timeout=10)
            watcher.stdout.close()
            watcher.stderr.close()

    def test_4_bad_token_is_refused(self):
        result = self.kubectl("--context", "bad", "get", "pods", check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("Unauthorized", result.stderr + result.stdout)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: kubectl_test.py BERTH_SIM")
    BERTH_SIM = os.path.abspath(sys.argv.pop(1))
    if KUBECTL is None:
        print("SKIPPED: kubectl is not on PATH; the kubectl tests need it")
        sys.exit(77)
    unittest.main(verbosity=2)
