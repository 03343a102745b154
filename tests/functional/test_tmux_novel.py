"""The real `stablelm-tui novel open` in a real terminal (tmux): kill -9 loses nothing the screen showed.

What the writer typed is saved within half a second; a continuation that is streaming when the process is
killed is in the file up to its last autosave, marked "interrupted", and `--resume` reopens the story.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.functional.tmux_driver import TmuxChat
from tests.functional.tmux_helpers import LOAD_S, OpenLong
from tui.novel.files import read_story, save_story
from tui.novel.story import Story

pytestmark = [
    pytest.mark.slow,
]


def open_novel(open_long: OpenLong, *args: str) -> TmuxChat:
    terminal = open_long(*args, command=("novel", "open"))
    terminal.wait_for(" NOVEL ", LOAD_S)
    terminal.wait_for("tok", 30)  # the first plan is on the status line
    return terminal


def test_kill_9_keeps_what_was_typed_and_the_streamed_continuation_and_resume_reopens_it(
    open_long: OpenLong, tmp_path: Path
) -> None:
    path = tmp_path / "kill.story.json"
    save_story(path, Story(text="むかしむかし、"))
    novel = open_novel(open_long, str(path))
    novel.type("ある村に")
    novel.wait_for("むかしむかし、ある村に", 10)
    time.sleep(1.2)  # longer than the autosave interval (0.5 s)
    os.kill(novel.pid, 9)
    novel.wait_exit()
    assert read_story(path).text == "むかしむかし、ある村に"

    novel = open_novel(open_long, "--resume")  # the story opened last
    novel.wait_for("むかしむかし、ある村に", 10)
    novel.send("C-g")
    novel.wait_for("generating", LOAD_S)
    deadline = time.monotonic() + 60
    while len(read_story(path).text) <= len("むかしむかし、ある村に") + 5:
        assert time.monotonic() < deadline, f"no continuation was saved while it streamed:\n{novel.screen()}"
        time.sleep(0.2)
    time.sleep(1.0)
    screen = novel.screen()
    assert "generating" in screen, f"the continuation ended before the kill:\n{screen}"
    os.kill(novel.pid, 9)
    novel.wait_exit()
    story = read_story(path)
    item = story.history[-1]
    assert item.finish == "interrupted" and item.state == "applied" and item.text
    assert story.text == "むかしむかし、ある村に" + item.text
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["kill.story.json"]
