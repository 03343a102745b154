"""Pilot tests: autosave and resume, editing the last message, a 1 MB paste, and random key sequences."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from textual import events

from tests.functional.app_helpers import make_app, wait_for
from tests.functional.scripted import ScriptedBackend, ScriptedHost
from tui.chat.resume import restore
from tui.recorder import ConversationRecorder
from tui.store import SessionStore


@pytest.fixture(autouse=True)
def _demo(demo_models: dict[str, Path]) -> None:
    """The demo preset's tokenizer lives in the demo model directory."""


async def test_autosave_partial_then_complete_and_resume(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.sqlite3")
    recorder = ConversationRecorder(store)
    host = ScriptedHost(instruct=ScriptedBackend(chunks=["ね"] * 300, delay_s=0.01))
    app = make_app(host, recorder=recorder, store=store)
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"save me", "enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 2)
        cid = recorder.conversation_id
        assert cid is not None
        # Mid-stream (within a second of the first text): the reply is in the database, marked partial.
        await wait_for(pilot, lambda: store.load(cid).messages[1].content != "", 1.5)
        assert screen.generating
        mid = store.load(cid).messages
        assert [m.role for m in mid] == ["user", "assistant"] and mid[1].partial
        await wait_for(pilot, lambda: not screen.generating)
    done = store.load(cid).messages
    assert done[0].content == "save me" and done[1].content == "ね" * 300 and not done[1].partial
    assert done[1].mode == "instruct"

    conversation, recorder2, _settings, _mode = restore(store, cid)
    app2 = make_app(ScriptedHost(), conversation=conversation, recorder=recorder2, store=store)
    screen2 = app2.chat_screen
    async with app2.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        assert len(screen2.chat.views) == 2
        assert "ねね" in screen2.chat.views[1].text
        await pilot.press(*"more", "enter")
        await wait_for(pilot, lambda: len(screen2.conversation.turns) == 4 and not screen2.generating)
    assert len(store.load(cid).messages) == 4
    store.close()


async def test_save_now_keeps_streaming_reply_as_partial(tmp_path: Path) -> None:
    """What SIGHUP/SIGTERM run before exiting: the reply so far is written, marked partial."""
    store = SessionStore(tmp_path / "s.sqlite3")
    recorder = ConversationRecorder(store, partial_interval_s=60)
    app = make_app(
        ScriptedHost(instruct=ScriptedBackend(chunks=["x"] * 500, delay_s=0.01)), recorder=recorder
    )
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q", "enter")
        await wait_for(
            pilot,
            lambda: len(screen.conversation.turns) == 2 and len(screen.conversation.turns[1].content) > 10,
        )
        app.save_and_exit()  # what the SIGHUP/SIGTERM handler runs
        saved = store.load(recorder.conversation_id or 0).messages[1]
        assert saved.partial and len(saved.content) > 10
    store.close()


async def test_up_arrow_edits_last_user_message() -> None:
    host = ScriptedHost()
    app = make_app(host)
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"first", "enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 2 and not screen.generating)
        await pilot.press("up")
        assert screen.composer.text == "first"
        await pilot.press("end", *"!", "enter")
        await wait_for(pilot, lambda: len(host.instruct.requests) == 2 and not screen.generating)
        assert screen.conversation.turns[0].content == "first!"
        assert len(screen.conversation.turns) == 2 and len(screen.chat.views) == 2


async def test_ctrl_j_inserts_newline_enter_sends() -> None:
    app = make_app(ScriptedHost())
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a", "ctrl+j", "b")
        assert screen.composer.text == "a\nb" and not screen.conversation.turns
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 2 and not screen.generating)
        assert screen.conversation.turns[0].content == "a\nb"


