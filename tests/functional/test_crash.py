"""kill -9 at random moments while replies stream: every completed message survives, the file stays sound."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.store import SessionStore

DRIVER = Path(__file__).with_name("crash_driver.py")
TARGET_REPLIES = 50
MAX_KILLS = 10


@pytest.mark.slow
def test_kill_9_during_50_replies_loses_no_completed_message(
    tmp_path: Path, demo_models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "sessions.sqlite3"
    rng = random.Random(20261128)
    completed: dict[int, str] = {}
    kills = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        proc = subprocess.Popen(
            [sys.executable, str(DRIVER), str(db), str(TARGET_REPLIES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stdout is not None
        lines: list[str] = []
        if kills < MAX_KILLS:
            if kills % 4 == 3:
                time.sleep(rng.uniform(0.2, 2.0))  # during start-up and model loading
            else:
                lines.append(proc.stdout.readline())  # READY: the model is loaded
                time.sleep(rng.uniform(0.0, 0.6))  # while replies stream and are saved
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        out, err = proc.communicate(timeout=180)
        for line in lines + out.splitlines():
            if line.startswith("DONE "):
                _, n, digest = line.split()
                completed[int(n)] = digest
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, err
    else:
        pytest.fail(f"did not reach {TARGET_REPLIES} replies in time ({len(completed)} done, {kills} kills)")

    store = SessionStore(db)
    assert store.integrity_check() == "ok"
    conversation = store.load(store.latest_id() or 0)
    finished = [m for m in conversation.messages if m.role == "assistant" and not m.partial]
    by_number = {int(m.meta["n"]) + 1: hashlib.sha1(m.content.encode()).hexdigest() for m in finished}
    lost = [n for n, digest in completed.items() if by_number.get(n) != digest]
    partial = sum(1 for m in conversation.messages if m.partial)
    with capsys.disabled():
        print(
            f"\ncrash test: {kills} kills, {len(finished)} completed replies, "
            f"{partial} partial replies kept from killed runs, {len(lost)} lost"
        )
    assert kills >= 5
    assert len(finished) == TARGET_REPLIES
    assert lost == []
