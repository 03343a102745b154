"""Background summarization for the `summarize` context policy: low priority, cancelled when the user sends.

The planner (tui.context) lists SummaryJobs; the app renders each one's prompt (build_summary_prompt), hands
the ids here, and stores the text it gets back under the job's key. One worker thread runs the jobs in order,
greedily and on a throwaway KV cache (the conversation's cache stays warm for the user's next turn). When the
user sends, `preempt()` cancels the running job within one decoding step and drops the queue, so the reply
never waits behind a summary; the app resubmits whatever the next plan still needs.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tui.engine.backend import Backend
from tui.engine.events import Finished
from tui.engine.request import GenerationRequest

# Linux lets one thread lower its own CPU priority (its tid is a "process" for setpriority).
NICE_INCREMENT = 10


@dataclass
class SummaryTask:
    key: str
    prompt_ids: list[int]
    max_new_tokens: int
    stop_strings: tuple[str, ...] = ()
    eos_token_id: int | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    text: str | None = None
    """The summary; None until done, and stays None when cancelled or failed."""
    error: str | None = None

    def wait(self, timeout: float | None = None) -> str | None:
        self.done.wait(timeout)
        return self.text


class SummaryRunner:
    """One low-priority worker thread over `backend_for()` (called per job, so a toggled model is respected)."""

    def __init__(
        self,
        backend_for: Callable[[], Backend],
        on_done: Callable[[SummaryTask], None] | None = None,
    ) -> None:
        self._backend_for = backend_for
        self._on_done = on_done
        self._queue: queue.Queue[SummaryTask | None] = queue.Queue()
        self._current: SummaryTask | None = None
        self._guard = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="summary-jobs", daemon=True)
        self._thread.start()

    def submit(
        self,
        key: str,
        prompt_ids: list[int],
        *,
        max_new_tokens: int,
        stop_strings: tuple[str, ...] = (),
        eos_token_id: int | None = None,
    ) -> SummaryTask:
        task = SummaryTask(key, list(prompt_ids), max_new_tokens, stop_strings, eos_token_id)
        self._queue.put(task)
        return task

    def preempt(self) -> None:
        """The user sent a message: stop the running job now and forget the queued ones."""
        with self._guard:
            if self._current is not None:
                self._current.cancel.set()
        while True:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                break
            if task is None:
                self._queue.put(None)
                break
            task.cancel.set()
            task.done.set()

    @property
    def busy(self) -> bool:
        return self._current is not None or not self._queue.empty()

    def shutdown(self, timeout: float = 5.0) -> None:
        self.preempt()
        self._queue.put(None)
        self._thread.join(timeout)

    def _work(self) -> None:
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE_INCREMENT)
        while True:
            task = self._queue.get()
            if task is None:
                return
            if task.cancel.is_set():
                task.done.set()
                continue
            with self._guard:
                self._current = task
            try:
                self._run(task)
            finally:
                with self._guard:
                    self._current = None
                task.done.set()
                if self._on_done is not None:
                    self._on_done(task)

    def _run(self, task: SummaryTask) -> None:
        request = GenerationRequest(
            prompt_ids=task.prompt_ids,
            max_new_tokens=task.max_new_tokens,
            do_sample=False,
            stop_strings=task.stop_strings,
            eos_token_id=task.eos_token_id,
            reuse_cache=False,
        )
        try:
            for event in self._backend_for().stream(request, task.cancel):
                if isinstance(event, Finished):
                    if event.reason == "error":
                        task.error = event.error
                    elif event.reason != "cancelled":
                        task.text = event.text.strip()
        except Exception as exc:
            task.error = f"summary failed: {exc}"
