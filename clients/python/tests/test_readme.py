"""The README's "Using Berth from Spark" flow with the Python client, run as written: the block
after <!-- readme-python-flow --> goes to bash with its fixed ports replaced by free ones, its
temporary directory under the test's and build/ by the build tree under test."""

import json
import os
import signal
import socket
import subprocess

from conftest import ROOT


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_block():
    text = open(os.path.join(ROOT, "README.md")).read()
    after = text[text.index("<!-- readme-python-flow -->"):]
    start = after.index("```sh\n") + len("```sh\n")
    return after[start:after.index("\n```\n", start) + 1]


def test_the_readme_python_flow_works_as_written(tmp_path):
    script = readme_block()
    bin_dir = os.path.dirname(os.environ["BERTHD"])
    python_path = os.environ["PYTHONPATH"]
    for old, new in (("127.0.0.1:6444", "127.0.0.1:%d" % free_port()),
                     ("127.0.0.1:7463", "127.0.0.1:%d" % free_port()),
                     ("127.0.0.1:7464", "127.0.0.1:%d" % free_port()),
                     ('"$PWD/build/bin:', '"%s:' % bin_dir),
                     ("PYTHONPATH=build/python", "PYTHONPATH=" + python_path)):
        assert old in script, old
        script = script.replace(old, new)
    # Output to a file: the daemons the block leaves in the background would hold a pipe open.
    log_path = tmp_path / "readme.log"
    with open(log_path, "w") as log:
        # mktemp -d in the block makes its directory under the test's.
        process = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env=dict(os.environ, TMPDIR=str(tmp_path)))
    try:
        process.wait(timeout=150)
    finally:
        # berth-sim and berthd were started in the background by the block: end them.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    output = log_path.read_text()
    assert process.returncode == 0, output
    summary = next(json.loads(line) for line in output.splitlines() if line.startswith('{"app"'))
    assert summary["tasks"] == 40 and summary["peak_executors"] == 8, summary
    assert summary["totals_sent"][:4] == [1, 3, 7, 8]
    lines = output.splitlines()
    assert "[1]" in lines, output                      # executor 1 killed by id
    assert any(line.endswith(" RUNNING") and line.split()[0] in "123" for line in lines), output
