"""NovelSession: one story file being written, what a novel screen (or `novel write`) drives.

Threads: every method is called from one thread (the UI thread), except `WriteJob.run`, which a worker runs; it
touches no session state and hands events to a callback. The screen posts those as messages; its handlers call
`accept` for text and `finish` at the end, so the story only ever changes on the UI thread:

    job = session.start_write(backend, WriteOptions(seed=7))      # UI thread: plan, request, history record
    worker:  job.run(cancel_event, post)                          # TextChunk..., then one Finished
    UI:      session.accept(job, chunk.text)                      # per (coalesced) chunk: text grows, autosave
    UI:      session.finish(job, finished)                        # saved now; returns the Continuation

Edits go through `edit(...)` (a new frozen Story each time); `plan()` is cheap enough per keystroke; `tick()` on a
timer saves edits at most every `save_interval_s`; `flush()` on quit. A continuation streaming is saved at least
every `save_interval_s`, so a kill -9 loses under a second of it, and the file is replaced atomically, so it is
always the old story or the new one. Save failures never raise from autosave: `last_error` says why.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.engine.events import Finished, StreamEvent, TextChunk
from tui.engine.request import GenerationRequest
from tui.errors import UserError
from tui.novel import history
from tui.novel.assemble import NovelPlanner
from tui.novel.backend import build_request, pick_seed, sampler_for, supports_bans
from tui.novel.banned import WordBans
from tui.novel.files import read_story, save_story
from tui.novel.ledger import NovelPlan
from tui.novel.schema import check_story
from tui.novel.store import StoryStore
from tui.novel.story import Continuation, Story
from tui.presets import Preset
from tui.tokenizers import Tokenizer


@dataclass(frozen=True)
class WriteOptions:
    max_new_tokens: int | None = None
    """None: the story's, else the preset's base model setting."""
    seed: int | None = None
    """None: a fresh random seed (recorded in the history, so the continuation can be reproduced)."""
    greedy: bool = False


@dataclass
class WriteJob:
    """One continuation in flight: the request the worker runs and the history item it fills."""

    request: GenerationRequest
    plan: NovelPlan
    item: Continuation
    backend: Any
    text: str = ""
    done: bool = False

    def run(self, cancel: threading.Event, emit: Callable[[StreamEvent], None]) -> Finished:
        """Worker thread: stream the continuation, handing every event to `emit`; returns the Finished."""
        finished: Finished | None = None
        for event in self.backend.stream(self.request, cancel):
            emit(event)
            if isinstance(event, Finished):
                finished = event
        assert finished is not None, "a backend stream ends with Finished"
        return finished


class NovelSession:
    def __init__(
        self,
        path: Path,
        story: Story,
        *,
        preset: Preset,
        tokenizer: Tokenizer,
        store: StoryStore | None = None,
        save_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._story = story
        self.preset = preset
        self.tokenizer = tokenizer
        self.planner = NovelPlanner(tokenizer)
        self.store = store
        self.save_interval_s = save_interval_s
        self._clock = clock
        self._dirty = False
        self._last_save = float("-inf")
        self._plan_memo: tuple[Story, int, NovelPlan] | None = None
        self._bans: WordBans | None = None
        self.job: WriteJob | None = None
        self.last_finished: Finished | None = None
        self.last_error: str | None = None
        """Why the latest save failed; None once the story is saved again."""

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        preset: Preset,
        tokenizer: Tokenizer,
        store: StoryStore | None = None,
        create: bool = False,
    ) -> NovelSession:
        """Open a story file (create=True: a new empty story when it does not exist); remembered for --resume."""
        if create and not path.exists():
            story = Story()
            save_story(path, story)
        else:
            story = read_story(path)
        session = cls(path, story, preset=preset, tokenizer=tokenizer, store=store)
        if store is not None:
            try:
                store.remember(path)
            except OSError as exc:
                session.last_error = f"cannot remember {path} for --resume: {exc.strerror or exc}"
        return session

    # -- the story -----------------------------------------------------------------------------------------

    @property
    def story(self) -> Story:
        return self._story

    def edit(self, **changes: Any) -> Story:
        """Change story fields (text=..., memory=..., lore=...). Settings and lore are checked like the file
        (UserError naming the field); text edits are not, for speed. Saved by the next tick()."""
        story = dataclasses.replace(self._story, **changes)
        if set(changes) - {"text", "memory", "note"}:
            check_story(story, str(self.path))
        self._set(story)
        return story

    def _set(self, story: Story) -> None:
        self._story = story
        self._dirty = True

    def reserve(self, max_new_tokens: int | None = None) -> int:
        """Tokens kept free for the continuation: the argument, else the story's, else the preset's."""
        if max_new_tokens is not None:
            value = max_new_tokens
        elif self._story.max_new_tokens is not None:
            value = self._story.max_new_tokens
        else:
            value = self.preset.base.generation.max_new_tokens
        window = self.preset.context_window
        if not 0 < value < window:
            raise UserError(f"max_new_tokens must be between 1 and {window - 1}, got {value}")
        return value

    def plan(self, max_new_tokens: int | None = None) -> NovelPlan:
        reserve = self.reserve(max_new_tokens)
        memo = self._plan_memo
        if memo is not None and memo[0] is self._story and memo[1] == reserve:
            return memo[2]
        plan = self.planner.plan(self._story, window=self.preset.context_window, reserve=reserve)
        self._plan_memo = (self._story, reserve, plan)
        return plan

    def cache_figures(self, backend: Any, plan: NovelPlan | None = None) -> tuple[int, int]:
        """(reused, prefilled): prompt tokens the next continuation takes from the KV cache, and computes."""
        plan = plan or self.plan()
        reused = backend.reusable_prefix(list(plan.token_ids)) if plan.token_ids else 0
        return reused, plan.total_tokens - reused

    # -- saving --------------------------------------------------------------------------------------------

    def save(self) -> bool:
        """Write the story now; False (and last_error set) when it could not be written."""
        try:
            save_story(self.path, self._story)
        except UserError as exc:
            self.last_error = str(exc)
            return False
        self._dirty = False
        self._last_save = self._clock()
        self.last_error = None
        return True

    def tick(self) -> None:
        """Save unsaved changes if the last save is older than save_interval_s (call from a timer)."""
        if self._dirty and self._clock() - self._last_save >= self.save_interval_s:
            self.save()

    def flush(self) -> bool:
        return self.save() if self._dirty or self.last_error else True

    # -- continuations -------------------------------------------------------------------------------------

    def start_write(self, backend: Any, options: WriteOptions = WriteOptions()) -> WriteJob:
        """Plan and build the request; the history gets the (still empty) continuation, saved at once."""
        if self.job is not None and not self.job.done:
            raise UserError("a continuation is already being written")
        reserve = self.reserve(options.max_new_tokens)
        plan = self.plan(options.max_new_tokens)
        plan.require_ok()
        if not plan.token_ids:
            raise UserError("the story is empty: write its first lines (or a memory) to continue from")
        story = self._story
        bans = None
        if story.banned:
            if not supports_bans(backend):
                raise UserError(
                    "禁止ワード (banned words) need the local backend: an OpenAI-compatible server can only ban "
                    "single tokens; remove them from the story's 'banned' list to write through a server"
                )
            if self._bans is None or self._bans.words != tuple(dict.fromkeys(story.banned)):
                self._bans = WordBans(self.tokenizer, story.banned)
            bans = self._bans
        sampler = sampler_for(self.preset.base.generation, reserve, greedy=options.greedy)
        seed = pick_seed(sampler, options.seed)
        request = build_request(
            story, plan, preset=self.preset, tokenizer=self.tokenizer, sampler=sampler, seed=seed, bans=bans
        )
        request.validate()
        item = history.new_continuation(story, plan.token_ids, seed=seed, sampler=sampler, model=backend.name)
        self._set(history.begin(story, item))
        self.save()
        self.job = WriteJob(request, plan, item, backend)
        return self.job

    def accept(self, job: WriteJob, text: str) -> None:
        """New continuation text (UI thread): appended at the end of the story; saved at most every
        save_interval_s. Text the user typed meanwhile stays where it is."""
        if not text:
            return
        job.text += text
        story = dataclasses.replace(self._story, text=self._story.text + text)
        self._set(history.update_last(story, job.item, text=job.text, token_ids=(), finish="interrupted"))
        self.tick()

    def finish(self, job: WriteJob, finished: Finished) -> Continuation:
        """The stream ended (UI thread): the exact text and ids go into the history; saved now."""
        if finished.text.startswith(job.text) and len(finished.text) > len(job.text):
            self.accept(job, finished.text[len(job.text) :])  # text the caller had not passed on yet
        story = history.update_last(
            self._story, job.item, text=job.text, token_ids=finished.token_ids, finish=finished.reason
        )
        self._set(story)
        job.done = True
        self.last_finished = finished
        self.save()
        return story.history[-1]

    def write(
        self,
        backend: Any,
        options: WriteOptions = WriteOptions(),
        *,
        on_text: Callable[[str], None] = lambda _text: None,
        cancel: threading.Event | None = None,
    ) -> Continuation:
        """start_write + run + accept + finish in one call (the CLI): the model runs in a worker thread, and a
        KeyboardInterrupt here cancels it; what was written is kept and saved either way."""
        job = self.start_write(backend, options)
        cancel = cancel or threading.Event()
        events: queue.Queue[StreamEvent | BaseException] = queue.Queue()

        def work() -> None:
            try:
                job.run(cancel, events.put)
            except BaseException as exc:  # handed to the caller's thread, which re-raises it
                events.put(exc)

        thread = threading.Thread(target=work, name="novel-write", daemon=True)
        thread.start()
        finished: Finished | None = None
        while finished is None:
            try:
                event = events.get()
                if isinstance(event, BaseException):
                    self.flush()
                    raise event
                if isinstance(event, TextChunk):
                    self.accept(job, event.text)
                    on_text(event.text)
                else:
                    finished = event
            except KeyboardInterrupt:
                cancel.set()  # the worker stops within one token and sends Finished("cancelled")
        item = self.finish(job, finished)
        thread.join()
        return item

    def retry(self, backend: Any, options: WriteOptions = WriteOptions(), **kwargs: Any) -> Continuation:
        """Replace the last continuation with a new one (a fresh seed unless options.seed is given)."""
        self._set(history.take_back(self._story, "replaced"))
        return self.write(backend, options, **kwargs)

    def start_retry(self, backend: Any, options: WriteOptions = WriteOptions()) -> WriteJob:
        before = self._story
        self._set(history.take_back(before, "replaced"))
        try:
            return self.start_write(backend, options)
        except BaseException:
            self._set(before)
            raise

    def undo(self) -> Story:
        self._set(history.undo(self._story))
        self.save()
        return self._story

    def redo(self) -> Story:
        self._set(history.redo(self._story))
        self.save()
        return self._story
