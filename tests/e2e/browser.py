"""A headless Chromium driven through the DevTools protocol over a pipe (--remote-debugging-pipe):
no WebSocket, no port, standard library only. Chromium reads commands on its fd 3 and writes
answers and events on its fd 4, each a JSON message ended by a NUL byte.

    with Browser(directory) as browser:
        browser.navigate("http://127.0.0.1:1234/")
        state = browser.wait_for("document.body.dataset.state === 'ready'", 20, "the page rendered")
        browser.screenshot("page.png")

The browser is a direct child of the test; close() (or leaving the `with`) ends it and reaps it.
Uncaught JavaScript exceptions and console errors are collected in `errors`.
"""

import base64
import json
import os
import select
import shutil
import subprocess
import time

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium():
    override = os.environ.get("BERTH_CHROMIUM")
    if override:
        return override
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(AssertionError):
    pass


class Browser:

    def __init__(self, directory, width=1280, height=1000):
        self.directory = directory
        self.width = width
        self.height = height
        self.process = None
        self.errors = []
        self._next_id = 0
        self._buffer = b""
        self._session = None
        self._events = []  # methods of the protocol events received, in order

    # Life cycle -------------------------------------------------------------------------------

    def start(self):
        binary = find_chromium()
        if binary is None:
            raise BrowserError("chromium is not installed (deploy/install-deps.sh installs it; "
                               "BERTH_CHROMIUM may name another binary)")
        profile = os.path.join(self.directory, "chromium-profile")
        os.makedirs(profile, exist_ok=True)
        commands_read, self._commands = os.pipe()   # we write, chromium reads on fd 3
        self._answers, answers_write = os.pipe()    # chromium writes on fd 4, we read

        def child_fds():
            # Through fresh numbers first, so that dup2 cannot clobber one with the other.
            a, b = os.dup(commands_read), os.dup(answers_write)
            os.dup2(a, 3)
            os.dup2(b, 4)

        argv = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--remote-debugging-pipe", "--user-data-dir=" + profile, "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--mute-audio", "--hide-scrollbars",
                "--window-size=%d,%d" % (self.width, self.height), "about:blank"]
        log = open(os.path.join(self.directory, "chromium.log"), "w")
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        preexec_fn=child_fds, close_fds=False)
        log.close()
        os.close(commands_read)
        os.close(answers_write)
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Runtime.enable", session=True)
        self.call("Page.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
                  session=True)
        return self

    def close(self):
        if self.process is None:
            return
        try:
            if self.process.poll() is None:
                self.call("Browser.close", timeout=5)
        except Exception:  # closing anyway
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for fd in (self._commands, self._answers):
            try:
                os.close(fd)
            except OSError:
                pass
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # The protocol -----------------------------------------------------------------------------

    def call(self, method, params=None, session=False, timeout=30):
        """Sends one command and returns its result; raises BrowserError on a protocol error."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        data = json.dumps(message).encode() + b"\0"
        while data:
            written = os.write(self._commands, data)
            data = data[written:]
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read(deadline, method)
            if answer.get("id") == message["id"]:
                if "error" in answer:
                    raise BrowserError("%s: %s" % (method, answer["error"]))
                return answer.get("result", {})
            self._on_event(answer)

    def _read(self, deadline, waiting_for):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer %s in time" % waiting_for)
            ready, _, _ = select.select([self._answers], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._answers, 1 << 20)
            if not chunk:
                raise BrowserError("chromium exited (code %s) while waiting for %s; see %s"
                                   % (self.process.poll(), waiting_for,
                                      os.path.join(self.directory, "chromium.log")))
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _on_event(self, event):
        method = event.get("method")
        params = event.get("params", {})
        if method and method.startswith("Page."):
            self._events.append(method)
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append("exception: %s" % (details.get("exception", {}).get("description")
                                                  or details.get("text")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append("console.error: %s" % " ".join(
                str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", [])))

    # Page -------------------------------------------------------------------------------------

    def wait_event(self, method, timeout):
        """Until the protocol event `method` arrives (or has arrived since the last wait)."""
        deadline = time.monotonic() + timeout
        while method not in self._events:
            self._on_event(self._read(deadline, method))
        del self._events[:self._events.index(method) + 1]

    def navigate(self, url, timeout=30):
        """Opens `url` and waits for its load event (the page's scripts have run)."""
        self._events.clear()
        result = self.call("Page.navigate", {"url": url}, session=True)
        if result.get("errorText"):
            raise BrowserError("navigating to %s: %s" % (url, result["errorText"]))
        self.wait_event("Page.loadEventFired", timeout)

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (JSON-serialisable values only)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError("evaluating %s: %s" % (expression, details.get("exception", {}).get("description")
                                                      or details.get("text")))
        return result.get("result", {}).get("value")

    def wait_for(self, expression, timeout, message, interval=0.1):
        """Evaluates `expression` until it is truthy, which is returned; BrowserError with the
        last value after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = self.evaluate(expression)
            if last:
                return last
            if time.monotonic() >= deadline:
                raise BrowserError("timed out after %.1fs waiting for %s (last value: %r; page errors: %s)"
                                   % (timeout, message, last, self.errors))
            time.sleep(interval)

    def screenshot(self, path):
        """A PNG of the whole page (beyond the viewport) at `path`."""
        metrics = self.call("Page.getLayoutMetrics", session=True)
        size = metrics.get("cssContentSize") or metrics.get("contentSize")
        clip = {"x": 0, "y": 0, "width": max(self.width, size["width"]), "height": size["height"], "scale": 1}
        result = self.call("Page.captureScreenshot",
                           {"format": "png", "captureBeyondViewport": True, "clip": clip}, session=True)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(result["data"]))
        return path
