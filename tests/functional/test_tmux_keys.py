"""Runs tests/tmux/tui_keys.sh: the real app in a real tmux pane, driven by send-keys, read by capture-pane."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.functional.tmux_driver import require_tmux

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "tmux" / "tui_keys.sh"

pytestmark = pytest.mark.slow


def test_keys_work_in_a_real_tmux_terminal(
    demo_models: dict[str, Path], trained_adapter: dict[str, Any]
) -> None:
    require_tmux()
    app = Path(sys.executable).with_name("stablelm-tui")
    script = ["bash", str(SCRIPT), str(app), str(trained_adapter["dir"])]
    result = subprocess.run(script, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "PASS ctrl+l turns the adapter off in place" in result.stdout
    assert "PASS ctrl+l turns it back on" in result.stdout
    assert result.stdout.count("PASS") >= 18
