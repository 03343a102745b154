"""The novel screen's background half: planning, loading the base model, streaming, autosave.

The planner is fast enough for every keystroke (bench/bench_novel_plan.py: under 10 ms for a 200-entry
lorebook and a 100,000-character story), so it runs on the UI thread after a short debounce and its ledger is
always the story on screen. Everything that may block runs in a thread worker and posts typed messages
(tui.app.novel_messages): loading and switching to the base model, the KV-cache figures (the model's lock may
be held by a running load), and the continuation, whose text goes into a ChunkBuffer that a 15 Hz timer drains
into the story. The story only changes on the UI thread, through the NovelSession.

Typing while a continuation streams: the continuation always goes to the end of the story; an edit anywhere
else stays where it is (the text area and the session hold the same text after every handler).
"""

from __future__ import annotations

import threading
from contextlib import suppress
from typing import Any

from textual import work
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import TextArea
from textual.worker import Worker, WorkerState

from tui.app.novel_messages import BaseModelProgress, BaseModelReady, ContinuationFinished, ReuseFigures
from tui.app.widgets.ledger_view import LedgerView
from tui.app.widgets.lore_panel import LorePanel
from tui.app.widgets.novel_status import NovelStatus
from tui.chat.coalesce import ChunkBuffer
from tui.engine.events import Finished, GenerationStats, TextChunk
from tui.engine.hosts import ModelHost
from tui.errors import StableLMTuiError
from tui.novel.ledger import NovelPlan
from tui.novel.session import NovelSession, WriteJob, WriteOptions

FLUSH_HZ = 15
PLAN_DEBOUNCE_S = 0.05
AUTOSAVE_TICK_S = 0.25


def end_of(text: str) -> tuple[int, int]:
    """The text area location (row, column) just after `text`."""
    return text.count("\n"), len(text) - (text.rfind("\n") + 1)


