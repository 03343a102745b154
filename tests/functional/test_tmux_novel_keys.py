"""Runs tests/tmux/novel_keys.sh: a story written by keys in the real app in a real tmux pane."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.functional.tmux_driver import require_tmux

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "tmux" / "novel_keys.sh"

pytestmark = pytest.mark.slow


def test_a_story_is_written_by_keys_in_a_real_tmux_terminal(demo_models: dict[str, Path]) -> None:
    require_tmux()
    app = Path(sys.executable).with_name("stablelm-tui")
    result = subprocess.run(
        ["bash", str(SCRIPT), str(app), sys.executable], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert result.stdout.count("PASS") >= 23
