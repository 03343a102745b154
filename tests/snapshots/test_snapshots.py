"""SVG snapshots of the chat screen, the inspector and the settings dialog at 80x24 and 120x40.

Update after an intended change with `pytest tests/snapshots --snapshot-update` and look at the SVGs.
A scripted model (fixed text, fixed speed) keeps them stable; the planner and tokenizer are the real ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from tests.functional.app_helpers import make_app, wait_for
from tests.functional.scripted import ScriptedBackend, ScriptedHost
from tui.app.app import ChatApp

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
REPLY = ["東京です。", "[red]これは[/red]", "そのまま表示されます。\n", "日本の首都は東京です。"]


@pytest.fixture(autouse=True)
def _demo(demo_models: dict[str, Path]) -> None:
    """The demo preset's tokenizer lives in the demo model directory."""


def app_with_one_exchange() -> tuple[ChatApp, Any]:
    app = make_app(ScriptedHost(instruct=ScriptedBackend(chunks=REPLY, fixed_stats=True)))
    screen = app.chat_screen

    async def exchange(pilot: Any) -> None:
        await pilot.press(*"日本の首都は", "enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 2 and not screen.generating)
        await pilot.press(*"次")
        await wait_for(pilot, lambda: screen.plan is not None and screen.plan.draft_tokens > 0)
        await pilot.pause(0.1)

    return app, exchange


@pytest.mark.parametrize("size", SIZES)
def test_main_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    """Status line with a blue INSTRUCT badge, demo preset, local cpu, ready, 30.0 tok/s; the user message and
    an 'assistant · INSTRUCT' reply in which `[red]これは[/red]` is literal text, not red; the meter reads
    used/2048 with sys/hist/draft/rsv parts and the draft '次' in the input; all keys in the two-line key bar."""
    app, exchange = app_with_one_exchange()
    assert snap_compare(app, terminal_size=size, run_before=exchange)


@pytest.mark.parametrize("size", SIZES)
def test_inspector(snap_compare: Any, size: tuple[int, int]) -> None:
    """The context inspector (ctrl+o): window 2048, budget, reserve 256, prompt tokens, policy rolling, template
    ja-alpha-instruct; a segment table (header, two messages, draft, footer) with tokens; the token view of the
    first segment with piece+id pairs; the prompt coloured by segment. At 80 columns it replaces the chat; at 120
    it sits beside it."""
    app, exchange = app_with_one_exchange()

    async def open_inspector(pilot: Any) -> None:
        await exchange(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=open_inspector)


@pytest.mark.parametrize("size", SIZES)
def test_settings_dialog(snap_compare: Any, size: tuple[int, int]) -> None:
    """The settings dialog (F3) over the chat: temperature, top_p, max_new_tokens (blank = preset), policy
    'rolling', template placeholder naming ja-alpha-instruct, window placeholder 2048, the local engine's
    quantize 'none' and residency 'auto', Save and Cancel."""
    app, exchange = app_with_one_exchange()

    async def open_settings(pilot: Any) -> None:
        await exchange(pilot)
        await pilot.press("f3")
        for field in app.screen.query(Input):
            field.cursor_blink = (
                False  # a blinking cursor made the snapshot depend on the moment it was taken
            )
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=open_settings)


@pytest.mark.parametrize("size", SIZES)
def test_compare_view(snap_compare: Any, size: tuple[int, int]) -> None:
    """The compare view (F2) after one comparison: a 'Compare' title, the variants field 'base,instruct', pane
    A 'base' with the scripted base reply and pane B 'instruct' with the instruct reply (the `[red]` in it
    literal), each labelled eos, its token count and speed; the message in the input below; Stop/Back and
    Again in the key bar. At 80x24 the panes are stacked, at 120x40 side by side."""
    host = ScriptedHost(
        base=ScriptedBackend(chunks=["吾輩は", "猫である。"], fixed_stats=True),
        instruct=ScriptedBackend(chunks=REPLY, fixed_stats=True),
    )
    app = make_app(host)

    async def compare(pilot: Any) -> None:
        from tui.app.screens.compare import CompareScreen

        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.press(*"日本の首都は", "enter")
        await wait_for(pilot, lambda: app.screen.runs_done == 1)  # type: ignore[attr-defined]
        for field in app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=compare)
