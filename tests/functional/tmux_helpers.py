"""The app in real terminals (tmux panes) with the preset `long`, for the tests that act while text streams.

The preset runs the demo models with short instruct replies and base replies of up to 1500 tokens, so a base
reply or continuation is still streaming seconds after it starts. tests/conftest.py registers `open_long`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.functional.tmux_driver import TmuxChat, terminal_env

LONG_PRESET = """
[presets.long]
extends = "demo"
description = "demo models: short instruct replies, long base replies (tests)"
[presets.long.instruct.generation]
max_new_tokens = 24
[presets.long.base.generation]
max_new_tokens = 1500
"""
LOAD_S = 120  # the first start imports torch and loads a model on a shared 2-core machine

OpenLong = Callable[..., TmuxChat]


@pytest.fixture
def open_long(isolated_dirs: Path, demo_models: dict[str, Path]) -> Iterator[OpenLong]:
    """Starts `stablelm-tui COMMAND --preset long ARGS` in a new pane (COMMAND defaults to chat) and returns
    its driver; every pane it started is closed after the test."""
    env = terminal_env(LONG_PRESET)
    started: list[TmuxChat] = []

    def open_terminal(*args: str, command: tuple[str, ...] = ("chat",)) -> TmuxChat:
        terminal = TmuxChat(["--preset", "long", *args], env=env, command=command)
        started.append(terminal)
        return terminal

    yield open_terminal
    for terminal in started:
        terminal.close()
