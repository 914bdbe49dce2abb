"""The README, run as written: every section's shell blocks, in order, against the built binaries.

Conventions (the README's own markup, an HTML comment right before each ```sh block):
  <!-- readme: run -->                 run it; it starts what it needs and stops it at its end
  <!-- readme: run with make-run -->   it talks to `make run`'s berthd: the test starts that berthd
                                       (build/bin/berthd --config deploy/berthd.dev.yaml) in the
                                       background first, as a reader has it in another terminal
  <!-- readme: run after restart -->   same shell as the block before; the test first stops that
                                       berthd (SIGTERM, as Ctrl-C) and starts it again
  <!-- readme: skip (why) -->          not run here (make itself, a Spark distribution, a block
                                       another test runs)
Every ```sh block must carry one, so a new section is checked unless it says why not.

The blocks of one section (## or ### heading) run as one bash script (-euo pipefail) with a deadline,
in a scratch copy of the repository's root (symlinks, with build/ the build tree under test), with
TMPDIR in the test's directory (each section's `dir=$(mktemp -d)`), and with every fixed
127.0.0.1 port replaced by a free one (sections are checked to use ports of their own). Afterwards
every process the section left is killed: its process group, and whatever runs in the scratch
directory (local executors)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
README = os.path.join(ROOT, "README.md")
DEV_CONFIG = os.path.join(ROOT, "deploy", "berthd.dev.yaml")
BERTHD = os.environ.get("BERTHD", os.path.join(ROOT, "build", "bin", "berthd"))
SECTION_DEADLINE = 150

BLOCK = re.compile(r"^( *)```sh\n(.*?)^\1```$", re.S | re.M)
MARKER = re.compile(r"<!-- readme: (run with make-run|run after restart|run|skip \(.+\)) -->")
HEADING = re.compile(r"^#{2,3} (.+)$", re.M)
PORT = re.compile(r"127\.0\.0\.1:(\d{4,5})")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_blocks(text):
    """[(section heading, marker kind, block text)] in README order."""
    blocks = []
    for match in BLOCK.finditer(text):
        before = text[:match.start()].rstrip("\n").splitlines()
        marker = MARKER.search(before[-1]) if before else None
        headings = HEADING.findall(text[:match.start()])
        section = headings[-1] if headings else "(top)"
        indent = len(match.group(1))
        body = "\n".join(line[indent:] for line in match.group(2).splitlines())
        blocks.append((section, marker.group(1) if marker else None, body + "\n"))
    return blocks


def sections(blocks):
    """The blocks to run, grouped by section: [(section, [(kind, body)])], in order."""
    grouped = []
    for section, kind, body in blocks:
        if kind is None or kind.startswith("skip"):
            continue
        if grouped and grouped[-1][0] == section:
            grouped[-1][1].append((kind, body))
        else:
            grouped.append((section, [(kind, body)]))
    return grouped


def processes_under(directory):
    """Pids of live processes whose working directory is inside `directory`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cwd = os.readlink("/proc/%s/cwd" % name)
        except OSError:
            continue
        if cwd == directory or cwd.startswith(directory + "/"):
            found.append(int(name))
    return found


class ReadmeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open(README) as f:
            cls.text = f.read()
        cls.blocks = readme_blocks(cls.text)

    def test_the_first_lines_show_the_two_commands(self):
        first = "\n".join(self.text.splitlines()[:8])
        self.assertIn("make run", first)
        self.assertIn("make test", first)

    def test_every_shell_block_says_whether_it_is_run(self):
        self.assertGreater(len(self.blocks), 3)
        for section, kind, body in self.blocks:
            self.assertIsNotNone(kind, "a ```sh block in %r has no <!-- readme: ... --> marker:\n%s" % (section, body))

    def test_each_section_has_ports_of_its_own(self):
        for section, kind, body in self.blocks:
            if "state_dir:" in body:  # a berthd config: its metrics port is 7434 unless it says
                self.assertIn("metrics_listen:", body, "a berthd config in %r without metrics_listen" % section)
        owner = {}
        for section, kind, body in self.blocks:
            if kind is None or kind.startswith("skip"):
                continue
            for port in set(PORT.findall(body)):
                self.assertEqual(owner.setdefault(port, section), section,
                                 "port %s is used by %r and %r" % (port, owner[port], section))
        with open(DEV_CONFIG) as f:
            for port in PORT.findall(f.read()):
                self.assertNotIn(port, owner, "make run's port %s is used by %r" % (port, owner.get(port)))

    def test_every_section_runs_as_written(self):
        with open(DEV_CONFIG) as f:
            dev_config = f.read()
        ports = {}
        for port in PORT.findall(dev_config) + [p for _, _, body in self.blocks for p in PORT.findall(body)]:
            ports.setdefault(port, str(free_port()))

        def local(text):
            return PORT.sub(lambda m: "127.0.0.1:" + ports[m.group(1)], text)

        tmp = tempfile.mkdtemp(prefix="berth-readme-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        work = os.path.join(tmp, "repo")
        os.mkdir(work)
        os.mkdir(os.path.join(tmp, "tmp"))
        for name in os.listdir(ROOT):
            if name not in ("build", "var") and not name.startswith("."):
                os.symlink(os.path.join(ROOT, name), os.path.join(work, name))
        os.symlink(os.path.dirname(os.path.dirname(os.path.abspath(BERTHD))), os.path.join(work, "build"))
        with open(os.path.join(work, "berthd.dev.yaml"), "w") as f:
            f.write(local(dev_config))
        make_run_address = "127.0.0.1:" + ports[PORT.search(re.search(r"^listen: .*$", dev_config, re.M).group(0)).group(1)]

        to_run = sections(self.blocks)
        self.assertTrue(any(kind == "run with make-run" for _, blocks in to_run for kind, _ in blocks))
        for section, blocks in to_run:
            with self.subTest(section=section):
                self.run_section(section, blocks, work, tmp, local, make_run_address)

    def run_section(self, section, blocks, work, tmp, local, make_run_address):
        slug = re.sub(r"[^a-z0-9]+", "-", section.lower()).strip("-")
        make_run_log = os.path.join(tmp, slug + ".berthd.log")
        # `make run`'s berthd, as the test starts it: in the background, on the replaced ports.
        start = ("build/bin/berthd --config berthd.dev.yaml 2>>%s & make_run_pid=$!\n"
                 "until build/bin/berthctl --addr %s health >/dev/null 2>&1; do\n"
                 "  kill -0 $make_run_pid || { echo 'make run: berthd exited' >&2; exit 1; }; sleep 0.1\n"
                 "done\n" % (make_run_log, make_run_address))
        script = ""
        for kind, body in blocks:
            if kind == "run with make-run":
                script += start
            elif kind == "run after restart":
                script += "kill -TERM $make_run_pid; wait $make_run_pid\n" + start
            script += local(body)
        if any(kind != "run" for kind, _ in blocks):
            script += "kill -TERM $make_run_pid; wait $make_run_pid\n"  # Ctrl-C in make run's terminal
        env = dict(os.environ, TMPDIR=os.path.join(tmp, "tmp"),
                   BERTH_ADDR=make_run_address if "make-run" in blocks[0][0] else "127.0.0.1:1")
        env.pop("BERTH_TOKEN_FILE", None)
        out_path = os.path.join(tmp, slug + ".out")
        with open(out_path, "w") as out:
            process = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        try:
            code = process.wait(timeout=SECTION_DEADLINE)
        except subprocess.TimeoutExpired:
            code = "timed out after %d s" % SECTION_DEADLINE
        finally:
            self.kill_leftovers(process, tmp)
        with open(out_path) as f:
            output = f.read()
        log = ""
        if os.path.exists(make_run_log):
            with open(make_run_log) as f:
                log = f.read()
        if code != 0:
            # The logs the section wrote in its own directories (berthd's, as the README names them).
            for directory, _, files in os.walk(os.path.join(tmp, "tmp")):
                for name in files:
                    if name.endswith(".log") and "state" not in directory:
                        with open(os.path.join(directory, name), errors="replace") as f:
                            log += "\n---- %s ----\n%s" % (os.path.join(directory, name), f.read()[-4000:])
        self.assertEqual(code, 0, "README section %r failed: %s\n---- its script ----\n%s\n---- its output ----\n%s"
                         "\n---- berthd's log ----\n%s" % (section, code, script, output[-6000:], log[-8000:]))
        if log:
            self.check_story(section, log)

    def check_story(self, section, log):
        """`make run`'s berthd tells the tour's story at info: the target change with its launches,
        the kills, and what it adopted after the restart."""
        for pattern, what in ((r"info +app demo: target 0 -> 3, launching 3 on pool local \(executors 1-3\)",
                               "the target change and its launches"),
                              (r"info +app demo: .*killed [12] on pool local \(killed_by_driver: executors (2|1, 2)\)",
                               "the kills"),
                              (r"info +pool local: synced; adopted [1-9] executors? still running: app demo executors ",
                               "the executors adopted after the restart"),
                              (r"info +app demo: .*killed [1-9] on pool local \(app_unregistered: executors ",
                               "the kills of the unregistration")):
            self.assertRegex(log, pattern, "%s: berthd's log at info lacks %s:\n%s" % (section, what, log[-4000:]))

    @staticmethod
    def kill_leftovers(process, tmp):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        deadline = time.monotonic() + 10
        while True:
            left = processes_under(tmp)
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if not left or time.monotonic() > deadline:
                return
            time.sleep(0.05)


if __name__ == "__main__":
    unittest.main()
