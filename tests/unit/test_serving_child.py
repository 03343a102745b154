"""tui/serving/child.py with a small real server process: readiness, failures in one sentence, group stop."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tui.errors import UserError
from tui.serving.child import _group_alive, start_child
from tui.serving.engines import RunningServer

# A stand-in engine: answers GET /v1/models, starts a worker of its own (as vLLM does) and writes its pid down.
SERVER = textwrap.dedent(
    """
    import http.server, json, signal, subprocess, sys, time
    port, pid_file, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(pid_file, "w").write(str(worker.pid))
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("loading the model", flush=True)
    if mode == "crash":
        sys.exit("model directory has no config.json")
    if mode == "slow":
        time.sleep(600)

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"data": [{"id": "demo"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", port), Models).serve_forever()
    """
)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(tmp_path: Path, mode: str, ready_timeout: float = 30.0):  # type: ignore[no-untyped-def]
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    port = free_port()
    pid_file = tmp_path / "worker.pid"
    server = start_child(
        [sys.executable, str(script), str(port), str(pid_file), mode],
        url=f"http://127.0.0.1:{port}",
        env=None,
        name="demo",
        ready_timeout=ready_timeout,
        log_path=tmp_path / "logs" / "demo.log",
    )
    return server, pid_file


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2] != "Z"


def test_a_ready_server_lists_its_models_and_stopping_ends_its_workers(tmp_path: Path) -> None:
    server, pid_file = start(tmp_path, "normal")
    running: RunningServer = server
    worker = int(pid_file.read_text())
    assert running.poll() is None and alive(worker)
    running.stop()
    assert running.poll() is not None
    assert not alive(worker) and not _group_alive(server.proc.pid)


def test_a_server_that_ignores_sigterm_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tui.serving.child.STOP_GRACE_S", 0.5)
    server, pid_file = start(tmp_path, "ignore-term")
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 10
    assert server.poll() == -9 and not alive(int(pid_file.read_text()))


def test_a_server_that_exits_early_is_one_sentence_with_its_log(tmp_path: Path) -> None:
    with pytest.raises(UserError) as caught:
        start(tmp_path, "crash")
    message = str(caught.value)
    assert message.startswith("the demo server exited with status 1 before it was ready")
    assert "model directory has no config.json" in message and "loading the model" in message
    assert not alive(int((tmp_path / "worker.pid").read_text()))


def test_a_server_not_ready_in_time_is_stopped_and_said(tmp_path: Path) -> None:
    with pytest.raises(UserError) as caught:
        start(tmp_path, "slow", ready_timeout=2.0)
    assert str(caught.value).startswith("the demo server was not ready within 2 s")
    assert not alive(int((tmp_path / "worker.pid").read_text()))


def test_a_command_that_cannot_start_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot start the demo server"):
        start_child(
            [str(tmp_path / "no-such-engine")],
            url="http://127.0.0.1:9",
            env=dict(os.environ),
            name="demo",
            ready_timeout=1,
            log_path=tmp_path / "x.log",
        )
