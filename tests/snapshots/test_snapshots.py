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
    used/2048 with sys/hist/draft/rsv parts and the draft '次' in the input; all keys in the key bar (three lines
    at 80 columns since F6 Novel, two at 120)."""
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


NOVEL_CHUNKS = ["森の奥には", "[red]赤い[/red]", "屋根の城が", "あった。\n"]


def novel_app(tmp_path: Path) -> tuple[ChatApp, Any]:
    from tui.app.screens.chat import ChatScreen
    from tui.app.screens.novel import NovelScreen
    from tui.novel.files import save_story
    from tui.novel.session import NovelSession
    from tui.novel.story import LoreEntry, Story
    from tui.presets import load_settings
    from tui.tokenizers import tokenizer_for_preset

    preset = load_settings().preset("demo")
    path = tmp_path / "forest.story.json"
    lore = (
        LoreEntry(keys=("城",), content="古い城には誰も住んでいない。", name="Castle", priority=2),
        LoreEntry(keys=("アリス",), content="アリスは十歳の少女。", name="Alice"),
        LoreEntry(content="舞台は中世の村。", always=True, name="Setting"),
    )
    save_story(
        path, Story(text="むかしむかし、アリスは森へ出かけました。\n", memory="童話の文体。", lore=lore)
    )
    session = NovelSession.open(path, preset=preset, tokenizer=tokenizer_for_preset(preset))
    host = ScriptedHost(base=ScriptedBackend(chunks=NOVEL_CHUNKS, fixed_stats=True))
    screen = NovelScreen(session, host)

    async def write(pilot: Any) -> None:
        await wait_for(pilot, lambda: screen.plan is not None)
        screen.story_area.cursor_blink = False  # a blinking cursor would be drawn in some runs and not others
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: screen.session.job is not None and screen.session.job.done)
        await wait_for(pilot, lambda: screen.status.info.reused is not None)
        await pilot.pause(0.1)

    return ChatApp(ChatScreen(preset, host, mode="base"), first_screen=screen), write


@pytest.mark.parametrize("size", SIZES)
def test_novel_screen(snap_compare: Any, size: tuple[int, int], tmp_path: Path) -> None:
    """The novel screen after one continuation: a lilac NOVEL badge, ready, 57/1920 tok with reuse and prefill
    figures, 28.0 tok/s, local cpu and forest.story.json last (cut at 80 columns); the story ends with the
    continuation '森の奥には[red]赤い[/red]屋根の城があった。' where `[red]` is literal text. At 80 columns the story
    fills the screen; at 120 the Ledger panel sits beside it: 57 of 1920 tokens, the stable prefix, and rows for
    メモリ (always at the top), #3 Setting (always-on), #1 Castle and #2 Alice (fired by their keys, with the story
    token), the story and an empty, skipped 脚注, each with its tokens; the summary's third line says
    'lore 15 of 512 tokens · scan window 1024' (Castle 9 + Alice 6). The tabs are メモリ, 脚注, Lore, 設定 and Ledger. The key bar lists Chat, Undo,
    Quit, Stop (dimmed), Write, Retry, Redo, Panels, Next, 設定, Help and Palette."""
    app, write = novel_app(tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=write)


@pytest.mark.parametrize("size", SIZES)
def test_novel_lorebook(snap_compare: Any, size: tuple[int, int], tmp_path: Path) -> None:
    """The Lore panel (F4 three times) with its three entries (Castle key 城 priority 2, Alice, Setting marked
    '(always)'), the hint line, the lorebook keys first in the key bar (Edit, New entry, On/off, Delete), and
    the test field holding the half-width 'ｱﾘｽ' with its answer "#2 Alice: key 'アリス'". At 80 columns the panel
    takes the story's place; at 120 it sits beside the story."""
    app, write = novel_app(tmp_path)

    async def open_lore(pilot: Any) -> None:
        await write(pilot)
        await pilot.press("f4", "f4", "f4")
        app.screen.query_one("#lore-test").value = "ｱﾘｽ"
        app.screen.query_one("#lore-table").focus()
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=open_lore)


@pytest.mark.parametrize("size", SIZES)
def test_novel_settings(snap_compare: Any, size: tuple[int, int], tmp_path: Path) -> None:
    """The 設定 panel (F3): scan window 1024, lore budget (holding the 5000 just pasted) and reply length empty
    with the preset's 128 as its dim placeholder, each with a short hint after it; under them the red refusal
    'lore budget: 5000 is beyond the 2048-token window (most 2048); it stays 512', then '禁止ワード (one per
    line):' and a text area holding 魔王 and さようなら on two lines. At 80 columns the panel takes the
    story's place; at 120 it sits beside the story. The key bar has f3 設定."""
    from textual import events

    app, write = novel_app(tmp_path)

    async def open_settings(pilot: Any) -> None:
        await write(pilot)
        await pilot.press("f3", "tab", "tab", "tab")
        await pilot.press(*"魔王", "enter", *"さようなら")
        await pilot.press("shift+tab", "shift+tab", "end", "backspace", "backspace", "backspace")
        app.screen.query_one("#lore-budget").post_message(events.Paste("5000"))
        await pilot.pause(0.2)
        app.screen.query_one("#lore-budget").cursor_blink = False
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=open_settings)
