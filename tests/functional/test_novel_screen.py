"""Pilot tests of the novel screen through the real demo models (tokenizer, planner, engine; tiny random weights).

Each test drives the screen by keys as a writer would and checks the screen against the story file and the
planner's ledger: what is shown is what is saved, and what the ledger says is what the model is sent.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.functional.app_helpers import wait_for
from tui.app.app import ChatApp
from tui.app.screens.chat import ChatScreen
from tui.app.screens.lore_entry import LoreEntryScreen
from tui.app.screens.novel import NovelScreen
from tui.engine.factory import EngineChoice, open_host
from tui.engine.hosts import ModelHost
from tui.novel.files import read_story, save_story
from tui.novel.session import NovelSession
from tui.novel.store import StoryStore
from tui.novel.story import LoreEntry, Story
from tui.presets import load_settings
from tui.tokenizers import tokenizer_for_preset

pytestmark = pytest.mark.slow

OPENING = "むかしむかし、ある村にアリスという少女がいました。\nある日、"
ALICE = LoreEntry(keys=("アリス",), content="アリスは十歳の少女。", name="Alice", priority=5)
CASTLE = LoreEntry(keys=("城",), content="古い城が丘の上にある。", name="Castle")


@pytest.fixture(scope="module")
def demo_host(demo_models: dict[str, Path]) -> ModelHost:
    """One model pair for the module: loading is the slow part."""
    return open_host(load_settings().preset("demo"), EngineChoice(device="cpu", residency="both"))


def novel_app(host: ModelHost, path: Path, story: Story | None = None) -> tuple[ChatApp, NovelScreen]:
    """The app as `stablelm-tui novel open PATH` builds it: the chat beneath, the novel screen over it."""
    preset = load_settings().preset("demo")
    if story is not None:
        save_story(path, story)
    session = NovelSession.open(
        path, preset=preset, tokenizer=tokenizer_for_preset(preset), store=StoryStore(), create=True
    )
    screen = NovelScreen(session, host)
    return ChatApp(ChatScreen(preset, host, mode="base"), first_screen=screen), screen


async def write_and_wait(pilot: object, screen: NovelScreen, key: str = "ctrl+g") -> None:
    before = len(screen.session.story.history)
    await pilot.press(key)  # type: ignore[attr-defined]
    await wait_for(pilot, lambda: screen.generating or len(screen.session.story.history) > before, 120)
    await wait_for(pilot, lambda: not screen.generating and screen.session.job is not None, 120)
    await wait_for(pilot, lambda: screen.session.job is not None and screen.session.job.done, 120)


async def test_write_streams_a_continuation_into_the_story_and_the_file(
    demo_host: ModelHost, tmp_path: Path
) -> None:
    path = tmp_path / "a.story.json"
    app, screen = novel_app(demo_host, path, Story(text=OPENING, max_new_tokens=24))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        await write_and_wait(pilot, screen)
        story = screen.session.story
        item = story.history[-1]
        assert item.finish in ("eos", "length", "stop") and item.state == "applied"
        assert story.text == OPENING + item.text and item.text
        assert screen.story_area.text == story.text  # what is shown is the story
        assert read_story(path).text == story.text  # and it is saved
        assert screen.status.info.tokens_per_s is not None
        assert "NOVEL" in str(screen.status.render())
        # After a continuation the next one reuses the cached prefix: the status line says how much.
        await wait_for(pilot, lambda: screen.status.info.reused is not None and screen.status.info.reused > 0)
        plan = screen.session.plan()
        assert screen.status.info.total == plan.total_tokens


async def test_typing_while_it_streams_keeps_the_edit_and_the_continuation_goes_to_the_end(
    demo_host: ModelHost, tmp_path: Path
) -> None:
    path = tmp_path / "b.story.json"
    app, screen = novel_app(demo_host, path, Story(text=OPENING, max_new_tokens=1500))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        await pilot.press("ctrl+g")
        await wait_for(
            pilot, lambda: screen.generating and len(screen.session.story.text) > len(OPENING) + 3, 120
        )
        screen.story_area.move_cursor((0, 0))
        await pilot.press(*"序章")
        await wait_for(pilot, lambda: len(screen.session.job.text) > 10 if screen.session.job else False, 60)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.generating, 60)
        story = screen.session.story
        item = story.history[-1]
        assert item.finish == "cancelled" and item.text
        assert story.text == "序章" + OPENING + item.text  # the edit stays, the continuation is at the end
        assert screen.story_area.text == story.text
        assert screen.story_area.cursor_location == (0, 2)  # the writer's cursor did not move
        await pilot.press("ctrl+q")
    assert read_story(path).text == "序章" + OPENING + item.text


async def test_retry_undo_and_redo_by_keys(demo_host: ModelHost, tmp_path: Path) -> None:
    path = tmp_path / "c.story.json"
    app, screen = novel_app(demo_host, path, Story(text=OPENING, max_new_tokens=16))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        await write_and_wait(pilot, screen)
        first = screen.session.story.history[-1]
        await write_and_wait(pilot, screen, "ctrl+r")
        story = screen.session.story
        assert [h.state for h in story.history] == ["replaced", "applied"]
        assert story.history[0].created == first.created
        assert story.text == OPENING + story.history[-1].text == screen.story_area.text
        await pilot.press("f7")
        assert screen.session.story.text == OPENING == screen.story_area.text
        await pilot.press("f8")
        assert screen.story_area.text == OPENING + story.history[-1].text == screen.session.story.text
        await pilot.press("f8")  # nothing left to redo: said, nothing changes
        assert screen.story_area.text == screen.session.story.text
    assert read_story(path).text == OPENING + story.history[-1].text


async def test_the_ledger_follows_typing_and_the_lore_test_field_says_what_fires(
    demo_host: ModelHost, tmp_path: Path
) -> None:
    path = tmp_path / "d.story.json"
    app, screen = novel_app(
        demo_host, path, Story(text="森の中。", memory="これは童話。", lore=(ALICE, CASTLE))
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        assert screen.plan is not None and screen.plan.pieces[1].status != "included"
        await pilot.press(*"城が見えた")
        await wait_for(pilot, lambda: screen.plan is not None and "城が見えた" in screen.plan.prompt)
        plan = screen.plan
        castle = next(p for p in plan.pieces if p.kind == "lore" and p.entry == 1)
        assert castle.status == "included" and "key '城'" in castle.reason
        assert plan.total_tokens == screen.session.plan().total_tokens
        table = screen.ledger.query_one("#ledger-table")
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]  # type: ignore[attr-defined]
        assert ["#2 Castle", "included", str(castle.tokens), castle.reason] in rows
        assert any(row[0] == "#1 Alice" and row[1] == "skipped" for row in rows)
        # The test field: the same matching, width-folded (ｱﾘｽ finds アリス).
        await pilot.press("f4", "f4", "f4")  # メモリ → 脚注 → Lore
        screen.query_one("#lore-test").focus()
        await pilot.press(*"ｱﾘｽと会う")
        result = str(screen.query_one("#lore-test-result").render())
        assert "#1 Alice: key 'アリス'" in result and "Castle" not in result


async def test_lorebook_entries_are_added_edited_disabled_and_deleted_by_keyboard(
    demo_host: ModelHost, tmp_path: Path
) -> None:
    path = tmp_path / "e.story.json"
    app, screen = novel_app(demo_host, path, Story(text="アリスは歩いた。", lore=(CASTLE,)))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        await pilot.press("ctrl+o")  # at 80 columns the panels take the story's place
        assert not screen.story_area.display or not screen.story_area.region.width
        await pilot.press("f4", "f4")  # Ledger → メモリ → 脚注 → ... until Lore
        while screen.query_one("#panels").active != "tab-lore":  # type: ignore[attr-defined]
            await pilot.press("f4")
        assert screen.focused is screen.lore_panel.table
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LoreEntryScreen))
        await pilot.press(*"Alice", "tab")
        app.screen.query_one("#lore-keys").value = "アリス、ありす"  # type: ignore[attr-defined]
        await pilot.press("tab", "1", "0")
        app.screen.query_one("#lore-content").load_text("アリスは少女。")  # type: ignore[attr-defined]
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.screen is screen)
        lore = screen.session.story.lore
        assert lore[1] == LoreEntry(
            keys=("アリス", "ありす"), content="アリスは少女。", priority=10, name="Alice"
        )
        await wait_for(pilot, lambda: screen.plan is not None and "アリスは少女。" in screen.plan.prompt)
        await pilot.press("space")  # the new entry is under the cursor: disabled, and out of the prompt
        assert not screen.session.story.lore[1].enabled
        await wait_for(pilot, lambda: screen.plan is not None and "アリスは少女。" not in screen.plan.prompt)
        await pilot.press("up", "delete")
        assert [e.name for e in screen.session.story.lore] == ["Alice"]
        # A bad regex is refused in the dialog, which stays open with the reason.
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LoreEntryScreen))
        dialog = app.screen
        dialog.query_one("#lore-keys").value = "[unclosed"  # type: ignore[attr-defined]
        dialog.query_one("#lore-regex").value = True  # type: ignore[attr-defined]
        await pilot.press("f2")
        assert app.screen is dialog and "regular expression" in str(dialog.query_one("#lore-error").render())
        await pilot.press("escape")
        await pilot.press("ctrl+q")
    saved = read_story(path)
    assert [dataclasses.replace(e) for e in saved.lore] == [dataclasses.replace(lore[1], enabled=False)]


async def test_memory_and_note_panels_edit_the_story_and_the_plan(
    demo_host: ModelHost, tmp_path: Path
) -> None:
    path = tmp_path / "f.story.json"
    app, screen = novel_app(demo_host, path, Story(text="一行目。\n二行目。\n三行目。\n"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        await pilot.press("f4")  # Ledger → メモリ
        assert screen.focused is screen.query_one("#memory")
        await pilot.press(*"童話の文体で")
        await pilot.press("f4")
        assert screen.focused is screen.query_one("#note")
        await pilot.press(*"[雨]")
        await wait_for(pilot, lambda: screen.plan is not None and "[雨]" in screen.plan.prompt)
        assert screen.plan is not None and screen.plan.prompt.startswith("童話の文体で\n")
        await pilot.press("ctrl+q")
    saved = read_story(path)
    assert (saved.memory, saved.note) == ("童話の文体で", "[雨]")


async def test_f6_opens_the_novel_screen_from_the_chat_and_back_and_the_palette_lists_it(
    demo_host: ModelHost,
) -> None:
    preset = load_settings().preset("demo")
    app = ChatApp(ChatScreen(preset, demo_host, mode="base"))
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen
        commands = [c.title for c in app.get_system_commands(chat)]
        assert "Novel mode: continue a story" in commands
        await pilot.pause(0.2)
        assert "f6 Novel" in str(chat.query_one("#keys").render())  # in the key bar at 80 columns too
        await pilot.press("f6")
        await wait_for(pilot, lambda: isinstance(app.screen, NovelScreen))
        novel = app.screen
        assert isinstance(novel, NovelScreen)
        path = novel.session.path
        assert path.parent == StoryStore().folder and path.exists()  # a new story in the story store
        titles = [c.title for c in app.get_system_commands(novel)]
        for title in (
            "Write: the model continues the story",
            "Replace the last continuation",
            "Take the last continuation out",
        ):
            assert title in titles  # every key of the novel screen is in the palette by name
        await pilot.press(*"はじまり")
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.screen is chat)
        assert read_story(path).text == "はじまり"  # saved on leaving
        await pilot.press("f6")  # opens the story written last again
        await wait_for(pilot, lambda: isinstance(app.screen, NovelScreen))
        assert app.screen.session.path == path  # type: ignore[attr-defined]
        assert app.screen.story_area.text == "はじまり"  # type: ignore[attr-defined]


async def test_random_keys_never_kill_the_screen_and_the_story_on_screen_is_the_one_saved(
    tmp_path: Path,
) -> None:
    import random

    from tests.functional.scripted import ScriptedBackend, ScriptedHost

    rng = random.Random(14)
    keys = [
        "a", "あ", "enter", "escape", "ctrl+g", "ctrl+r", "f7", "f8", "ctrl+o", "f4", "f1", "n", "space",
        "delete", "backspace", "tab", "shift+tab", "up", "down", "ctrl+z", "[", "]", "f3", "1", "x",
    ]  # fmt: skip
    path = tmp_path / "r.story.json"
    host = ScriptedHost(base=ScriptedBackend(chunks=["森", "の", "奥", "\r\n", "城"] * 4, delay_s=0.002))
    app, screen = novel_app(host, path, Story(text="むかし", lore=(CASTLE,)))  # type: ignore[arg-type]
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(300):
            await pilot.press(rng.choice(keys))
        await pilot.pause(0.2)
        assert app.is_running
        while app.screen is not screen:
            app.screen.dismiss(None)  # type: ignore[attr-defined]
            await pilot.pause(0.1)
        if screen.generating:
            await pilot.press("escape")
            await wait_for(pilot, lambda: not screen.generating)
        screen.take_edits()
        shown = screen.story_area.text
        story = screen.session.story
        # The area shows the story; a "\r\n" from the model stays in the story and shows as a line break.
        assert shown == story.text.replace("\r\n", "\n")
        await pilot.press("ctrl+q")
    assert read_story(path).text == story.text


async def test_a_story_whose_first_line_break_is_crlf_keeps_the_writers_breaks_as_they_are(
    tmp_path: Path,
) -> None:
    from tests.functional.scripted import ScriptedBackend, ScriptedHost

    path = tmp_path / "crlf.story.json"
    host = ScriptedHost(base=ScriptedBackend(chunks=["森"], delay_s=0.002))
    app, screen = novel_app(host, path, Story(text="一行目\r\n二行目\n三行目"))  # type: ignore[arg-type]
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        await pilot.press("end", "ctrl+end", "x")
        screen.take_edits()
        # The writer's edit takes the area's lines: the model's "\r\n" becomes a plain break, and the writer's
        # own "\n" stays one (a TextArea built on the raw text would join every line with "\r\n").
        assert screen.session.story.text == "一行目\n二行目\n三行目x"
        await pilot.press("ctrl+q")
    assert read_story(path).text == "一行目\n二行目\n三行目x"
