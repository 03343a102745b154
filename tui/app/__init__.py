"""The Textual chat TUI. `run_app` is imported by `stablelm-tui chat`; Textual loads only when it runs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.presets import Preset


def run_app(args: argparse.Namespace, preset: Preset) -> int:
    from tui.app.launch import launch

    return launch(args, preset)
