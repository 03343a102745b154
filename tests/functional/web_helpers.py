"""Start a real `stablelm-tui web` subprocess and talk to its tabs over the websocket (not a test module).

A tab is what the browser's page does: a websocket to /ws carrying the cookie; keys go out as ["stdin", text],
the app's terminal output comes back as binary frames, which a pyte screen turns into rows of text.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil
import pyte
from wcwidth import wcwidth

from tests.functional.serve_helpers import free_port

URL_LINE = re.compile(r"stablelm-tui web: open (\S+)")


@dataclass
class Web:
    proc: subprocess.Popen[str]
    port: int
    home: Path
    stderr_path: Path
    lines: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The full URL it printed (with the token)."""
        for line in self.lines:
            if match := URL_LINE.search(line):
                return match.group(1)
        raise AssertionError(f"no URL printed: {self.lines}")

    @property
    def token(self) -> str:
        return self.url.split("token=", 1)[1]

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def apps(self) -> list[psutil.Process]:
        return [p for p in self.children() if "chat" in p.cmdline()]

    def model_servers(self) -> list[psutil.Process]:
        return [p for p in self.children() if "serve" in p.cmdline()]

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            for child in self.children():
                child.kill()
            self.proc.kill()
            self.proc.wait(10)
            raise


def web_env(home: Path) -> dict[str, str]:
    return dict(os.environ) | {
        "STABLELM_TUI_CONFIG_DIR": str(home / "config"),
        "STABLELM_TUI_DATA_DIR": str(home / "data"),
    }


def start_web(workdir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 180.0) -> Web:
    """`stablelm-tui web --preset demo ARGS` on a free port, returned once it printed its URL."""
    port = free_port()
    home = workdir / "home"
    stderr_path = workdir / f"web-{port}.err"
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tui",
                "web",
                "--preset",
                "demo",
                "--device",
                "cpu",
                "--port",
                str(port),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=web_env(home) | (env or {}),
        )
    web = Web(proc, port, home, stderr_path)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            web.lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not any(URL_LINE.search(line) for line in web.lines):
        if proc.poll() is not None:
            raise AssertionError(f"stablelm-tui web exited ({proc.returncode}): {web.stderr()[-3000:]}")
        if time.monotonic() > deadline:
            web.stop()
            raise AssertionError(
                f"stablelm-tui web printed no URL within {timeout:g} s: {web.stderr()[-3000:]}"
            )
        time.sleep(0.1)
    return web


def screen_text(screen: pyte.Screen) -> str:
    """The screen's rows as a terminal shows them.

    pyte's own `display` raises IndexError on the right half of a wide character whose left half was later
    overwritten by a narrow one (an empty cell not after a wide one); a terminal shows that cell blank.
    """
    rows = []
    for y in range(screen.lines):
        line = screen.buffer[y]
        cells = []
        after_wide = False
        for x in range(screen.columns):
            data = line[x].data
            if after_wide and data == "":
                after_wide = False
                continue
            cells.append(data or " ")
            after_wide = bool(data) and wcwidth(data[0]) == 2
        rows.append("".join(cells))
    return "\n".join(rows)


class Tab:
    """One browser tab's websocket session, with the app's screen as pyte sees it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, width: int = 100, height: int = 30) -> None:
        self.ws = ws
        self.screen = pyte.Screen(width, height)
        self.stream = pyte.ByteStream(self.screen)
        self.closed = False

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, web: Web, width: int = 100, height: int = 30) -> Tab:
        ws = await session.ws_connect(f"{web.base}/ws?width={width}&height={height}")
        return cls(ws, width, height)

    def text(self) -> str:
        return screen_text(self.screen)

    async def pump(self, seconds: float) -> None:
        """Read what the app sends for a while (or until it closes the websocket)."""
        deadline = time.monotonic() + seconds
        while not self.closed and (left := deadline - time.monotonic()) > 0:
            try:
                message = await self.ws.receive(timeout=left)
            except asyncio.TimeoutError:
                return
            if message.type == aiohttp.WSMsgType.BINARY:
                self.stream.feed(message.data)
            elif message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
            ):
                self.closed = True

    async def wait_for(self, needle: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.closed or time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared (closed={self.closed}):\n{self.text()}")
            await self.pump(0.2)
        return self.text()

    async def wait_closed(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            await self.pump(0.5)
        assert self.closed, f"the tab's app is still running after {timeout:g} s:\n{self.text()}"

    async def type(self, text: str) -> None:
        await self.ws.send_str(json.dumps(["stdin", text]))


async def session_with_token(web: Web) -> aiohttp.ClientSession:
    """A client that trades the token for the cookie, as the page does on its first load."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get(f"{web.base}/?token={web.token}") as response:
        assert response.status == 200
    return session
