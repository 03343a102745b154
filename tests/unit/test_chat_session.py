"""A reply's lifecycle without a terminal (tui.chat.session): what the chat shows and saves at each step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.chat.autosave import Autosave
from tui.chat.conversation import TurnSnapshot
from tui.chat.session import ChatSession
from tui.engine.events import GenerationStats
from tui.recorder import ConversationRecorder
from tui.store import SessionStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SessionStore]:
    store = SessionStore(tmp_path / "s.sqlite3")
    yield store
    store.close()


def saved(store: SessionStore, recorder: ConversationRecorder) -> list[tuple[str, str, bool]]:
    recorder.flush()
    return [(m.role, m.content, m.partial) for m in store.load(recorder.conversation_id or 0).messages]


def session_on(store: SessionStore) -> tuple[ChatSession, ConversationRecorder]:
    recorder = ConversationRecorder(store, partial_interval_s=60)
    return ChatSession(autosave=Autosave(recorder)), recorder


def test_a_reply_streams_into_its_turn_and_is_saved_complete(store: SessionStore) -> None:
    session, recorder = session_on(store)
    session.add_user("こんにちは")
    turn, planned = session.start_reply("instruct")
    assert planned == (TurnSnapshot("user", "こんにちは"),)  # the new reply is not part of its own prompt
    assert session.take_text() == ""
    session.buffer.append("や")
    session.buffer.append("あ")
    assert session.take_text() == "やあ" and turn.content == "やあ"
    stats = GenerationStats(0.01, 2, 20.0, 5, 0, 0, "m", "cpu")
    finished = session.finish_reply("eos", stats, None, "やあ")
    assert finished is turn and session.reply is None
    assert (turn.reason, turn.partial, turn.mode, turn.meta["stats"]["new_tokens"]) == (
        "eos",
        False,
        "instruct",
        2,
    )
    assert saved(store, recorder) == [("user", "こんにちは", False), ("assistant", "やあ", False)]


def test_a_stopped_reply_is_kept_and_saved_as_partial(store: SessionStore) -> None:
    session, recorder = session_on(store)
    session.add_user("q")
    turn, _ = session.start_reply("base")
    session.buffer.append("途中")
    session.cancel.set()
    session.take_text()
    session.finish_reply("cancelled", text="途中")
    assert (turn.content, turn.reason, turn.partial) == ("途中", "cancelled", True)
    assert saved(store, recorder)[-1] == ("assistant", "途中", True)
    # How it ended is saved too, so a resumed chat labels it "stopped" again.
    assert store.load(recorder.conversation_id or 0).messages[-1].meta["reason"] == "cancelled"


def test_the_engines_full_text_wins_over_what_streamed() -> None:
    session = ChatSession()
    session.add_user("q")
    turn, _ = session.start_reply("instruct")
    session.buffer.append("ab")
    session.take_text()
    session.finish_reply("stop", text="abc")
    assert turn.content == "abc"


def test_save_now_writes_a_streaming_reply_as_partial(store: SessionStore) -> None:
    """What quitting, SIGHUP and SIGTERM run: the text buffered but not yet drawn is saved too."""
    session, recorder = session_on(store)
    session.add_user("q")
    session.start_reply("instruct")
    session.buffer.append("まだ途中")
    session.save_now()
    assert saved(store, recorder)[-1] == ("assistant", "まだ途中", True)


def test_a_refused_new_reply_disappears_from_screen_and_store(store: SessionStore) -> None:
    session, recorder = session_on(store)
    session.add_user("q")
    turn, _ = session.start_reply("instruct")
    assert session.refuse_reply() is turn
    assert [t.role for t in session.conversation.turns] == ["user"]
    assert saved(store, recorder) == [("user", "q", False)]


def test_a_refused_continuation_keeps_the_reply_as_it_was() -> None:
    session = ChatSession()
    session.add_user("q")
    turn, _ = session.start_reply("base")
    session.buffer.append("昔々")
    session.take_text()
    session.finish_reply("length", text="昔々")
    again, planned = session.start_reply("base", continuing=True)
    assert again is turn and (turn.partial, turn.reason) == (True, None)
    assert planned[-1] == TurnSnapshot("assistant", "昔々")  # the reply being continued is planned last
    assert session.refuse_reply() is None
    assert (turn.content, turn.partial, turn.reason) == ("昔々", False, "length")


def test_a_continued_reply_grows_in_place() -> None:
    session = ChatSession()
    session.add_user("q")
    turn, _ = session.start_reply("base")
    session.finish_reply("length", text="一")
    session.start_reply("base", continuing=True)
    session.buffer.append("二")
    session.take_text()
    session.finish_reply("eos", text="二")
    assert turn.content == "一二" and len(session.conversation.turns) == 2


def test_drop_from_removes_later_turns_from_the_store(store: SessionStore) -> None:
    session, recorder = session_on(store)
    session.add_user("first")
    session.start_reply("instruct")
    session.finish_reply("eos", text="answer")
    session.drop_from(1)
    assert saved(store, recorder) == [("user", "first", False)]