async def test_one_megabyte_paste_stays_responsive() -> None:
    app = make_app(ScriptedHost())
    screen = app.chat_screen
    big = ("日本語のテキスト。" * 12) + "\n"
    text = big * (1_000_000 // len(big.encode()))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        before = screen.plan
        # The planner is held inside its work on the megabyte until the test lets it go: the keystroke below
        # must land while that work is under way, however fast or loaded the machine is (no wall-clock bound).
        plan, holding, release = screen.core.plan, threading.Event(), threading.Event()

        def held(turns: Any, draft: str, *args: Any, **kwargs: Any) -> Any:
            if len(draft) >= len(text):
                holding.set()
                release.wait(120)
            return plan(turns, draft, *args, **kwargs)

        screen.core.plan = held  # type: ignore[method-assign]
        screen.composer.post_message(events.Paste(text))
        await wait_for(pilot, holding.is_set)
        await pilot.press("Z")
        # The keystroke landed, and the meter still shows the plan from before the paste: the UI never waited.
        assert screen.composer.text.endswith("Z")
        assert screen.plan is before and not release.is_set()
        release.set()
        # The rolling policy truncates the draft to fit, and the meter says so before sending.
        await wait_for(
            pilot,
            lambda: (
                screen.plan is not None
                and any(s.kind == "draft" and s.status == "truncated" for s in screen.plan.segments)
            ),
            60,
        )
        assert screen.plan is not None and screen.plan.used <= screen.plan.window
        assert "⚠" in str(screen.meter.render()) and "truncates" in str(screen.meter.render())


async def test_random_keys_never_kill_the_app() -> None:
    rng = random.Random(5)
    keys = [
        "a", "あ", "enter", "escape", "ctrl+t", "ctrl+o", "ctrl+r", "ctrl+g", "ctrl+n", "f1", "f3", "f8", "ctrl+l", "f2",
        "up", "down", "tab", "shift+tab", "ctrl+j", "backspace", "[", "]", "f9", "pageup",
    ]  # fmt: skip
    app = make_app(ScriptedHost(instruct=ScriptedBackend(delay_s=0.002), base=ScriptedBackend(delay_s=0.002)))
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(300):
            await pilot.press(rng.choice(keys))
        await pilot.pause(0.2)
        assert app.is_running
        # Back to the chat screen and still working.
        while app.screen is not app.chat_screen:
            app.pop_screen()
        await pilot.pause(0.1)
        screen.composer.focus()
        n = len(screen.conversation.turns)
        if screen.generating:
            await pilot.press("escape")
            await wait_for(pilot, lambda: not screen.generating)
            n = len(screen.conversation.turns)
        await pilot.press("o", "k", "enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) >= n + 2 and not screen.generating)


async def test_vm_status_line_and_heartbeat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a provisioned VM: elapsed time, cost and idle countdown in the status line; keys touch the heartbeat."""
    import json
    import os

    from tui.app.launch import _vm_status
    from tui.vminfo import Heartbeat

    beat = tmp_path / "heartbeat"
    beat.touch()
    os.utime(beat, (0, 0))
    info = {
        "version": 1, "hourly_usd": 0.5, "jpy_per_usd": 150, "started_at": int(time.time()) - 3900,
        "max_run_seconds": 8 * 3600, "idle_minutes": 30, "idle_action": "stop", "heartbeat_path": str(beat),
    }  # fmt: skip
    (tmp_path / "vm.json").write_text(json.dumps(info), encoding="utf-8")
    monkeypatch.setenv("STABLELM_TUI_VM_INFO", str(tmp_path / "vm.json"))
    app = make_app(ScriptedHost(), vm_status=_vm_status, heartbeat=Heartbeat.for_this_vm())
    screen = app.chat_screen
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause(0.1)
        line = str(screen.status.render())
        assert "VM 1h05m" in line and "≈$0.54" in line and "idle stop" in line
        await pilot.press("a")
        assert beat.stat().st_mtime > time.time() - 60


async def test_regenerate_and_edit_replace_the_saved_messages(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.sqlite3")
    recorder = ConversationRecorder(store)
    host = ScriptedHost(instruct=ScriptedBackend(chunks=["答え"]))
    app = make_app(host, recorder=recorder, store=store)
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"first", "enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 2 and not screen.generating)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(host.instruct.requests) == 2 and not screen.generating)
        cid = recorder.conversation_id or 0
        assert [(m.role, m.content) for m in store.load(cid).messages] == [
            ("user", "first"),
            ("assistant", "答え"),
        ]
        await pilot.press("up")
        await pilot.press(*"!", "enter")
        await wait_for(pilot, lambda: len(host.instruct.requests) == 3 and not screen.generating)
    saved = [(m.role, m.content) for m in store.load(cid).messages]
    assert saved == [("user", "first!"), ("assistant", "答え")]
    store.close()
