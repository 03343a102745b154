"""`novel write` killed at random moments (kill -9) or stopped with Ctrl+C: the story file is always a valid story
that starts with the original text, and what was written before the kill is there up to the last autosave."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.novel.files import read_story, save_story
from tui.novel.story import Story

OPENING = "".join(f"{i}日目、アリスは森を歩いた。\n" for i in range(1, 40))


def start_write(path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tui", "novel", "write", str(path), "--seed", "1", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for_output(proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until the continuation has started streaming (the model is loaded and the first text is out)."""
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.stdout.read(1):
            return
        if proc.poll() is not None:
            pytest.fail(f"novel write ended before streaming: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.02)
    pytest.fail("novel write did not start streaming in time")


def check_valid(path: Path) -> Story:
    story = read_story(path)  # parses and validates: never a half-written file
    assert story.text.startswith(OPENING)
    applied = [h for h in story.history if h.state == "applied"]
    assert story.text == OPENING + "".join(h.text for h in applied)
    return story


@pytest.mark.slow
def test_kill_9_during_novel_write_leaves_a_valid_story(tmp_path: Path, demo_models: dict[str, Path]) -> None:
    path = tmp_path / "s.story.json"
    save_story(path, Story(text=OPENING))
    rng = random.Random(20261201)
    grew = 0
    for attempt in range(3):
        before = read_story(path)
        proc = start_write(path, "--max-new-tokens", "1500")
        if attempt == 0:
            time.sleep(rng.uniform(0.3, 1.5))  # during start-up and model loading
        else:
            wait_for_output(proc)
            time.sleep(rng.uniform(0.6, 2.0))  # while the continuation streams and autosaves
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        story = check_valid(path)
        assert story.text.startswith(before.text)
        if attempt:
            assert len(story.text) > len(before.text), "at least one autosave landed while it streamed"
            assert story.history[-1].finish == "interrupted"
            grew += 1
    assert grew == 2
    # A kill in the middle of a save may leave its temporary file; the next save clears it.
    save_story(path, read_story(path))
    assert [p.name for p in tmp_path.iterdir()] == ["s.story.json"]


@pytest.mark.slow
def test_ctrl_c_stops_keeps_what_was_written_and_saves(tmp_path: Path, demo_models: dict[str, Path]) -> None:
    path = tmp_path / "s.story.json"
    save_story(path, Story(text=OPENING))
    proc = start_write(path, "--max-new-tokens", "1500")
    wait_for_output(proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopped;" in err and "Traceback" not in err
    story = check_valid(path)
    item = story.history[-1]
    assert item.finish == "cancelled" and item.text and len(item.token_ids) < 1500
    assert item.text.endswith(out) and out, "everything shown was saved"
