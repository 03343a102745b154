"""Start a real `stablelm-tui serve` subprocess on 127.0.0.1 for the tests (not a test module)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Nothing answers there and a new server can listen there (servers set SO_REUSEADDR, as we do: the
    connections the old server closed may linger in TIME_WAIT, which only a bare bind would trip over)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
        return True


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    log: Path
    stdout: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise


def start_serve(
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
    command: list[str] | None = None,
    engine: str = "local",
) -> Served:
    """`stablelm-tui serve --engine ENGINE ARGS` on a free port, returned once /health answers 200.

    command: how to run stablelm-tui (default: this interpreter's `-m tui`); another venv's script for vLLM.
    The serve process leads a session of its own, so a test can see which processes it started."""
    port = free_port()
    home = workdir / "home"
    full_env = dict(os.environ) | (env or {})
    full_env |= {"STABLELM_TUI_CONFIG_DIR": str(home / "config"), "STABLELM_TUI_DATA_DIR": str(home / "data")}
    log, out = workdir / f"serve-{port}.log", workdir / f"serve-{port}.out"
    with log.open("wb") as log_file, out.open("wb") as out_file:
        proc = subprocess.Popen(
            [
                *(command or [sys.executable, "-m", "tui"]),
                "serve",
                "--engine",
                engine,
                "--port",
                str(port),
                *args,
            ],
            stdout=out_file,
            stderr=log_file,
            env=full_env,
            start_new_session=True,
        )
    served = Served(proc, f"http://127.0.0.1:{port}", port, log, out)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(
                f"stablelm-tui serve exited ({proc.returncode}): {served.log_text()[-2000:]}"
            )
        try:
            if httpx.get(f"{served.url}/health", timeout=1).status_code == 200:
                return served
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            served.stop()
            raise AssertionError(f"stablelm-tui serve was not ready within {timeout:g} s")
        time.sleep(0.2)
