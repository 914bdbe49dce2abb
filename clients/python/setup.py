"""`pip install clients/python` (from the repository's root): builds the `berth` package,
generating berth/v1/berth_pb2.py and berth_pb2_grpc.py from proto/berth/v1/berth.proto with
protoc and Debian's grpc_python_plugin (packages protobuf-compiler, protobuf-compiler-grpc).
Runtime dependencies are Debian's python3-grpcio and python3-protobuf; pip is not asked to
fetch them (install with --no-build-isolation --no-deps on Debian, see the README)."""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.environ.get("BERTH_PROTO_DIR", os.path.join(HERE, "..", "..", "proto"))


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        protoc = shutil.which("protoc") or "/usr/bin/protoc"
        plugin = shutil.which("grpc_python_plugin") or "/usr/bin/grpc_python_plugin"
        subprocess.run([protoc, "-I" + PROTO_DIR, "--python_out=" + self.build_lib,
                        "--plugin=protoc-gen-grpc_python=" + plugin, "--grpc_python_out=" + self.build_lib,
                        "berth/v1/berth.proto"], check=True)


setup(
    name="berth",
    version="0.1.0",
    description="Client of berthd, the Spark executor broker (gRPC berth.v1)",
    packages=["berth", "berth.v1"],
    python_requires=">=3.9",
    install_requires=["grpcio", "protobuf"],
    cmdclass={"build_py": BuildWithStubs},
)
