"""`chat --idle-minutes`: the app saves and quits after a while without a key, so an abandoned browser tab lets
its instance scale to zero; keys and a reply being written keep it open."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.functional.app_helpers import wait_for
from tests.functional.scripted import ScriptedBackend, ScriptedHost
from tui.app.app import ChatApp
from tui.app.screens.chat import ChatScreen
from tui.presets import load_settings
from tui.recorder import ConversationRecorder
from tui.store import SessionStore

IDLE_S = 0.6


@pytest.fixture(autouse=True)
def _demo(demo_models: dict[str, Path]) -> None:
    """The demo preset's tokenizer lives in the demo model directory."""


def idle_app(host: ScriptedHost, store: SessionStore) -> tuple[ChatApp, ConversationRecorder]:
    recorder = ConversationRecorder(store)
    screen = ChatScreen(load_settings().preset("demo"), host, recorder=recorder, store=store)
    return ChatApp(screen, idle_s=IDLE_S), recorder


async def test_keys_keep_the_app_open_and_silence_ends_it(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.sqlite3")
    app, _ = idle_app(ScriptedHost(), store)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in "typing slowly":
            await pilot.press(key)
            last_key = time.monotonic()
            await pilot.pause(IDLE_S / 3)
        assert app.is_running  # 13 keys over ~2.6 s, never IDLE_S apart
        await wait_for(pilot, lambda: not app.is_running, timeout=10)
        assert (
            time.monotonic() - last_key >= IDLE_S * 0.8
        )  # the app noted the key a moment before press() returned
    assert app.return_value == 0
    store.close()


async def test_a_long_reply_is_not_idleness_and_is_saved_whole_before_the_app_ends(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.sqlite3")
    slow = ScriptedHost(instruct=ScriptedBackend(chunks=["ね"] * 100, delay_s=0.02))  # ~2 s, over 3 x IDLE_S
    app, recorder = idle_app(slow, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"hello", "enter")
        await wait_for(pilot, lambda: app.chat_screen.generating)
        await wait_for(pilot, lambda: not app.chat_screen.generating, timeout=20)
        assert app.is_running  # the reply took longer than IDLE_S and the app is still there
        await wait_for(pilot, lambda: not app.is_running, timeout=10)
    cid = recorder.conversation_id
    assert cid is not None
    saved = store.load(cid).messages
    assert [m.content for m in saved] == ["hello", "ね" * 100] and not saved[1].partial
    store.close()


async def test_an_app_told_to_exit_by_textual_serve_saves_the_reply_so_far_whole(tmp_path: Path) -> None:
    """A closed browser tab: textual-serve sends "quit", Textual posts ExitApp (what App.exit does), and our
    quit action never runs. The partial reply is saved up to its last chunk, not the last throttled write."""
    store = SessionStore(tmp_path / "s.sqlite3")
    slow = ScriptedHost(instruct=ScriptedBackend(chunks=["ね"] * 400, delay_s=0.01))
    app, recorder = idle_app(slow, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"hello", "enter")
        await wait_for(pilot, lambda: len(app.chat_screen.conversation.turns) == 2)
        await wait_for(pilot, lambda: len(app.chat_screen.conversation.turns[1].content) > 50)
        app.exit()
    reply = app.chat_screen.conversation.turns[1].content
    cid = recorder.conversation_id
    assert cid is not None
    saved = store.load(cid).messages[1]
    assert saved.partial and saved.content == reply and 50 < len(reply) < 400
    store.close()
