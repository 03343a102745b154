"""The chat screen's background half: the workers it runs and the messages they post back.

Planning (meter, inspector, dimming), model loading and generation each run in a thread worker; threads never
touch widgets. The generation worker appends text to the session's ChunkBuffer that a 15 Hz timer drains, and
posts typed messages (tui.app.messages) for everything else, so a 1 MB paste never blocks typing and one UI
update carries many tokens. The screen shows the planner's numbers; it never counts tokens itself. The
bookkeeping (which turn, how it ended, what is saved) is tui.chat.session's; this module draws it.
tui.app.screens.chat.ChatScreen adds the layout, the keys and the dialogs.
"""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Any

from textual import work
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tui.app.messages import (
    GenerationFinished,
    GenerationStarted,
    LoadProgressed,
    ModelReady,
    PlanReady,
    SummaryReady,
)
from tui.app.widgets.chat_pane import ChatPane
from tui.app.widgets.composer import Composer
from tui.app.widgets.inspector import Inspector
from tui.app.widgets.meter import TokenMeter
from tui.app.widgets.status_line import StatusLine
from tui.chat.autosave import Autosave
from tui.chat.conversation import Conversation, TurnSnapshot
from tui.chat.core_services import CoreServices
from tui.chat.planview import PlanView
from tui.chat.session import ChatSession
from tui.chat.settings import ChatSettings
from tui.chat.streaming import ReplyEvent, ReplyFinished, ReplyStarted, pump_reply
from tui.choices import Mode
from tui.engine.hosts import ModelHost
from tui.presets import Preset

FLUSH_HZ = 15
PLAN_DEBOUNCE_S = 0.03
STREAM_REPLAN_S = 0.5


def _empty_plan(error: str) -> PlanView:
    return PlanView(0, 0, 0, "", "", 0, 0, 0, 0, error=error)


