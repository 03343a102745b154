"""The recorder saves as the conversation happens and keeps everything in memory while the disk refuses."""

from __future__ import annotations

from pathlib import Path

from tui.recorder import ConversationRecorder
from tui.store import SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def contents(store: SessionStore, cid: int | None) -> list[tuple[str, str, bool]]:
    assert cid is not None
    return [(m.role, m.content, m.partial) for m in store.load(cid).messages]


def test_partial_replies_are_written_at_the_interval(tmp_path: Path) -> None:
    store, clock = SessionStore(tmp_path / "s.db"), Clock()
    rec = ConversationRecorder(store, settings={"preset": "demo"}, partial_interval_s=1.0, clock=clock)
    rec.add("user", "質問")
    reply = rec.add("assistant", "", mode="base", partial=True)
    clock.now = 0.4
    rec.progress(reply, "途中")
    assert contents(store, rec.conversation_id)[-1] == ("assistant", "", True)
    clock.now = 1.1
    rec.progress(reply, "途中まで")
    assert contents(store, rec.conversation_id)[-1] == ("assistant", "途中まで", True)
    rec.finish(reply, "途中までの答え。", meta={"reason": "eos"})
    assert contents(store, rec.conversation_id) == [
        ("user", "質問", False),
        ("assistant", "途中までの答え。", False),
    ]
    assert store.load(rec.conversation_id or 0).settings == {"preset": "demo"}


def test_failed_writes_stay_in_memory_and_are_retried_in_order(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    rec = ConversationRecorder(store)
    rec.add("user", "one")
    cid = rec.conversation_id
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full
    rec.add("user", "two " + "x" * 50_000)
    reply = rec.add("assistant", "", partial=True)
    rec.finish(reply, "three")
    assert rec.unsaved == 2
    assert rec.last_error is not None and "disk is full" in rec.last_error
    assert contents(store, cid) == [("user", "one", False)]
    store._db.execute("PRAGMA max_page_count = 1000000")  # space freed
    assert rec.flush()
    assert rec.last_error is None
    assert [c for _, c, _ in contents(store, cid)] == ["one", "two " + "x" * 50_000, "three"]
    assert contents(store, cid)[-1][2] is False


def test_delete_removes_saved_and_unsaved_messages(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    rec = ConversationRecorder(store)
    rec.add("user", "q1")
    old_reply = rec.add("assistant", "old", mode="base")
    rec.delete(old_reply)  # regenerate replaced it
    rec.add("assistant", "new", mode="base")
    assert [c for _, c, _ in contents(store, rec.conversation_id)] == ["q1", "new"]
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    unsaved = rec.add("user", "x" * 50_000)
    rec.delete(unsaved)  # edited before it was ever saved
    assert rec.unsaved == 0


def test_save_partial_ignores_the_interval(tmp_path: Path) -> None:
    store, clock = SessionStore(tmp_path / "s.db"), Clock()
    rec = ConversationRecorder(store, partial_interval_s=10.0, clock=clock)
    reply = rec.add("assistant", "", partial=True)
    rec.progress(reply, "throttled")
    rec.save_partial(reply, "stopped here")
    assert contents(store, rec.conversation_id) == [("assistant", "stopped here", True)]


def test_reply_ids_are_saved_with_the_finished_or_stopped_reply_even_after_a_failed_write(
    tmp_path: Path,
) -> None:
    store = SessionStore(tmp_path / "s.db")
    rec = ConversationRecorder(store)
    rec.add("user", "q")
    cid = rec.conversation_id
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full: the add stays queued
    reply = rec.add("assistant", "x" * 50_000, partial=True)
    rec.finish(reply, "答え" * 25_000, token_ids=(5, 6))
    assert rec.unsaved == 1
    store._db.execute("PRAGMA max_page_count = 1000000")
    assert rec.flush()
    assert store.load(cid or 0).messages[-1].token_ids == (5, 6)
    stopped = rec.add("assistant", "", partial=True)
    rec.save_partial(stopped, "途中", token_ids=(7,))
    assert store.load(cid or 0).messages[-1].token_ids == (7,)
