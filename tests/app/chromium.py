"""A minimal headless-Chromium driver over the DevTools protocol (CDP), with no dependency.

Chromium is started with ``--remote-debugging-pipe``: it reads CDP commands from file
descriptor 3 and writes replies and events to descriptor 4, each message a JSON document ended
by a NUL byte (the transport Puppeteer uses). No debugging port is opened, and no websocket
client is needed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)


def find_chromium() -> str | None:
    """Path of Debian's ``chromium`` (or another Chromium/Chrome on PATH), else None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _inheritable_above_9(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    os.set_inheritable(high, True)
    return high


class CDPError(RuntimeError):
    """A DevTools command failed or timed out."""


class Chromium:
    """Headless Chromium with one page, driven through CDP over a pipe.

    Args:
        executable: the Chromium binary.
        user_data_dir: an empty temporary profile folder.
        window: (width, height) of the viewport.
    """

    def __init__(self, executable: str, user_data_dir: Path, window=(1200, 900)):
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # chromium's ends go above 9, so that the shell's "3<&N 4>&M" cannot clobber them
        to_chrome_r = _inheritable_above_9(to_chrome_r)
        from_chrome_w = _inheritable_above_9(from_chrome_w)
        # bash moves the pipe ends onto descriptors 3 and 4, then becomes chromium (dash
        # cannot redirect descriptors above 9)
        command = [
            shutil.which("bash") or "/bin/bash",
            "-c",
            f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}',
            executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={user_data_dir}",
            f"--window-size={window[0]},{window[1]}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        Path(user_data_dir).mkdir(parents=True, exist_ok=True)
        self.log_path = Path(user_data_dir) / "chromium.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                pass_fds=(to_chrome_r, from_chrome_w),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._out = os.fdopen(to_chrome_w, "wb", buffering=0)
        self._in = os.fdopen(from_chrome_r, "rb", buffering=0)
        self._next_id = 0
        self._replies: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        self.events: list[dict] = []
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.session_id = None
        self.window = window
        targets = self.send("Target.getTargets")["targetInfos"]
        pages = [t for t in targets if t["type"] == "page"]
        target_id = (
            pages[0]["targetId"]
            if pages
            else self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        )
        self.session_id = self.send(
            "Target.attachToTarget", {"targetId": target_id, "flatten": True}, session=False
        )["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": False},
        )

    # ------------------------------------------------------------------ transport
    def _read_loop(self):
        buffer = b""
        while True:
            try:
                chunk = self._in.read(65536)
            except OSError:
                chunk = b""
            if not chunk:
                for waiter in list(self._replies.values()):
                    waiter.put({"error": {"message": "chromium closed the pipe"}})
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    waiter = self._replies.get(message["id"])
                    if waiter is not None:
                        waiter.put(message)
                else:
                    self.events.append(message)

    def send(self, method: str, params: dict | None = None, session=True, timeout=30.0) -> dict:
        """Send one CDP command and wait for its result."""
        with self._lock:
            self._next_id += 1
            message_id = self._next_id
            waiter: queue.Queue = queue.Queue()
            self._replies[message_id] = waiter
            message = {"id": message_id, "method": method, "params": params or {}}
            if session and self.session_id is not None:
                message["sessionId"] = self.session_id
            self._out.write(json.dumps(message).encode() + b"\0")
        try:
            reply = waiter.get(timeout=timeout)
        except queue.Empty:
            raise CDPError(f"{method}: no reply within {timeout} s") from None
        finally:
            self._replies.pop(message_id, None)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    # ------------------------------------------------------------------ page helpers
    def evaluate(self, expression: str):
        """Evaluate JavaScript in the page and return its (JSON) value."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise CDPError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0, interval: float = 0.1):
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        guarded = (
            f"(function () {{ try {{ return ({expression}); }} catch (e) {{ return null; }} }})()"
        )
        while True:
            value = self.evaluate(guarded)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CDPError(f"timed out after {timeout} s waiting for: {expression}")
            time.sleep(interval)

    def navigate(self, url: str, ready_expression: str = "true", timeout: float = 30.0):
        """Open ``url``, wait for its load event, then for ``ready_expression`` to be truthy."""
        seen = len(self.events)
        self.send("Page.navigate", {"url": url}, timeout=timeout)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events[seen:]):
            if time.monotonic() > deadline:
                raise CDPError(f"{url} did not finish loading within {timeout} s")
            time.sleep(0.05)
        self.wait_for(ready_expression, timeout=max(1.0, deadline - time.monotonic()))

    def set_files(self, selector: str, paths: list[str]):
        """Choose files in an ``<input type=file>`` as a user would (fires its change event)."""
        root = self.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if not node:
            raise CDPError(f"no element matches {selector}")
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(p) for p in paths]})

    def screenshot(self, path: Path) -> Path:
        """Save a PNG screenshot of the viewport."""
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except CDPError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self._out, self._in):
            try:
                stream.close()
            except OSError:
                pass
