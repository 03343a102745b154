"""CoreServices: what a chat screen needs from the core: the planner (tui.context), tokenizer, templates, engine.

One Planner per conversation keeps per-message id caches and the rolling anchor; it is not thread-safe, and the
app plans from thread workers (a 1 MB paste must not block typing), so every use goes through one lock.
Models are reached through a ModelHost (tui.engine.hosts: which models are resident, loading, and the Backend
for each mode). Every method may block, so the app calls them from thread workers only (`template_name` and
`is_resident` are cheap and may be called anywhere).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from tui.chat.adapt import plan_view_from
from tui.chat.conversation import TurnSnapshot
from tui.chat.planview import PlanView
from tui.chat.requests import build_request, max_new_tokens_for
from tui.chat.settings import ChatSettings
from tui.choices import Mode
from tui.engine.hosts import ModelHost
from tui.presets import Preset


class CoreServices:
    def __init__(
        self, preset: Preset, host: ModelHost, *, on_summary: Callable[[], None] | None = None
    ) -> None:
        from tui.tokenizers import tokenizer_for_preset

        self.preset = preset
        self.preset_name = preset.name
        self.backend_name = host.backend_name
        self.context_window = preset.context_window
        self.host = host
        self.tokenizer = tokenizer_for_preset(preset)
        self._lock = threading.Lock()
        self._reloaders: dict[str, Any] = {}
        self._planner: Any = None
        self._summaries: dict[str, str] = {}
        self._submitted: set[str] = set()
        self._runner: Any = None
        self._summary_mode: Mode = "instruct"
        self._streaming = threading.Event()
        self._on_summary = on_summary
        """Called (from the summary thread) when a summary is ready, so the screen re-plans with it."""

    # ----- simple facts -----
    def device(self) -> str:
        return self.host.device()

    def is_resident(self, mode: Mode) -> bool:
        return self.host.is_resident(mode)

    def ensure_loaded(self, mode: Mode, on_progress: Callable[[Any], object]) -> Any:
        """Make `mode` active, loading it if needed; returns the host's ToggleReport (or None)."""
        return self.host.ensure_loaded(mode, on_progress)

    def adapter_on(self, mode: Mode) -> bool | None:
        """Whether `mode`'s LoRA adapter is on (None: it has none); cheap, may be called anywhere."""
        return self.host.adapter_on(mode)

    def set_adapter(self, mode: Mode, on: bool) -> bool:
        """Switch `mode`'s adapter in place, no reload (may wait for the model: from a worker only)."""
        with self.foreground():
            return self.host.set_adapter(mode, on)

    def template_name(self, mode: Mode, settings: ChatSettings) -> str:
        return settings.template or self.preset.mode(mode).template

    def pieces(self, token_ids: Sequence[int]) -> list[str]:
        return [self.tokenizer.id_to_piece(int(i)) for i in token_ids]

    def reset(self) -> None:
        with self._lock:
            if self._planner is not None:
                self._planner.reset()

    # ----- planning -----
    def _template(self, name: str) -> Any:
        from tui.templates import TemplateReloader

        reloader = self._reloaders.get(name)
        if reloader is None:
            reloader = self._reloaders[name] = TemplateReloader(name)
        return reloader

    def _reserve(self, mode: Mode, settings: ChatSettings) -> int:
        return max_new_tokens_for(self.preset, mode, settings)

    def plan(
        self,
        turns: Sequence[TurnSnapshot],
        draft: str,
        mode: Mode,
        settings: ChatSettings,
        *,
        continuing: bool = False,
        commit: bool = False,
    ) -> PlanView:
        from tui.context import Message, Planner

        window = settings.window or self.preset.context_window
        reserve = self._reserve(mode, settings)
        messages = [Message(t.role, t.content, t.pinned, t.ids) for t in turns]
        policy = settings.policy
        with self._lock:
            reloader = self._template(self.template_name(mode, settings))
            template = reloader.current()
            if self._planner is None:
                self._planner = Planner(
                    self.tokenizer, template, window=window, reserve=reserve, policy=policy
                )
            else:
                self._planner.configure(window=window, reserve=reserve, policy=policy, template=template)
            plan = self._planner.plan(
                messages, draft, commit=commit, summaries=dict(self._summaries), continue_reply=continuing
            )
            template_error = reloader.error
        reuse = 0
        if self.host.is_resident(mode) and plan.ok:
            try:
                reuse = self.host.reusable_prefix(mode, list(plan.token_ids))
            except Exception:
                reuse = 0  # a backend that cannot tell (remote) reuses nothing we can show
        if plan.summary_jobs and not self._streaming.is_set():
            # Summaries run between replies (the runner is preempted when the user sends).
            self._summary_mode = mode
            self._submit_summaries(plan.summary_jobs)
        view = plan_view_from(plan, reuse_tokens=reuse)
        if template_error:
            view = replace(view, trim_log=(*view.trim_log, template_error))
        return view

    # ----- summaries (policy "summarize") -----
    def _submit_summaries(self, jobs: Sequence[Any]) -> None:
        """Queue the summaries the plan is waiting for on the engine's low-priority runner."""
        from tui.engine.jobs import SummaryRunner
        from tui.templates import build_summary_prompt

        if self._runner is None:
            self._runner = SummaryRunner(lambda: self.host.backend(self._summary_mode), self._summary_done)
        for job in jobs:
            if job.key in self._summaries or job.key in self._submitted:
                continue
            self._submitted.add(job.key)
            prompt = build_summary_prompt(job.text, job.max_chars)
            self._runner.submit(
                job.key,
                self.tokenizer.encode(prompt),
                max_new_tokens=max(16, job.max_chars),
                eos_token_id=self.preset.eos_token_id,
            )

    def _summary_done(self, task: Any) -> None:
        with self._lock:
            self._submitted.discard(task.key)
            if task.text:
                self._summaries[task.key] = task.text
        if task.text and self._on_summary is not None:
            self._on_summary()

    def close(self) -> None:
        if self._runner is not None:
            self._runner.shutdown()

    # ----- generation -----
    def stream(
        self, plan: PlanView, mode: Mode, settings: ChatSettings, cancel: threading.Event
    ) -> Iterator[Any]:
        """The engine's events (TextChunk, LoadProgress, Finished) for exactly `plan.token_ids`."""
        request = build_request(self.preset, mode, settings, plan, self.tokenizer)
        with self.foreground():
            yield from self.host.backend(mode).stream(request, cancel)

    @contextlib.contextmanager
    def foreground(self) -> Iterator[None]:
        """The user's own work on the models (a reply, a comparison, an adapter switch): background summaries
        are preempted and wait until it ends."""
        self._streaming.set()
        if self._runner is not None:
            self._runner.preempt()  # the user never waits behind a summary
            self._submitted.clear()
        try:
            yield
        finally:
            self._streaming.clear()
