"""The novel screen's 設定 panel through the real demo models: scan window, lore budget, reply length, 禁止ワード.

Each test types into the panel as a writer would and checks the ledger (what the model would be sent), the story
file (what is saved) and, for 禁止ワード, what the real model writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.widgets import Input

from tests.functional.app_helpers import wait_for
from tests.functional.test_novel_screen import demo_host, novel_app, write_and_wait  # noqa: F401
from tui.app.screens.help import HelpScreen
from tui.app.screens.novel import NovelScreen
from tui.app.widgets.story_settings import SETTLE_S
from tui.engine.hosts import ModelHost
from tui.novel.files import read_story
from tui.novel.session import WriteOptions
from tui.novel.story import LoreEntry, Story

pytestmark = pytest.mark.slow

OPENING = (
    "昔々、ある村にアリスという少女がいた。\n彼女は魔法が好きだった。\n「ねえ、ボブ」とアリスは言った。\n"
)
ALICE = LoreEntry(keys=("アリス",), content="アリスは王都の魔法学院に通う十六歳の少女。", name="Alice")


def ledger_rows(screen: NovelScreen) -> list[list[str]]:
    table = screen.ledger.query_one("#ledger-table")
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]  # type: ignore[attr-defined]


def alice_row(screen: NovelScreen) -> list[str]:
    return next(row for row in ledger_rows(screen) if row[0] == "#1 Alice")


def message(screen: NovelScreen) -> str:
    return str(screen.query_one("#settings-message").render())


async def retype(pilot: object, screen: NovelScreen, field: str, typed: str, *, paste: bool = False) -> None:
    """Focus `field`, empty it with backspaces and type `typed` key by key (each prefix is a value the screen
    takes or refuses on its own), or paste it in one piece."""
    widget = screen.query_one(f"#{field}", Input)
    widget.focus()
    await pilot.press("end", *["backspace"] * len(widget.value))  # type: ignore[attr-defined]
    if paste:
        widget.post_message(events.Paste(typed))
    else:
        await pilot.press(*typed)  # type: ignore[attr-defined]
    await pilot.pause(0.1)  # type: ignore[attr-defined]


async def test_f3_and_f4_reach_the_settings_and_the_palette_and_help_name_them(
    demo_host: ModelHost,  # noqa: F811
    tmp_path: Path,
) -> None:
    app, screen = novel_app(demo_host, tmp_path / "k.story.json", Story(text=OPENING))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        assert "f3 設定" in str(screen.query_one("#keys").render())  # in the key bar at 80 columns
        await pilot.press("f3")
        assert screen.focused is screen.query_one("#scan-tokens")
        assert screen.query_one("#settings").region.height >= 8  # at 80x24 the panel takes the story's place
        await pilot.press("tab", "tab")
        assert screen.focused is screen.query_one("#reply-tokens")
        await pilot.press("tab")
        assert screen.focused is screen.query_one("#banned")
        await pilot.press("f4")  # 設定 → Ledger
        assert screen.focused is screen.query_one("#ledger-table")
        await pilot.press("f4", "f4", "f4", "f4")  # メモリ → 脚注 → Lore → 設定
        assert screen.focused is screen.query_one("#scan-tokens")
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Story settings: scan window, lore budget, reply length, 禁止ワード" in titles
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert any("禁止ワード one per line" in what for _key, what in help_screen.extra)
        assert any(b.key == "f3" and "禁止ワード" in b.tooltip for b in help_screen.bindings)


async def test_the_lore_budget_drops_and_brings_back_a_fired_entry_in_the_ledger_and_the_file(
    demo_host: ModelHost,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.story.json"
    app, screen = novel_app(demo_host, path, Story(text=OPENING, lore=(ALICE,)))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        cost = int(alice_row(screen)[2])
        assert alice_row(screen)[1] == "included" and cost > 2
        await pilot.press("f3", "tab")
        await retype(pilot, screen, "lore-budget", str(cost - 1))
        await pilot.press("enter")
        await wait_for(pilot, lambda: alice_row(screen)[1] == "dropped")
        assert "lore budget full" in alice_row(screen)[3]
        assert ALICE.content not in screen.plan.prompt  # type: ignore[union-attr]
        assert f"lore 0 of {cost - 1} tokens" in str(screen.query_one("#ledger-summary").render())
        assert f"saved: lore budget {cost - 1}" in message(screen)
        await wait_for(pilot, lambda: read_story(path).lore_budget == cost - 1)  # autosaved
        await retype(pilot, screen, "lore-budget", str(cost))
        await wait_for(pilot, lambda: alice_row(screen)[1] == "included")
        assert ALICE.content in screen.plan.prompt  # type: ignore[union-attr]
        # The scan window: with none, only the 脚注 fires entries, and the ledger says so.
        await retype(pilot, screen, "scan-tokens", "0")
        await wait_for(pilot, lambda: alice_row(screen)[1] == "skipped")
        assert "no key in the last 0 tokens" in alice_row(screen)[3]
        await pilot.press("ctrl+q")
    saved = read_story(path)
    assert (saved.lore_budget, saved.scan_tokens, saved.text) == (cost, 0, OPENING)


async def test_bad_values_are_refused_in_one_sentence_and_the_saved_ones_stay(
    demo_host: ModelHost,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = tmp_path / "b.story.json"
    app, screen = novel_app(demo_host, path, Story(text=OPENING, lore=(ALICE,), lore_budget=300))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        await pilot.press("f3", "tab")
        for typed, why in (
            ("", "lore budget: type a whole number of tokens from 0 to 2048; it stays 300"),
            ("abc", "lore budget: 'abc' is not a whole number of tokens from 0 to 2048; it stays 300"),
            ("-5", "lore budget: '-5' is not a whole number of tokens from 0 to 2048; it stays 300"),
            (
                "5000",
                "lore budget: 5000 is beyond the 2048-token window (most 2048); it stays 300",
            ),
        ):
            await retype(pilot, screen, "lore-budget", typed, paste=typed == "5000")
            assert why in message(screen)
            assert screen.session.story.lore_budget == 300
        await retype(pilot, screen, "scan-tokens", "4096", paste=True)
        assert "scan window: 4096 is beyond the 2048-token window" in message(screen)
        # Typed key by key: 4, 40 and 409 on the way are never applied, 4096 is refused, 1024 stays.
        await retype(pilot, screen, "scan-tokens", "4096")
        assert "scan window: 4096 is beyond the 2048-token window" in message(screen)
        await pilot.pause(SETTLE_S + 0.3)
        assert "it stays 1024" in message(screen) and screen.session.story.scan_tokens == 1024
        await retype(pilot, screen, "reply-tokens", "2048", paste=True)
        assert "reply length: 2048 is beyond the 2048-token window" in message(screen)
        assert "\n" not in message(screen).strip()  # one sentence, one line at 80 columns
        # Full-width digits, as a Japanese IME types them, are digits.
        await retype(pilot, screen, "reply-tokens", "６４")  # applied once the writer pauses
        await wait_for(pilot, lambda: screen.plan is not None and screen.plan.reserve == 64)
        await retype(pilot, screen, "scan-tokens", "x", paste=True)
        await pilot.press("tab")  # leaving a refused field shows the saved value again
        assert screen.query_one("#scan-tokens", Input).value == "1024"
        story = screen.session.story
        assert (story.lore_budget, story.scan_tokens, story.max_new_tokens) == (300, 1024, 64)
        await retype(pilot, screen, "reply-tokens", "")  # empty: the preset's again
        await wait_for(pilot, lambda: screen.session.story.max_new_tokens is None)
        assert screen.plan is not None and screen.plan.reserve == screen.session.reserve()
        await pilot.press("ctrl+q")
    saved = read_story(path)
    assert (saved.lore_budget, saved.scan_tokens, saved.max_new_tokens, saved.lore) == (
        300,
        1024,
        None,
        (ALICE,),
    )


async def test_banned_words_typed_in_the_panel_are_saved_and_never_written(
    demo_host: ModelHost,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.story.json"
    app, screen = novel_app(demo_host, path, Story(text=OPENING, max_new_tokens=24))
    screen.options = WriteOptions(greedy=True)  # what the model "otherwise writes" is then one fixed text
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        await write_and_wait(pilot, screen)
        unbanned = screen.session.story.history[-1].text
        # Two-character pieces of it, none with a space (the panel strips the spaces around a word).
        pieces = {unbanned[i : i + 2] for i in range(len(unbanned) - 1)}
        words = sorted(w for w in pieces if not any(c.isspace() for c in w))[:4]
        assert words
        await pilot.press("f7")  # take it out: the same prompt again
        assert screen.session.story.text == OPENING
        await pilot.press("f3", "tab", "tab", "tab")
        assert screen.focused is screen.query_one("#banned")
        for word in words:
            await pilot.press(*word, "enter")
        await pilot.press("enter", *" 　")  # blank lines and spaces are not words
        await wait_for(pilot, lambda: screen.session.story.banned == tuple(words))  # once the writer pauses
        await wait_for(pilot, lambda: read_story(path).banned == tuple(words))  # autosaved
        assert f"saved: {len(words)} 禁止ワード" in message(screen)
        await write_and_wait(pilot, screen)
        written = screen.session.story.history[-1].text
        assert written and written != unbanned
        assert not [w for w in words if w in written], (words, written)
        await pilot.press("ctrl+q")
    assert read_story(path).banned == tuple(words)
