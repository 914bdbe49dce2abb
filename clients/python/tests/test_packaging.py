"""`pip install clients/python` builds a package whose generated stubs import and work."""

import os
import shutil
import subprocess
import sys

from conftest import ROOT


def test_pip_install_generates_the_stubs(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(os.path.join(ROOT, "clients", "python"), source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    env = dict(os.environ, BERTH_PROTO_DIR=os.path.join(ROOT, "proto"), PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_ROOT_USER_ACTION="ignore")
    env.pop("PYTHONPATH", None)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
                    "--target", str(tmp_path / "site"), str(source)], check=True, env=env, timeout=120)
    check = subprocess.run([sys.executable, "-c", "import berth; print(berth.pb.ExecutorState.Name(berth.pb.RUNNING))"],
                           capture_output=True, text=True, env=dict(env, PYTHONPATH=str(tmp_path / "site")),
                           cwd=str(tmp_path))
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "RUNNING"
