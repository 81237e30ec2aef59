"""Drive Debian's headless chromium over ``--remote-debugging-pipe``: Chrome DevTools Protocol
messages as NUL-terminated JSON on the browser's fds 3 (in) and 4 (out). No websocket client
needed, so no new test dependency."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INSTALL = "chromium is not installed (apt-get install -y chromium; ./scripts/test does it)"
TIMEOUT = 60.0


def _above_9(fd: int) -> int:
    import fcntl  # POSIX only, like the pipe the browser is driven through

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class BrowserError(AssertionError):
    """The browser answered a command with an error, or not at all in time."""


class Browser:
    """One headless chromium with one page; commands are sent to that page's session."""

    def __init__(self, profile: Path) -> None:
        assert CHROMIUM is not None, INSTALL
        to_browser, self._out = os.pipe()
        self._in, from_browser = os.pipe()
        # Above fd 9, so moving them onto 3 and 4 cannot overwrite one with the other.
        to_browser, from_browser = (_above_9(fd) for fd in (to_browser, from_browser))
        # bash moves the pipe ends onto the fds chromium uses (dash takes one-digit fds only).
        script = f'exec "$@" 3<&{to_browser} 4>&{from_browser}'
        command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
        command += ["--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"]
        self._process = subprocess.Popen(
            ["bash", "-c", script, "bash", *command],
            pass_fds=(to_browser, from_browser),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self._session: str | None = None
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]
        self.send("Runtime.enable")
        self.send("Page.enable")
        self.send("Log.enable")  # CSP violations and failed loads arrive as Log.entryAdded

    def close(self) -> None:
        try:
            self._session = None
            self.send("Browser.close")
        except (BrowserError, OSError):
            self._process.kill()
        self._process.wait(timeout=TIMEOUT)
        os.close(self._in)
        os.close(self._out)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self._session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result
            self.events.append(reply)

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise BrowserError("chromium did not answer in time")
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise BrowserError("chromium closed its pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (promises awaited)."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'")

    def wait_for(self, condition: str) -> None:
        """Wait until ``condition`` holds in the page (checked on every animation frame)."""
        script = f"""new Promise((resolve, reject) => {{
            const stop = performance.now() + {TIMEOUT * 1000};
            const check = () => {{
                if ({condition}) resolve(true);
                else if (performance.now() > stop) reject(new Error("timed out"));
                else setTimeout(check, 10);
            }};
            check();
        }})"""
        self.evaluate(script)

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element ``selector`` matches."""
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1},
            )

    def press(self, key: str) -> None:
        """A real key press (down, then up) of a one-character key."""
        self.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": key, "text": key})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": key})

    def text(self, selector: str) -> str:
        value = self.evaluate(f"document.querySelector({json.dumps(selector)}).textContent")
        assert isinstance(value, str), (selector, value)
        return value

    def console(self) -> list[str]:
        """What the page logged or threw: console messages and uncaught exceptions."""
        lines = []
        for event in self.events:
            params = event.get("params", {})
            if event.get("method") == "Runtime.consoleAPICalled":
                lines.append(" ".join(str(a.get("value")) for a in params.get("args", [])))
            elif event.get("method") == "Runtime.exceptionThrown":
                lines.append(json.dumps(params.get("exceptionDetails")))
            elif event.get("method") == "Log.entryAdded":
                lines.append(str(params.get("entry", {}).get("text")))
        return lines
