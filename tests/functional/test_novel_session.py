"""NovelSession through the real demo model, driven the way a screen drives it: a worker runs the job, the
"UI thread" (the test) accepts text and finishes; KV reuse, cancel, retry/undo/redo, autosave, the story store."""

from __future__ import annotations

import os
import queue
import stat
import threading
from pathlib import Path

import pytest

from tui.engine.events import Finished, StreamEvent, TextChunk
from tui.engine.local import LocalBackend
from tui.errors import UserError
from tui.novel.files import read_story
from tui.novel.session import NovelSession, WriteOptions
from tui.novel.store import StoryStore
from tui.novel.story import LoreEntry, Story
from tui.presets import Preset, load_settings
from tui.tokenizers import Tokenizer, load_tokenizer

OPENING = "".join(f"{i}日目、アリスは森を歩いた。\n" for i in range(1, 30))


@pytest.fixture(scope="module")
def preset(demo_models: dict[str, Path]) -> Preset:
    return load_settings().preset("demo")


@pytest.fixture(scope="module")
def tokenizer(preset: Preset) -> Tokenizer:
    return load_tokenizer(preset.tokenizer)


@pytest.fixture(scope="module")
def backend(preset: Preset, tokenizer: Tokenizer) -> LocalBackend:
    return LocalBackend.load(preset.base.model, tokenizer)


def session_for(
    tmp_path: Path, preset: Preset, tokenizer: Tokenizer, story: Story, **kw: object
) -> NovelSession:
    path = tmp_path / "s.story.json"
    session = NovelSession(path, story, preset=preset, tokenizer=tokenizer, **kw)  # type: ignore[arg-type]
    session.save()
    return session


def drive(
    session: NovelSession, backend: LocalBackend, options: WriteOptions, *, stop_after: int | None = None
) -> str:
    """Like a screen: the job runs in a worker thread; chunks come back and are accepted on "the UI thread"."""
    job = session.start_write(backend, options)
    cancel = threading.Event()
    events: queue.Queue[StreamEvent] = queue.Queue()
    worker = threading.Thread(target=job.run, args=(cancel, events.put))
    worker.start()
    while True:
        event = events.get(timeout=60)
        if isinstance(event, TextChunk):
            session.accept(job, event.text)
            if stop_after is not None and len(job.text) >= stop_after:
                cancel.set()
        else:
            assert isinstance(event, Finished)
            session.finish(job, event)
            worker.join()
            return event.reason


def test_a_continuation_streams_into_the_story_and_is_saved(
    tmp_path: Path, preset: Preset, tokenizer: Tokenizer, backend: LocalBackend
) -> None:
    session = session_for(tmp_path, preset, tokenizer, Story(text=OPENING, memory="冒険小説。"))
    assert drive(session, backend, WriteOptions(max_new_tokens=20, seed=4)) == "length"
    saved = read_story(session.path)
    assert saved == session.story and saved.text.startswith(OPENING)
    item = saved.history[-1]
    assert saved.text == OPENING + item.text and len(item.token_ids) == 20 and item.finish == "length"
    assert stat.S_IMODE(session.path.stat().st_mode) == 0o600


def test_a_retry_reuses_the_whole_prompt_from_the_kv_cache(
    tmp_path: Path, preset: Preset, tokenizer: Tokenizer, backend: LocalBackend
) -> None:
    story = Story(
        text=OPENING, memory="冒険小説。", lore=(LoreEntry(content="世界：剣と魔法。", always=True),)
    )
    session = session_for(tmp_path, preset, tokenizer, story)
    drive(session, backend, WriteOptions(max_new_tokens=16, seed=1))
    first = session.last_finished
    assert first is not None
    job = session.start_retry(backend, WriteOptions(max_new_tokens=16, seed=2))
    reused, prefilled = session.cache_figures(backend, job.plan)
    assert reused == job.plan.total_tokens - 1 and prefilled == 1, "only the last prompt token is fed again"
    assert reused >= job.plan.stable_tokens > 0
    finished = job.run(threading.Event(), lambda event: None)
    session.finish(job, finished)
    assert finished.stats.reused_tokens == reused
    assert [h.state for h in session.story.history] == ["replaced", "applied"]


