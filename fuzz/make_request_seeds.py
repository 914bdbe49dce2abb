#!/usr/bin/python3
"""Writes the seed inputs of request_fuzz into corpus/request_fuzz/ (run from fuzz/).

Needs python3-protobuf and protoc. Record format: [kind:1][length:2 LE][serialized request]."""
import os
import struct
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "corpus", "request_fuzz")
gen = tempfile.mkdtemp()
subprocess.run(["protoc", "-I", os.path.join(here, "..", "proto"), "--python_out", gen,
                "berth/v1/berth.proto"], check=True)
sys.path.insert(0, gen)
from berth.v1 import berth_pb2 as pb  # noqa: E402


def record(kind, message):
    body = message.SerializeToString() if message is not None else b""
    return bytes([kind]) + struct.pack("<H", len(body)) + body


def register(app, lease=0):
    r = pb.RegisterApplicationRequest(app_id=app, lease_ttl_seconds=lease)
    p = r.profiles.add(id=0, cores=2, heap_mib=1024)
    p.resources.add(name="gpu", vendor="nvidia.com", amount=1)
    r.launch.command.extend(["/bin/true"])
    r.launch.env["SPARK_LOCAL_DIRS"] = "/tmp"
    return record(0, r)


def target(app, n):
    r = pb.RequestTotalExecutorsRequest(app_id=app)
    r.totals[0] = n
    return record(1, r)


def kill(app, ids, adjust):
    return record(2, pb.KillExecutorsRequest(app_id=app, executor_ids=ids, adjust_target=adjust))


seeds = {
    "ramp": register("app-a") + target("app-a", 5) + target("app-a", 40) + target("app-a", 2),
    "kill": register("app-a") + target("app-a", 3) + kill("app-a", [1, 2, 99], True) + kill("app-a", [3], False),
    "lease": register("app-b", 5) + target("app-b", 2) + record(6, None) * 3 + record(5, pb.KeepAliveRequest(app_id="app-b")),
    "decommission": register("app-c") + target("app-c", 2)
    + record(3, pb.DecommissionExecutorsRequest(app_id="app-c", executor_ids=[1], grace_seconds=10, adjust_target=True))
    + record(6, None) + record(4, pb.UnregisterApplicationRequest(app_id="app-c")),
}
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {out}")