class ChatWorkers(Screen[None]):
    """What a chat screen runs in the background and how it shows the results; ChatScreen is the whole screen."""

    # State that changes which keys apply: the key bar, the palette and check_action follow it by themselves.
    mode: reactive[Mode] = reactive("instruct", bindings=True)
    generating: reactive[bool] = reactive(False, bindings=True)
    editing: reactive[int | None] = reactive(None, bindings=True)
    """The index of the user message being edited (↑ in an empty input), None when not editing."""

    def __init__(
        self,
        preset: Preset,
        host: ModelHost,
        *,
        mode: Mode = "instruct",
        settings: ChatSettings | None = None,
        conversation: Conversation | None = None,
        recorder: Any = None,
        save_unavailable: str = "",
        heartbeat: Any = None,
    ) -> None:
        super().__init__()
        self.set_reactive(ChatWorkers.mode, mode)
        self.core = CoreServices(preset, host, on_summary=self._summary_ready)
        self.chat_settings = settings or ChatSettings()
        self.session = ChatSession(conversation, Autosave(recorder, unavailable=save_unavailable))
        self.heartbeat = heartbeat
        """tui.vminfo.Heartbeat: streaming keeps the VM's idle watchdog from stopping it."""
        self.plan: PlanView | None = None
        self._plan_serial = 0
        self._plan_timer: Any = None
        self._last_stream_plan = 0.0
        self._loading: set[str] = set()
        self._awaiting_model = False

    # ----- the widgets -------------------------------------------------------------------------------------
    @property
    def conversation(self) -> Conversation:
        return self.session.conversation

    @property
    def chat(self) -> ChatPane:
        return self.query_one(ChatPane)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    @property
    def meter(self) -> TokenMeter:
        return self.query_one(TokenMeter)

    @property
    def inspector(self) -> Inspector:
        return self.query_one(Inspector)

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    def _summary_ready(self) -> None:
        self.post_message(SummaryReady())  # called from the summary thread; post_message is thread-safe

    def on_summary_ready(self, message: SummaryReady) -> None:
        self.schedule_plan(0)

    def watch_mode(self, mode: Mode) -> None:
        self.status.set(mode=mode, lora=self.core.adapter_on(mode) is True)
        self.schedule_plan(0)  # the other template re-plans at once
        self.session.autosave.update_settings(self.settings_record())

    # ----- planning (meter, inspector, dimming) -----------------------------------------------------------
    def schedule_plan(self, delay: float = PLAN_DEBOUNCE_S) -> None:
        """Re-plan after `delay` seconds; a newer call restarts the wait (debounce while typing)."""
        if self._plan_timer is not None:
            self._plan_timer.stop()
        self._plan_timer = self.set_timer(delay, self._request_plan) if delay > 0 else None
        if delay <= 0:
            self._request_plan()

    def _request_plan(self) -> None:
        self._plan_timer = None
        self._plan_serial += 1
        draft = "" if self.generating else self.composer.text
        if self.editing is not None:
            turns = self.conversation.snapshot(until=self.editing)
        else:
            turns = self.conversation.snapshot()
        self._plan_worker(self.core, self._plan_serial, turns, draft, self.mode, self.chat_settings)

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    def _plan_worker(
        self,
        core: CoreServices,
        serial: int,
        turns: tuple[TurnSnapshot, ...],
        draft: str,
        mode: Mode,
        settings: ChatSettings,
    ) -> None:
        try:
            view = core.plan(turns, draft, mode, settings)
        except Exception as exc:  # a template or tokenizer error is shown in the meter, not raised
            view = _empty_plan(str(exc) or type(exc).__name__)
        self.post_message(PlanReady(view, serial))

    def on_plan_ready(self, message: PlanReady) -> None:
        if message.serial != self._plan_serial:
            return  # an older request answered late
        # An answer may land while the app is closing and its widgets are gone.
        with suppress(NoMatches):
            self._show_plan(message.plan)

    def _show_plan(self, plan: PlanView) -> None:
        self.plan = plan
        self.meter.show(plan)
        self.inspector.show(plan)
        if not plan.error:
            self.chat.apply_statuses(plan.message_status)

    def on_text_area_changed(self, event: Composer.Changed) -> None:
        if event.text_area is self.composer:
            self.schedule_plan()

    # ----- model loading ----------------------------------------------------------------------------------
    def start_load(self, mode: Mode, *, toggled: bool = False) -> None:
        """Make `mode`'s model active in the background; `toggled`: the user switched (its time is shown)."""
        if mode in self._loading:
            return
        self._loading.add(mode)
        self.status.set(state="loading", load_done=0, load_total=0, load_stage=mode)
        self._load_worker(self.core, mode, toggled)

    @work(thread=True, group="load", exit_on_error=False)
    def _load_worker(self, core: CoreServices, mode: Mode, toggled: bool) -> None:
        try:
            report = core.ensure_loaded(mode, lambda event: self.post_message(LoadProgressed(mode, event)))
        except Exception as exc:
            self.post_message(ModelReady(mode, str(exc) or type(exc).__name__))
            return
        self.post_message(ModelReady(mode, toggle=report if toggled else None))

    def on_load_progressed(self, message: LoadProgressed) -> None:
        if message.mode not in self._loading and not self._awaiting_model:
            return  # a late event from a load that already finished
        event = message.event
        self.status.set(
            state="loading",
            load_done=event.done,
            load_total=event.total,
            load_stage=f"{message.mode} {event.stage}",
        )

    def on_model_ready(self, message: ModelReady) -> None:
        self._loading.discard(message.mode)
        if message.error:
            self.status.set(state="error")
            self.notify(message.error, title="model", severity="error", markup=False, timeout=10)
            return
        if message.toggle is not None:
            self.status.set(toggle=f"{message.toggle.action} {message.toggle.seconds:.2f}s")
        if not self.generating:
            self.status.set(state="loading" if self._loading else "ready", device=self.core.device())

    # ----- sending and streaming --------------------------------------------------------------------------
    async def on_composer_submitted(self, message: Composer.Submitted) -> None:
        text = message.text
        if self.generating:
            self.notify("a reply is streaming: wait, or press Esc to stop it", markup=False)
            return
        if not text.strip():
            return
        if self.editing is not None:
            await self._drop_from(self.editing)
            self.editing = None
        self.composer.clear()
        turn = self.session.add_user(text)
        self._show_save_state()
        await self.chat.add_turn(turn)
        await self._begin_reply()

    async def _begin_reply(self, *, continuing: bool = False) -> None:
        turn, snapshot = self.session.start_reply(self.mode, continuing=continuing)
        self._show_save_state()
        view = self.chat.views[-1] if continuing else await self.chat.add_turn(turn)
        view.refresh_label()
        self.generating = True
        self._awaiting_model = True
        self._last_stream_plan = time.monotonic()
        self.status.set(state="generating")
        session = self.session
        self._generate(self.core, snapshot, self.mode, self.chat_settings, session, continuing)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def _generate(
        self,
        core: CoreServices,
        turns: tuple[TurnSnapshot, ...],
        mode: Mode,
        settings: ChatSettings,
        session: ChatSession,
        continuing: bool,
    ) -> None:
        def report(event: ReplyEvent) -> None:
            if isinstance(event, ReplyStarted):
                self.post_message(GenerationStarted(event.plan))
            elif isinstance(event, ReplyFinished):
                self.post_message(
                    GenerationFinished(event.reason, event.stats, event.error, event.text, event.token_ids)
                )
            else:
                self.post_message(LoadProgressed(mode, event))

        pump_reply(core, turns, mode, settings, session.cancel, session.buffer, report, continuing=continuing)

    def on_generation_started(self, message: GenerationStarted) -> None:
        self._awaiting_model = False
        self.status.set(state="generating")
        self._show_plan(message.plan)

    async def _drain(self) -> None:
        """The 15 Hz timer: move buffered text to the screen in one update."""
        text = self.session.take_text()
        if not text:
            return
        if self.heartbeat is not None:
            self.heartbeat.beat()
        view = self.chat.views[-1]
        follow = self.chat.near_bottom()
        await view.append(text)
        if follow:
            self.chat.scroll_end(animate=False)
        self._show_save_state()
        now = time.monotonic()
        if now - self._last_stream_plan >= STREAM_REPLAN_S:
            self._last_stream_plan = now
            self.schedule_plan(0)

    async def on_generation_finished(self, message: GenerationFinished) -> None:
        await self._drain()  # the tail: never lose the last tokens of a throttled stream
        self.generating = False
        self._awaiting_model = False
        if self.session.reply is None:
            return
        view = self.chat.views[-1]
        if message.reason == "refused":
            if self.session.refuse_reply() is not None:
                await view.remove()
            else:
                view.refresh_label()
            self.status.set(state="ready")
            self.notify(message.error or "refused", title="not sent", severity="warning", markup=False)
            self.schedule_plan(0)
            return
        self.session.finish_reply(
            message.reason, message.stats, message.error, message.text, message.token_ids
        )
        await view.finalize()
        stats = message.stats
        if stats is not None:
            self.status.set(
                tokens_per_s=stats.tokens_per_s,
                ttft_s=stats.ttft_s,
                reused=stats.reused_tokens,
                counts_may_differ=getattr(stats, "prompt_as_text", False),
            )
        if message.error:
            self.notify(message.error, title="generation", severity="error", markup=False, timeout=10)
        self._show_save_state()
        # A failed reply leaves the model state at "error" until a reply succeeds, not a misleading "ready".
        self.status.set(
            state="loading" if self._loading else ("error" if message.reason == "error" else "ready")
        )
        self.schedule_plan(0)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures land (a bug in a worker must not leave the UI 'generating')."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if event.worker.group == "generate" and self.generating:
            self.post_message(GenerationFinished("error", error=f"{type(error).__name__}: {error}"))
        else:
            self.notify(f"{type(error).__name__}: {error}", severity="error", markup=False)

    # ----- persistence ------------------------------------------------------------------------------------
    def _show_save_state(self) -> None:
        self.status.set(save_error=self.session.save_error)

    def shutdown(self) -> None:
        """Stop the reply, save everything (a streaming reply as a partial), stop background work: on quit and
        on SIGHUP/SIGTERM, before the app exits."""
        self.session.cancel.set()
        self.session.save_now()
        self.core.close()

    async def _drop_from(self, index: int) -> None:
        self.session.drop_from(index)
        self.core.reset()  # the rolling anchor may point past the new end
        await self.chat.remove_from(index)

    def settings_record(self) -> dict[str, Any]:
        """What the store keeps with the conversation."""
        return {
            "preset": self.core.preset_name,
            "mode": self.mode,
            "template": self.core.template_name(self.mode, self.chat_settings),
            **self.chat_settings.as_dict(),
        }