def test_a_continue_reuses_at_least_the_stable_prefix(
    tmp_path: Path, preset: Preset, tokenizer: Tokenizer, backend: LocalBackend
) -> None:
    story = Story(text=OPENING, memory="冒険小説。", note="[緊張感]")
    session = session_for(tmp_path, preset, tokenizer, story)
    drive(session, backend, WriteOptions(max_new_tokens=16, greedy=True))
    plan = session.plan(16)
    reused, prefilled = session.cache_figures(backend, plan)
    assert reused >= plan.stable_tokens and reused + prefilled == plan.total_tokens
    # The 脚注 sits three lines before the end, so everything before it is the same prompt as last time.
    note = next(p for p in plan.pieces if p.kind == "note")
    assert reused >= note.token_start


def test_cancel_keeps_what_was_written(
    tmp_path: Path, preset: Preset, tokenizer: Tokenizer, backend: LocalBackend
) -> None:
    session = session_for(tmp_path, preset, tokenizer, Story(text=OPENING))
    assert drive(session, backend, WriteOptions(max_new_tokens=200, seed=3), stop_after=5) == "cancelled"
    saved = read_story(session.path)
    item = saved.history[-1]
    assert item.finish == "cancelled" and item.text and saved.text == OPENING + item.text
    assert len(item.token_ids) < 200


def test_typing_while_it_streams_is_kept(
    tmp_path: Path, preset: Preset, tokenizer: Tokenizer, backend: LocalBackend
) -> None:
    session = session_for(tmp_path, preset, tokenizer, Story(text=OPENING))
    job = session.start_write(backend, WriteOptions(max_new_tokens=10, seed=5))
    session.edit(text="題名\n" + session.story.text)  # the writer edits the top while the model writes
    finished = job.run(threading.Event(), lambda event: None)
    for piece in [finished.text[:3], finished.text[3:]]:
        session.accept(job, piece)
    session.finish(job, finished)
    assert session.story.text == "題名\n" + OPENING + finished.text
    session.undo()
    assert session.story.text == "題名\n" + OPENING


def test_undo_redo_and_autosave_on_tick(
    tmp_path: Path, preset: Preset, tokenizer: Tokenizer, backend: LocalBackend
) -> None:
    clock = [0.0]
    session = session_for(tmp_path, preset, tokenizer, Story(text=OPENING), clock=lambda: clock[0])
    drive(session, backend, WriteOptions(max_new_tokens=8, seed=6))
    written = session.story.text
    session.undo()
    assert read_story(session.path).text == OPENING
    session.redo()
    assert read_story(session.path).text == written
    session.edit(memory="メモリ")
    session.tick()
    assert read_story(session.path).memory == "", "not yet: the last save was less than 0.5 s ago"
    clock[0] += 1
    session.tick()
    assert read_story(session.path).memory == "メモリ"
    with pytest.raises(UserError, match="lore entry 1, key 1"):
        session.edit(lore=(LoreEntry(keys=("(",), regex=True),))


def test_a_plan_error_is_raised_before_anything_is_sent(
    tmp_path: Path, preset: Preset, tokenizer: Tokenizer, backend: LocalBackend
) -> None:
    story = Story(text=OPENING, lore=(LoreEntry(content="長い設定。" * 1000, always=True),))
    session = session_for(tmp_path, preset, tokenizer, story)
    before = session.path.read_bytes()
    with pytest.raises(UserError, match="never dropped"):
        session.start_write(backend)
    assert session.path.read_bytes() == before and session.job is None


def test_the_story_store_remembers_the_last_story_privately(
    tmp_path: Path, preset: Preset, tokenizer: Tokenizer
) -> None:
    store = StoryStore()
    path = store.new_path("アリスの冒険")
    assert path.name.endswith("-アリスの冒険.story.json")
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    session = NovelSession.open(path, preset=preset, tokenizer=tokenizer, store=store, create=True)
    assert session.story == Story() and store.last() == path.resolve()
    other = tmp_path / "elsewhere.story.json"
    NovelSession.open(other, preset=preset, tokenizer=tokenizer, store=store, create=True)
    assert store.recent() == [other.resolve(), path.resolve()]
    assert stat.S_IMODE(store.recent_file.stat().st_mode) == 0o600
    other.unlink()
    assert store.last() == path.resolve(), "a story that is gone is not offered"
    store.recent_file.write_text("{broken")
    assert store.last() is None
    assert sorted(os.listdir(store.folder)) == sorted([path.name, "recent.json"])
