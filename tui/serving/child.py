"""An engine server run as a child process: started in its own process group, ready once it lists its models.

vLLM starts worker processes (one per tensor-parallel rank, an engine core, Ray actors); stopping only the
process we started would leave them holding the port and the memory. So the child leads a session of its own
(`start_new_session`) and stopping signals the whole group: SIGTERM first (vLLM shuts its workers down), SIGKILL
for whatever is still there after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tui.errors import UserError

STOP_GRACE_S = 15.0
"""vLLM's own shutdown joins its workers; past this the group is killed."""

LOG_TAIL_LINES = 15


class ChildServer:
    """A started engine server (tui.serving.engines.RunningServer)."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, name: str, log_path: Path) -> None:
        self.proc = proc
        self.url = url
        self.name = name
        self.log_path = log_path

    def poll(self) -> int | None:
        return self.proc.poll()

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after STOP_GRACE_S; returns once no process of the group is left."""
        pgid = self.proc.pid  # the session leader's pid is the group id
        if not _group_alive(pgid):
            self.proc.poll()
            return
        _signal_group(pgid, signal.SIGTERM)
        if not _wait_group_gone(self.proc, pgid, STOP_GRACE_S):
            _signal_group(pgid, signal.SIGKILL)
            _wait_group_gone(self.proc, pgid, 10.0)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: a worker re-parented to a PID 1 that
    never reaps would otherwise look alive forever (containers)."""
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():  # not Linux: the kernel's answer, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _wait_group_gone(proc: subprocess.Popen[bytes], pgid: int, timeout: float) -> bool:
    """Reaps our child as it ends; the group is gone when no member is left (workers re-parented to init are
    reaped there)."""
    deadline = time.monotonic() + timeout
    while True:
        proc.poll()
        if not _group_alive(pgid):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _answers_models(url: str, api_key: str | None) -> bool:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{url}/v1/models")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_child(
    argv: list[str],
    *,
    url: str,
    env: dict[str, str] | None,
    name: str,
    ready_timeout: float,
    log_path: Path,
    api_key: str | None = None,
) -> ChildServer:
    """Start `argv` (stdout and stderr to log_path) and return once GET {url}/v1/models answers 200.

    env None inherits ours. If the child exits first or is not ready within ready_timeout, its group is stopped
    and a UserError says so with the log's last lines.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise UserError(f"cannot start the {name} server ({argv[0]}): {exc.strerror or exc}") from None
    child = ChildServer(proc, url, name, log_path)
    deadline = time.monotonic() + ready_timeout
    try:
        while True:
            status = proc.poll()
            if status is not None:
                raise UserError(
                    f"the {name} server exited with status {status} before it was ready; the last lines of "
                    f"{log_path}:\n{child.log_tail()}"
                )
            if _answers_models(url, api_key):
                return child
            if time.monotonic() > deadline:
                raise UserError(
                    f"the {name} server was not ready within {ready_timeout:g} s; the last lines of "
                    f"{log_path}:\n{child.log_tail()}"
                )
            time.sleep(0.25)
    except BaseException:
        child.stop()
        raise


def connect_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host` (the wildcard addresses are not)."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)


def server_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def free_port(host: str) -> int:
    """A port nothing listens on now (`--port 0`: the child is told a real number, so its URL is known)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
