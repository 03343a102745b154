"""The one model server that every tab's app talks to: a `stablelm-tui serve` child, or a server that exists.

Loading the model once per machine (not once per tab) is the point of `web`: each tab's app is a thin
`chat --server URL` client, so a second tab costs a process of the UI and nothing on the GPU.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from tui.errors import UserError
from tui.lifeline import end_with_parent

STOP_GRACE_S = 30.0
SERVER_KEY_ENV = "STABLELM_TUI_WEB_SERVER_KEY"
"""The variable that carries the model server's key to it and to every tab's app (never on a command line)."""


def free_local_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def probe(url: str, timeout_s: float = 5.0) -> int | str:
    """The status of GET URL/health, or why nothing answered (a sentence fragment)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason)


def check_reachable(url: str) -> None:
    """UserError unless a server answers at `url` (a 503 while it loads counts: it is there)."""
    status = probe(url)
    if isinstance(status, str):
        raise UserError(f"the model server at {url} does not answer ({status}): start it or fix --server")


def served_models(url: str, timeout_s: float = 5.0) -> list[str]:
    with urllib.request.urlopen(f"{url.rstrip('/')}/v1/models", timeout=timeout_s) as response:
        return [str(m["id"]) for m in json.load(response)["data"]]


@dataclass
class LocalModelServer:
    """`stablelm-tui serve --engine local --mode both` on 127.0.0.1: both models of the preset, so the toggle
    in every tab reaches the same process. Its progress lines go to our stderr."""

    preset: str | None
    device: str = "auto"
    port: int = field(default_factory=free_local_port)
    api_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    """Loopback is shared by every account on the machine: only our tabs' apps, which inherit the key through
    SERVER_KEY_ENV, may use the models."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "tui", "serve", "--engine", "local", "--mode", "both"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--device", self.device]
        command += ["--api-key-env", SERVER_KEY_ENV]
        if self.preset:
            command += ["--preset", self.preset]
        # stdout carries a client preset for config.toml, of no use here; its stderr is the user's progress.
        # It ends with web even when web is killed (tui.lifeline).
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env={**os.environ, SERVER_KEY_ENV: self.api_key},
            preexec_fn=end_with_parent,
        )

    def ready(self) -> bool:
        """True once /health answers 200; UserError when the server ended before that."""
        assert self.process is not None
        status = self.process.poll()
        if status is not None:
            raise UserError(
                f"the model server exited before it was ready (status {status}); its messages are above"
            )
        return probe(self.url, timeout_s=2.0) == 200

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_GRACE_S)
