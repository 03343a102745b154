"""The real `stablelm-tui chat` in a real terminal (tmux) while a reply streams: Esc, kill -9 and a closed terminal.

The preset `long` (tmux_helpers.py) keeps a base reply streaming seconds after it starts. The store is then
read back directly: what the screen showed must be what was saved, nothing completed may be lost, and an
unfinished reply must be saved as partial.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.functional.tmux_driver import TmuxChat, reply_lines
from tests.functional.tmux_helpers import LOAD_S, OpenLong
from tui.store import SessionStore, StoredConversation

pytestmark = [
    pytest.mark.slow,
]


def open_chat(open_long: OpenLong, *args: str) -> TmuxChat:
    chat = open_long("--seed", "7", *args)
    chat.wait_for("ready", LOAD_S)
    return chat


def start_long_reply(chat: TmuxChat, text: str) -> list[str]:
    """Send `text` in base mode; once the reply has streamed for a while, the lines of it on the screen."""
    chat.type(text)
    chat.send("Enter")
    label = "assistant · BASE"
    deadline = time.monotonic() + 60
    while not (shown := reply_lines(chat.wait_for(label, 30), label)) or shown == ["…"]:
        if time.monotonic() > deadline:
            raise AssertionError(f"no reply text appeared:\n{chat.screen()}")
        time.sleep(0.2)
    time.sleep(1.5)  # longer than the recorder's interval between partial saves (0.5 s)
    screen = chat.screen()
    assert "generating" in screen, f"the reply ended before the test could act on it:\n{screen}"
    return reply_lines(screen, label)


def stored() -> StoredConversation:
    store = SessionStore()
    try:
        assert store.integrity_check() == "ok"
        return store.load(store.latest_id() or 0)
    finally:
        store.close()


def test_esc_in_a_real_terminal_stops_the_reply_and_its_text_stays(open_long: OpenLong) -> None:
    chat = open_chat(open_long, "--mode", "base")
    start_long_reply(chat, "むかしむかし")
    chat.send("Escape")
    screen = chat.wait_for("assistant · BASE · stopped", 15)
    shown = reply_lines(screen, "assistant · BASE · stopped")
    assert shown and shown != ["…"], screen
    chat.wait_for("ready", 15)
    time.sleep(1.0)
    assert reply_lines(chat.screen(), "assistant · BASE · stopped") == shown  # nothing more streams in
    chat.send("C-q")
    chat.wait_exit()
    user, reply = stored().messages
    assert (user.role, user.content, user.partial) == ("user", "むかしむかし", False)
    assert reply.role == "assistant" and reply.partial and reply.meta.get("reason") == "cancelled"
    assert shown[0] in reply.content.replace("\n", "")


def test_kill_9_while_a_reply_streams_loses_nothing_completed_and_keeps_the_partial(
    open_long: OpenLong,
) -> None:
    chat = open_chat(open_long)
    chat.type("こんにちは")
    chat.send("Enter")
    chat.wait_for("assistant · INSTRUCT", 60)
    chat.wait_for("ready", 60)
    chat.send("C-t")
    chat.wait_for(" BASE ", 10)
    chat.wait_for("ready", LOAD_S)
    shown = start_long_reply(chat, "続きをどうぞ")
    os.kill(chat.pid, 9)
    chat.wait_exit()
    first_user, first_reply, second_user, second_reply = stored().messages
    assert (first_user.content, first_user.partial) == ("こんにちは", False)
    assert first_reply.mode == "instruct" and not first_reply.partial and first_reply.content
    assert first_reply.meta.get("reason") in ("eos", "length", "stop")
    assert (second_user.content, second_user.partial) == ("続きをどうぞ", False)
    assert second_reply.mode == "base" and second_reply.partial
    assert shown[0] in second_reply.content.replace("\n", "")  # what was on screen was saved


def test_closing_the_terminal_sends_sighup_and_the_app_saves_and_exits_cleanly(open_long: OpenLong) -> None:
    chat = open_chat(open_long, "--mode", "base")
    shown = start_long_reply(chat, "夜明け前")
    chat.kill_session()  # tmux hangs up the pane's terminal: SIGHUP, as when the SSH link drops
    chat.wait_exit()
    # The app closed its store on the way out (a killed process leaves SQLite's write-ahead log behind).
    database = Path(os.environ["STABLELM_TUI_DATA_DIR"]) / "sessions.sqlite3"
    assert database.exists() and not Path(f"{database}-wal").exists()
    user, reply = stored().messages
    assert (user.content, user.partial) == ("夜明け前", False)
    assert reply.partial and reply.content and shown[0] in reply.content.replace("\n", "")
