"""The chat application: composes the widgets, maps keys to actions and routes worker messages.

Threads never touch widgets: the generation worker appends text to a ChunkBuffer that a 15 Hz timer drains,
and posts typed messages (tui.app.messages) for everything else. Planning runs in a thread worker too, so a
1 MB paste never blocks typing. The app shows the planner's numbers; it never counts tokens itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import replace
from functools import partial
from typing import Any, ClassVar

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tui.app.autosave import Autosave
from tui.app.coalesce import ChunkBuffer
from tui.app.conversation import Conversation, ModeName, Turn, TurnSnapshot
from tui.app.dialogs import open_preset_picker, open_sessions, open_settings
from tui.app.messages import (
    GenerationFinished,
    GenerationStarted,
    LoadProgressed,
    ModelReady,
    PlanReady,
    SummaryReady,
)
from tui.app.planview import PlanView
from tui.app.services import Services
from tui.app.settings import ChatSettings
from tui.app.streaming import pump_reply
from tui.app.widgets.chat_pane import ChatPane
from tui.app.widgets.composer import Composer
from tui.app.widgets.inspector import Inspector
from tui.app.widgets.key_bar import KeyBar
from tui.app.widgets.message_view import MessageView
from tui.app.widgets.meter import TokenMeter
from tui.app.widgets.status_line import StatusLine

FLUSH_HZ = 15
PLAN_DEBOUNCE_S = 0.03
STREAM_REPLAN_S = 0.5


def _empty_plan(error: str) -> PlanView:
    return PlanView(
        window=0,
        reserve=0,
        budget=0,
        policy="",
        template="",
        total_tokens=0,
        fixed_tokens=0,
        history_tokens=0,
        draft_tokens=0,
        error=error,
    )


class ChatApp(App[int]):
    CSS_PATH = "app.tcss"
    # Below 110 columns the inspector replaces the chat instead of sharing the width (app.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012  (Textual declares it mutable)
    # Every key has an id so a user keymap can remap it (App.set_keymap / update_keymap).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop", id="chat.stop", tooltip="stop the reply (the partial text stays)"),
        Binding("ctrl+t", "toggle_mode", "Mode", id="chat.toggle", tooltip="switch base / instruct model"),
        Binding("ctrl+o", "inspector", "Inspect", id="chat.inspector", tooltip="context inspector on/off"),
        Binding("ctrl+r", "regenerate", "Regen", id="chat.regenerate", tooltip="regenerate the last reply"),
        Binding("ctrl+g", "continue_reply", "Cont", id="chat.continue", tooltip="continue the reply (base)"),
        Binding("ctrl+n", "new_conversation", "New", id="chat.new", tooltip="new conversation"),
        Binding(
            "f3", "settings", "Settings", id="chat.settings", tooltip="sampling, policy, template, window"
        ),
        Binding("f4", "sessions", "Sessions", id="chat.sessions", tooltip="reopen a saved conversation"),
        Binding("f5", "switch_preset", "Preset", id="chat.preset", tooltip="switch model preset"),
        Binding("f9", "copy_reply", "Copy", id="chat.copy", tooltip="copy the last reply (OSC 52)"),
        Binding("f8", "toggle_markdown", "MD", id="chat.markdown", tooltip="replies as Markdown / literal"),
        Binding("f1", "help", "Help", id="chat.help", tooltip="this help"),
        Binding("ctrl+q", "quit", "Quit", id="chat.quit", priority=True, tooltip="save and quit"),
    ]

    def __init__(
        self,
        services: Services,
        *,
        mode: ModeName = "instruct",
        settings: ChatSettings | None = None,
        conversation: Conversation | None = None,
        recorder: Any = None,
        store: Any = None,
        services_factory: Callable[[str], Services] | None = None,
        preset_names: tuple[str, ...] = (),
        vm_status: Callable[[], str] | None = None,
        handle_signals: bool = False,
        heartbeat: Any = None,
        save_unavailable: str = "",
    ) -> None:
        super().__init__()
        self.heartbeat = heartbeat
        """tui.vminfo.Heartbeat: user activity and streaming keep the VM's idle watchdog from stopping it."""
        self.handle_signals = handle_signals
        self.services = services
        self.mode: ModeName = mode
        self.chat_settings = settings or ChatSettings()
        self.conversation = conversation or Conversation()
        self.autosave = Autosave(recorder, unavailable=save_unavailable)
        self.store = store
        self.services_factory = services_factory
        self.preset_names = preset_names
        self.vm_status = vm_status
        self.plan: PlanView | None = None
        self.generating = False
        self._plan_serial = 0
        self._plan_timer: Any = None
        self._last_stream_plan = 0.0
        self._cancel = threading.Event()
        self._buffer = ChunkBuffer()
        self._reply_turn: Turn | None = None
        self._reply_view: MessageView | None = None
        self._reply_prefix = ""
        self._editing: int | None = None
        self._loading: set[str] = set()
        self._awaiting_model = False

    # ----- layout -----------------------------------------------------------------------------------------
    def on_load(self) -> None:
        self.title = "stablelm-tui"

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="main"):
            yield ChatPane(id="chat")
            yield Inspector(id="inspector")
        with Vertical(id="bottom"):
            yield TokenMeter(id="meter")
            yield Composer(id="composer")
        yield KeyBar(id="keys")

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

    async def on_mount(self) -> None:
        self.attach_services()
        self.inspector.display = False
        self.inspector.pieces = self._pieces
        self.chat.markdown = self.chat_settings.markdown
        self.refresh_status_base()
        self._show_save_state()
        if self.conversation.turns:
            await self.chat.reset(self.conversation.turns)
        self.set_interval(1 / FLUSH_HZ, self._drain)
        if self.vm_status is not None:
            self._refresh_vm()
            self.set_interval(30, self._refresh_vm)
        self.composer.focus()
        if self.handle_signals:
            self._install_signal_handlers()
        self.schedule_plan(0)
        if not self.services.is_resident(self.mode):
            self.start_load(self.mode)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette (ctrl+p) lists every chat action by name, beside Textual's own commands."""
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action in ("quit",) or not self.check_action(binding.action, ()):
                continue
            yield SystemCommand(
                binding.tooltip.capitalize(), f"key: {binding.key}", partial(self.run_action, binding.action)
            )

    def attach_services(self) -> None:
        self.services.on_summary = self._summary_ready

    def _summary_ready(self) -> None:
        self.post_message(SummaryReady())  # thread-safe; the handler re-plans on the UI thread

    def on_summary_ready(self, message: SummaryReady) -> None:
        self.schedule_plan(0)

    def refresh_status_base(self) -> None:
        self.status.set(
            preset=self.services.preset_name,
            mode=self.mode,
            backend=self.services.backend_name,
            device=self.services.device(),
        )

    async def on_event(self, event: events.Event) -> None:
        if self.heartbeat is not None and isinstance(event, events.Key):
            self.heartbeat.beat()  # rate-limited inside; a no-op off the VM
        await super().on_event(event)

    def _refresh_vm(self) -> None:
        if self.vm_status is not None:
            try:
                self.status.set(vm=self.vm_status())
            except Exception as exc:  # a broken info file must never take the chat down
                self.status.set(vm=f"vm info unreadable ({type(exc).__name__})")

    def _pieces(self, ids: Any) -> list[str]:
        try:
            return self.services.pieces(ids)
        except Exception:
            return [str(i) for i in ids]

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
        turns = self._snapshot_for_plan()
        self._plan_worker(self._plan_serial, turns, draft, self.mode, self.chat_settings)

    def _snapshot_for_plan(self) -> tuple[TurnSnapshot, ...]:
        if self._editing is not None:
            return self.conversation.snapshot(until=self._editing)
        return self.conversation.snapshot()

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    def _plan_worker(
        self,
        serial: int,
        turns: tuple[TurnSnapshot, ...],
        draft: str,
        mode: ModeName,
        settings: ChatSettings,
    ) -> None:
        try:
            view = self.services.plan(turns, draft, mode, settings)
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
    def start_load(self, mode: ModeName) -> None:
        if mode in self._loading:
            return
        self._loading.add(mode)
        self.status.set(state="loading", load_done=0, load_total=0, load_stage=mode)
        self._load_worker(mode)

    def _progress_poster(self, mode: ModeName) -> Callable[[Any], None]:
        def post(event: Any) -> None:
            self.post_message(LoadProgressed(mode, event))

        return post

    @work(thread=True, group="load", exit_on_error=False)
    def _load_worker(self, mode: ModeName) -> None:
        try:
            self.services.ensure_loaded(mode, self._progress_poster(mode))
        except Exception as exc:
            self.post_message(ModelReady(mode, str(exc) or type(exc).__name__))
            return
        self.post_message(ModelReady(mode))

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
        if not self.generating:
            self.status.set(state="loading" if self._loading else "ready", device=self.services.device())

    # ----- sending and streaming --------------------------------------------------------------------------
    async def on_composer_submitted(self, message: Composer.Submitted) -> None:
        text = message.text
        if self.generating:
            self.notify("a reply is streaming: wait, or press Esc to stop it", markup=False)
            return
        if not text.strip():
            return
        if self._editing is not None:
            await self._drop_from(self._editing)
            self._editing = None
        self.composer.clear()
        turn = Turn("user", text)
        self._record_new(turn)
        self.conversation.add(turn)
        await self.chat.add_turn(turn)
        await self._begin_reply()

    async def _begin_reply(self, *, continuing: bool = False) -> None:
        if continuing:
            turn = self.conversation.turns[-1]
            turn.partial, turn.reason = True, None
            self._reply_view = self.chat.views[-1]
            snapshot = self.conversation.snapshot()
        else:
            snapshot = self.conversation.snapshot()
            turn = Turn("assistant", "", mode=self.mode, partial=True)
            self.conversation.add(turn)
            self._record_new(turn)
            self._reply_view = await self.chat.add_turn(turn)
        self._reply_turn = turn
        self._reply_prefix = turn.content
        self._reply_view.refresh_label()
        self._cancel = threading.Event()
        self._buffer = ChunkBuffer()
        self.generating = True
        self._awaiting_model = True
        self._last_stream_plan = time.monotonic()
        self.status.set(state="generating")
        self.refresh_bindings()
        self._generate(snapshot, self.mode, self.chat_settings, self._cancel, self._buffer, continuing)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def _generate(
        self,
        turns: tuple[TurnSnapshot, ...],
        mode: ModeName,
        settings: ChatSettings,
        cancel: threading.Event,
        buffer: ChunkBuffer,
        continuing: bool,
    ) -> None:
        pump_reply(
            self.services, turns, mode, settings, cancel, buffer, self.post_message, continuing=continuing
        )

    def on_generation_started(self, message: GenerationStarted) -> None:
        self._awaiting_model = False
        self.status.set(state="generating")
        self._show_plan(message.plan)

    async def _drain(self) -> None:
        """The 15 Hz timer: move buffered text to the screen in one update."""
        if self._reply_turn is None:
            return
        text = self._buffer.drain()
        if not text:
            return
        if self.heartbeat is not None:
            self.heartbeat.beat()
        turn = self._reply_turn
        turn.content += text
        if self._reply_view is not None:
            follow = self.chat.near_bottom()
            await self._reply_view.append(text)
            if follow:
                self.chat.scroll_end(animate=False)
        self.autosave.progress(turn)
        self._show_save_state()
        now = time.monotonic()
        if now - self._last_stream_plan >= STREAM_REPLAN_S:
            self._last_stream_plan = now
            self.schedule_plan(0)

    async def on_generation_finished(self, message: GenerationFinished) -> None:
        await self._drain()  # the tail: never lose the last tokens of a throttled stream
        turn, view = self._reply_turn, self._reply_view
        self.generating = False
        self._awaiting_model = False
        self._reply_turn = None
        self._reply_view = None
        self.refresh_bindings()
        if turn is None:
            return
        if message.reason == "refused":
            await self._discard_reply(turn, view)
            self.status.set(state="ready")
            self.notify(message.error or "refused", title="not sent", severity="warning", markup=False)
            self.schedule_plan(0)
            return
        if message.text is not None and self._reply_prefix + message.text != turn.content:
            turn.content = self._reply_prefix + message.text  # the engine's full text is authoritative
        turn.reason = message.reason
        turn.partial = message.reason in ("cancelled", "error")
        stats = message.stats
        if view is not None:
            await view.finalize()
        meta: dict[str, Any] = {"mode": turn.mode, "reason": message.reason}
        if stats is not None:
            meta["stats"] = stats.as_dict() if hasattr(stats, "as_dict") else dict(vars(stats))
            self.status.set(
                tokens_per_s=stats.tokens_per_s,
                ttft_s=stats.ttft_s,
                reused=stats.reused_tokens,
                counts_may_differ=getattr(stats, "prompt_as_text", False),
            )
        if message.error:
            meta["error"] = message.error
            self.notify(message.error, title="generation", severity="error", markup=False, timeout=10)
        turn.meta.update(meta)
        self.autosave.finish(turn, meta)
        self._show_save_state()
        # A failed reply leaves the model state at "error" until a reply succeeds, not a misleading "ready".
        self.status.set(
            state="loading" if self._loading else ("error" if message.reason == "error" else "ready")
        )
        self.schedule_plan(0)

    async def _discard_reply(self, turn: Turn, view: MessageView | None) -> None:
        if turn.content:
            return  # a continued reply keeps what it had
        if turn in self.conversation.turns:
            index = self.conversation.turns.index(turn)
            self.autosave.delete(self.conversation.truncate(index))
        if view is not None:
            await view.remove()

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
    def _record_new(self, turn: Turn) -> None:
        self.autosave.new_turn(turn)
        self._show_save_state()

    def _show_save_state(self) -> None:
        self.status.set(save_error=self.autosave.error)

    def save_now(self) -> None:
        """Save everything, the streaming reply as a partial; used on quit and on SIGHUP/SIGTERM."""
        turn = self._reply_turn
        if turn is not None:
            turn.content += self._buffer.drain()
            self.autosave.partial_now(turn)
        self.autosave.flush()

    def _install_signal_handlers(self) -> None:
        """SIGHUP (the SSH link dropped) and SIGTERM (spot preemption, shutdown): save, then exit cleanly."""
        import asyncio
        import signal

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            loop.add_signal_handler(sig, self._exit_on_signal, sig)

    def _exit_on_signal(self, sig: int) -> None:
        self._cancel.set()
        self.save_now()
        self.services.close()
        self.exit(0)

    async def _drop_from(self, index: int) -> None:
        self.autosave.delete(self.conversation.truncate(index))
        self.services.reset()  # the rolling anchor may point past the new end
        await self.chat.remove_from(index)

    # ----- actions ----------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return True if self.generating or self._editing is not None else None
        if action == "continue_reply":
            return self.mode == "base" or None
        if action == "switch_preset":
            return bool(self.services_factory and self.preset_names) or None
        if action == "sessions":
            return self.store is not None or None
        return True

    def action_stop(self) -> None:
        if self.generating:
            self._cancel.set()  # the partial reply stays; the engine ends with reason "cancelled"
            return
        if self._editing is not None:
            self._editing = None
            self.composer.clear()
            self.refresh_bindings()
            self.schedule_plan(0)

    def action_toggle_mode(self) -> None:
        self.mode = "base" if self.mode == "instruct" else "instruct"
        self.status.set(mode=self.mode)
        self.refresh_bindings()
        self.schedule_plan(0)  # the other template re-plans at once
        self.autosave.update_settings(self.settings_record())
        # While a reply streams the engine may not swap models under it; the next send loads instead.
        if not self.generating and not self.services.is_resident(self.mode):
            self.start_load(self.mode)

    def action_inspector(self) -> None:
        inspector = self.inspector
        shown = not inspector.display
        inspector.set_open(shown)
        self.screen.set_class(shown, "-inspecting")
        if shown:
            inspector.query_one("DataTable").focus()
        else:
            self.composer.focus()

    async def action_regenerate(self) -> None:
        if self.generating:
            return
        turns = self.conversation.turns
        if not turns:
            return
        if turns[-1].role == "assistant":
            await self._drop_from(len(turns) - 1)
        if self.conversation.turns and self.conversation.turns[-1].role == "user":
            await self._begin_reply()

    async def action_continue_reply(self) -> None:
        if self.generating or self.mode != "base":
            return
        last = self.conversation.turns[-1] if self.conversation.turns else None
        if last is None or last.role != "assistant":
            self.notify("nothing to continue: the last message is not a reply", markup=False)
            return
        await self._begin_reply(continuing=True)

    async def action_new_conversation(self) -> None:
        if self.generating:
            self.notify("stop the reply first (Esc)", markup=False)
            return
        self.save_now()
        self.conversation = Conversation()
        self.services.reset()
        self._editing = None
        self.autosave = self.autosave.fresh(self.settings_record())
        await self.chat.reset([])
        self.composer.clear()
        self.schedule_plan(0)

    async def load_conversation(self, conversation: Conversation, autosave: Autosave) -> None:
        self.services.reset()
        self.conversation = conversation
        self.autosave = autosave
        self._editing = None
        await self.chat.reset(conversation.turns)
        self.schedule_plan(0)

    def action_copy_reply(self) -> None:
        reply = self.conversation.last_reply()
        if reply is None or not reply.content:
            self.notify("no reply to copy yet", markup=False)
            return
        self.copy_to_clipboard(reply.content)  # OSC 52: reaches the local clipboard over SSH and tmux
        self.notify(f"copied {len(reply.content)} characters", markup=False)

    async def action_toggle_markdown(self) -> None:
        self.chat_settings = replace(self.chat_settings, markdown=not self.chat_settings.markdown)
        self.chat.markdown = self.chat_settings.markdown
        if not self.generating:
            await self.chat.reset(self.conversation.turns)
            if self.plan is not None:
                self.chat.apply_statuses(self.plan.message_status)
        self.notify("replies as Markdown" if self.chat.markdown else "replies as literal text", markup=False)

    def action_help(self) -> None:
        from tui.app.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_settings(self) -> None:
        open_settings(self)

    def action_sessions(self) -> None:
        open_sessions(self)

    def action_switch_preset(self) -> None:
        open_preset_picker(self)

    async def on_composer_edit_last(self, message: Composer.EditLast) -> None:
        if self.generating:
            return
        index = self.conversation.last_index("user")
        if index is None:
            return
        self._editing = index
        self.composer.load_text(self.conversation.turns[index].content)
        self.composer.move_cursor(self.composer.document.end)
        self.refresh_bindings()
        self.notify("editing your last message: Enter resends it, Esc cancels", markup=False)

    def settings_record(self) -> dict[str, Any]:
        """What the store keeps with the conversation."""
        return {
            "preset": self.services.preset_name,
            "mode": self.mode,
            "template": self.services.template_name(self.mode, self.chat_settings),
            **self.chat_settings.as_dict(),
        }

    async def action_quit(self) -> None:
        self._cancel.set()
        self.save_now()
        self.services.close()
        self.exit(0)