def lines_for_area(text: str) -> str:
    """`text` with "\r\n" and "\r" as "\n" for a TextArea: its document joins every line with the first line
    ending it finds, so a story whose first break the model wrote as "\r\n" would come back with each of the
    writer's "\n" turned into "\r\n" (and a whole-story edit on the next keystroke)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class NovelWorkers(Screen[None]):
    generating: reactive[bool] = reactive(False, bindings=True)

    def __init__(self, session: NovelSession, host: ModelHost, *, heartbeat: Any = None) -> None:
        super().__init__()
        self.session = session
        self.host = host
        self.heartbeat = heartbeat
        self.options = WriteOptions()
        self.plan: NovelPlan | None = None
        self.buffer = ChunkBuffer()
        self.cancel = threading.Event()
        self._plan_timer: Any = None
        self._plan_serial = 0
        self._loading = False
        self._shown_source = session.story.text
        """The story text the text area was last made to show, and what the area made of it."""
        self._shown_area = session.story.text

    # ----- the widgets -------------------------------------------------------------------------------------
    @property
    def story_area(self) -> TextArea:
        return self.query_one("#story", TextArea)

    @property
    def status(self) -> NovelStatus:
        return self.query_one(NovelStatus)

    @property
    def ledger(self) -> LedgerView:
        return self.query_one(LedgerView)

    @property
    def lore_panel(self) -> LorePanel:
        return self.query_one(LorePanel)

    # ----- keeping the text area and the session in step ---------------------------------------------------
    def show_story_text(self, text: str) -> None:
        """Make the text area show `text` (the session's), touching only the end when only the end changed, so
        the writer's cursor, scroll position and edit history survive a streamed chunk, an undo or a retry.

        The text area keeps lines, not characters: "\r\n", "\r" and the other line separators a model may
        write come back from it as "\n". So the session's text stays the story, and the area's own text is
        remembered beside it (_shown_area): only a difference from that is the writer's edit."""
        area = self.story_area
        source, shown = self._shown_source, self._shown_area
        if text == source and area.text == shown:
            return
        follow = area.scroll_y >= area.max_scroll_y - 1
        document = area.document
        if text.startswith(source) and area.text == shown:
            area.insert(text[len(source) :], document.end, maintain_selection_offset=True)
        elif source.startswith(text) and source == shown and area.text == shown:
            area.delete(end_of(text), document.end)
        else:
            area.load_text(lines_for_area(text))
        self._shown_source, self._shown_area = text, area.text
        if follow:
            area.scroll_end(animate=False)

    def take_edits(self) -> None:
        """The writer's typing into the session before anything else changes the story. Changed messages
        arrive after the edit, so a streamed chunk may come first; the text area is always up to date."""
        with suppress(NoMatches):
            text = self.story_area.text
            if text != self._shown_area:
                self.session.edit(text=text)
                self._shown_source = self._shown_area = text

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        area = event.text_area
        story = self.session.story
        if area.id == "story":
            self.take_edits()
        elif area.id == "memory" and area.text != story.memory:
            self.session.edit(memory=area.text)
        elif area.id == "note" and area.text != story.note:
            self.session.edit(note=area.text)
        else:
            return
        self.schedule_plan()

    # ----- planning ----------------------------------------------------------------------------------------
    def schedule_plan(self, delay: float = PLAN_DEBOUNCE_S) -> None:
        if self._plan_timer is not None:
            self._plan_timer.stop()
        self._plan_timer = None
        if delay > 0:
            self._plan_timer = self.set_timer(delay, self.plan_now)
        else:
            self.plan_now()

    def plan_now(self) -> None:
        self._plan_timer = None
        try:
            plan = self.session.plan(self.options.max_new_tokens)
        except StableLMTuiError as exc:  # a reserve the preset's window cannot hold
            self.status.set(plan_error=str(exc))
            return
        self.plan = plan
        self._plan_serial += 1
        with suppress(NoMatches):
            self.ledger.show(plan)
            self.status.set(total=plan.total_tokens, budget=plan.budget, plan_error=plan.error or "")
            if not self.generating and not self._loading:
                self._reuse_worker(self.host, list(plan.token_ids), self._plan_serial)

    @work(thread=True, exclusive=True, group="novel-reuse", exit_on_error=False)
    def _reuse_worker(self, host: ModelHost, ids: list[int], serial: int) -> None:
        self.post_message(ReuseFigures(host.reusable_prefix("base", ids) if ids else 0, serial))

    def on_reuse_figures(self, message: ReuseFigures) -> None:
        if message.serial == self._plan_serial:
            with suppress(NoMatches):
                self.status.set(reused=message.reused)

    # ----- writing -----------------------------------------------------------------------------------------
    def start_continuation(self, *, retry: bool = False) -> None:
        """Make the base model active (a worker: it may load), then write or retry (on_base_model_ready)."""
        if self.generating or self._loading:
            return
        self._loading = True
        self.status.set(state="loading", load_done=0, load_total=0)
        self._prepare_worker(self.host, retry)

    @work(thread=True, exclusive=True, group="novel-load", exit_on_error=False)
    def _prepare_worker(self, host: ModelHost, retry: bool) -> None:
        try:
            host.ensure_loaded("base", lambda event: self.post_message(BaseModelProgress(event)))
            backend = host.backend("base")
        except Exception as exc:
            self.post_message(BaseModelReady(None, retry=retry, error=str(exc) or type(exc).__name__))
            return
        self.post_message(BaseModelReady(backend, retry=retry))

    def on_base_model_progress(self, message: BaseModelProgress) -> None:
        if self._loading:
            self.status.set(state="loading", load_done=message.event.done, load_total=message.event.total)

    def on_base_model_ready(self, message: BaseModelReady) -> None:
        self._loading = False
        self.status.set(device=self.host.device())
        if message.error:
            self.status.set(state="error")
            self.notify(message.error, title="model", severity="error", markup=False, timeout=10)
            return
        session = self.session
        self.take_edits()
        try:
            if message.retry:
                job = session.start_retry(message.backend, self.options)
            else:
                job = session.start_write(message.backend, self.options)
        except StableLMTuiError as exc:  # an empty story, a plan that cannot be sent, nothing to retry
            self.status.set(state="ready")
            self.notify(str(exc), title="not written", severity="warning", markup=False, timeout=8)
            return
        self.show_story_text(session.story.text)  # a retry took the last continuation out
        self.cancel = threading.Event()
        self.generating = True
        self.status.set(state="generating", reused=None)
        self._stream_worker(job, self.cancel, self.buffer)

    @work(thread=True, exclusive=True, group="novel-generate", exit_on_error=False)
    def _stream_worker(self, job: WriteJob, cancel: threading.Event, buffer: ChunkBuffer) -> None:
        def emit(event: Any) -> None:
            if isinstance(event, TextChunk):
                buffer.append(event.text)

        self.post_message(ContinuationFinished(job.run(cancel, emit)))

    def drain(self) -> None:
        """The 15 Hz timer: buffered continuation text into the story (session first, then the text area)."""
        job = self.session.job
        text = self.buffer.drain()
        if not text or job is None or job.done:
            return
        self.take_edits()
        if self.heartbeat is not None:
            self.heartbeat.beat()
        self.session.accept(job, text)
        self.show_story_text(self.session.story.text)
        self.status.set(save_error=self.session.last_error or "")

    def on_continuation_finished(self, message: ContinuationFinished) -> None:
        self.drain()  # the tail: never lose the last tokens of a throttled stream
        self.take_edits()
        job = self.session.job
        self.generating = False
        if job is None or job.done:
            return
        finished: Finished = message.finished
        self.session.finish(job, finished)
        self.show_story_text(self.session.story.text)
        stats = finished.stats
        self.status.set(
            state="error" if finished.reason == "error" else "ready",
            tokens_per_s=stats.tokens_per_s if stats.new_tokens else None,
            save_error=self.session.last_error or "",
        )
        if finished.error:
            self.notify(finished.error, title="generation", severity="error", markup=False, timeout=10)
        self.schedule_plan(0)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures land (a bug in a worker must not leave the screen 'generating')."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        job = self.session.job
        if event.worker.group == "novel-generate" and job is not None and not job.done:
            stats = GenerationStats(0.0, 0, 0.0, 0, 0, 0, "", "")
            failed = Finished(job.text, "error", stats, error=f"{type(error).__name__}: {error}")
            self.post_message(ContinuationFinished(failed))
        elif event.worker.group == "novel-load":
            self.post_message(BaseModelReady(None, retry=False, error=f"{type(error).__name__}: {error}"))
        else:
            self.notify(f"{type(error).__name__}: {error}", severity="error", markup=False)

    # ----- saving ------------------------------------------------------------------------------------------
    def autosave(self) -> None:
        self.session.tick()
        with suppress(NoMatches):
            self.status.set(save_error=self.session.last_error or "")

    def shutdown(self) -> None:
        """Stop the continuation and save everything (a streaming one as written so far): on leaving the screen,
        on quit and on SIGHUP/SIGTERM."""
        self.cancel.set()
        self.take_edits()
        job = self.session.job
        text = self.buffer.drain()
        if text and job is not None and not job.done:
            self.session.accept(job, text)
        self.session.flush()
