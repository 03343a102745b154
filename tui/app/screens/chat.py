"""The chat screen: the chat's layout, keys and dialogs, over its workers (tui.app.screens.chat_workers).

Each dialog's result is applied where the dialog is opened. Keys that only apply sometimes (Stop, Cont) follow
the reactive state (mode, generating, editing) by themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical

from tui.app.screens.chat_tools import ChatTools
from tui.app.screens.chat_workers import FLUSH_HZ
from tui.app.widgets.chat_pane import ChatPane
from tui.app.widgets.composer import Composer
from tui.app.widgets.inspector import Inspector
from tui.app.widgets.key_bar import KeyBar
from tui.app.widgets.meter import TokenMeter
from tui.app.widgets.status_line import StatusLine
from tui.chat.autosave import Autosave
from tui.chat.conversation import Conversation
from tui.chat.core_services import CoreServices
from tui.chat.session import ChatSession
from tui.chat.settings import ChatSettings, EngineSettings
from tui.choices import Mode
from tui.engine.factory import EngineChoice
from tui.engine.hosts import ModelHost
from tui.presets import Preset

OpenHost = Callable[[Preset, EngineChoice], ModelHost]
"""Builds the host for another preset or other engine options (tui.engine.factory.open_host)."""


class ChatScreen(ChatTools):
    # Every key has an id so a user keymap can remap it (App.set_keymap / update_keymap). Quit and help are
    # listed here, in the key bar's order, although quit is the app's action (it works from every dialog).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "app.quit", "Quit", id="chat.quit", priority=True, tooltip="save and quit"),
        Binding("escape", "stop", "Stop", id="chat.stop", tooltip="stop the reply (the partial text stays)"),
        Binding("ctrl+t", "toggle_mode", "Mode", id="chat.toggle", tooltip="switch base / instruct model"),
        Binding("ctrl+o", "inspector", "Inspect", id="chat.inspector", tooltip="context inspector on/off"),
        Binding(
            "ctrl+l", "toggle_adapter", "LoRA", id="chat.adapter", tooltip="LoRA adapter on/off (no reload)"
        ),
        Binding("f2", "compare", "Compare", id="chat.compare", tooltip="two variants answer side by side"),
        Binding("ctrl+r", "regenerate", "Regen", id="chat.regenerate", tooltip="regenerate the last reply"),
        Binding("ctrl+g", "continue_reply", "Cont", id="chat.continue", tooltip="continue the reply (base)"),
        Binding("ctrl+n", "new_conversation", "New", id="chat.new", tooltip="new conversation"),
        Binding(
            "f3", "settings", "Settings", id="chat.settings", tooltip="sampling, policy, template, window"
        ),
        Binding("f4", "sessions", "Sessions", id="chat.sessions", tooltip="reopen a saved conversation"),
        Binding("f5", "switch_preset", "Preset", id="chat.preset", tooltip="switch model preset"),
        # Priority: the input's own f6 (select line) would take the key first.
        Binding(
            "f6", "novel", "Novel", id="chat.novel", priority=True, tooltip="novel mode: continue a story"
        ),
        Binding("f9", "copy_reply", "Copy", id="chat.copy", tooltip="copy the last reply (OSC 52)"),
        Binding("f8", "toggle_markdown", "MD", id="chat.markdown", tooltip="replies as Markdown / literal"),
        Binding("f1", "help", "Help", id="chat.help", tooltip="this help"),
    ]

    def __init__(
        self,
        preset: Preset,
        host: ModelHost,
        *,
        mode: Mode = "instruct",
        settings: ChatSettings | None = None,
        conversation: Conversation | None = None,
        recorder: Any = None,
        store: Any = None,
        save_unavailable: str = "",
        presets: Mapping[str, Preset] | None = None,
        engine: EngineChoice | None = None,
        open_host: OpenHost | None = None,
        vm_status: Callable[[], str] | None = None,
        heartbeat: Any = None,
    ) -> None:
        super().__init__(
            preset,
            host,
            mode=mode,
            settings=settings,
            conversation=conversation,
            recorder=recorder,
            save_unavailable=save_unavailable,
            heartbeat=heartbeat,
        )
        self.store = store
        """tui.store.SessionStore for the session picker (F4), or None when sessions are not saved."""
        self.presets = dict(presets or {})
        self.engine = engine or EngineChoice()
        self.open_host = open_host
        self.vm_status = vm_status

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with Horizontal(id="main"):
            yield ChatPane(id="chat")
            yield Inspector(id="inspector")
        with Vertical(id="bottom"):
            yield TokenMeter(id="meter")
            yield Composer(id="composer")
        yield KeyBar(id="keys")

    async def on_mount(self) -> None:
        self.inspector.display = False
        self.inspector.pieces = self._pieces
        self.chat.markdown = self.chat_settings.markdown
        self._show_engine()
        self._show_save_state()
        if self.conversation.turns:
            await self.chat.reset(self.conversation.turns)
        self.set_interval(1 / FLUSH_HZ, self._drain)
        if self.vm_status is not None:
            self._refresh_vm()
            self.set_interval(30, self._refresh_vm)
        self.composer.focus()
        self.schedule_plan(0)
        if not self.core.is_resident(self.mode):
            self.start_load(self.mode)

    def close_store(self) -> None:
        """Close the session store: only when the process ends without the launcher, which closes it otherwise."""
        if self.store is not None:
            self.store.close()

    def _show_engine(self) -> None:
        self.status.set(
            preset=self.core.preset_name,
            mode=self.mode,
            backend=self.core.backend_name,
            device=self.core.device(),
        )
        self.show_adapter()

    def _pieces(self, ids: Any) -> list[str]:
        try:
            return self.core.pieces(ids)
        except Exception:
            return [str(i) for i in ids]

    def _refresh_vm(self) -> None:
        if self.vm_status is not None:
            try:
                self.status.set(vm=self.vm_status())
            except Exception as exc:  # a broken info file must never take the chat down
                self.status.set(vm=f"vm info unreadable ({type(exc).__name__})")

    # ----- actions ----------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return True if self.generating or self.editing is not None else None
        if action == "continue_reply":
            return self.mode == "base" or None
        if action == "switch_preset":
            return bool(self.open_host and self.presets) or None
        if action == "sessions":
            return self.store is not None or None
        return True

    def action_stop(self) -> None:
        if self.generating:
            self.session.cancel.set()  # the partial reply stays; the engine ends with reason "cancelled"
            return
        if self.editing is not None:
            self.editing = None
            self.composer.clear()
            self.schedule_plan(0)

    def action_toggle_mode(self) -> None:
        self.mode = "base" if self.mode == "instruct" else "instruct"
        # Switch now, even to a resident model, so the status line can say what the switch took. While a reply
        # streams the engine may not swap models under it; the next send switches instead.
        if not self.generating:
            self.start_load(self.mode, toggled=True)

    def action_inspector(self) -> None:
        inspector = self.inspector
        shown = not inspector.display
        inspector.set_open(shown)
        self.set_class(shown, "-inspecting")
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
        self.session.save_now()
        await self._show_conversation(
            ChatSession(autosave=self.session.autosave.fresh(self.settings_record()))
        )
        self.composer.clear()

    async def _show_conversation(self, session: ChatSession) -> None:
        self.core.reset()
        self.session = session
        self.editing = None
        await self.chat.reset(session.conversation.turns)
        self._show_save_state()
        self.schedule_plan(0)

    def action_copy_reply(self) -> None:
        reply = self.conversation.last_reply()
        if reply is None or not reply.content:
            self.notify("no reply to copy yet", markup=False)
            return
        self.app.copy_to_clipboard(reply.content)  # OSC 52: reaches the local clipboard over SSH and tmux
        self.notify(f"copied {len(reply.content)} characters", markup=False)

    async def action_toggle_markdown(self) -> None:
        self.chat_settings = replace(self.chat_settings, markdown=not self.chat_settings.markdown)
        self.chat.markdown = self.chat_settings.markdown
        if not self.generating:
            await self.chat.reset(self.conversation.turns)
            if self.plan is not None:
                self.chat.apply_statuses(self.plan.message_status)
        self.notify("replies as Markdown" if self.chat.markdown else "replies as literal text", markup=False)

    async def on_composer_edit_last(self, message: Composer.EditLast) -> None:
        if self.generating:
            return
        index = self.conversation.last_index("user")
        if index is None:
            return
        self.editing = index
        self.composer.load_text(self.conversation.turns[index].content)
        self.composer.move_cursor(self.composer.document.end)
        self.notify("editing your last message: Enter resends it, Esc cancels", markup=False)

    # ----- dialogs: each result is applied where its screen is opened -------------------------------------
    def action_novel(self) -> None:
        if self.generating:
            self.notify("stop the reply first (Esc)", markup=False)
            return
        from tui.app.novel_launch import novel_screen_for
        from tui.errors import StableLMTuiError

        try:
            screen = novel_screen_for(self)
        except StableLMTuiError as exc:  # the last story is damaged: say why, stay in the chat
            self.notify(str(exc), title="novel", severity="error", markup=False, timeout=10)
            return
        self.app.push_screen(screen)

    def action_help(self) -> None:
        from tui.app.screens.help import HelpScreen

        bindings = [
            b for node in (self, self.app) for bs in node._bindings.key_to_bindings.values() for b in bs
        ]
        self.app.push_screen(HelpScreen(bindings))

    def action_settings(self) -> None:
        from tui.app.screens.settings import SettingsResult, SettingsScreen

        preset = self.core.preset
        engine = None
        if self.core.backend_name == "local":  # a server quantizes and places its models itself
            engine = EngineSettings(
                self.engine.quantization(preset) or "none", self.engine.residency_for(preset)
            )

        def apply(result: SettingsResult | None) -> None:
            if result is None:
                return
            self.chat_settings, chosen = result
            self.session.autosave.update_settings(self.settings_record())
            self.schedule_plan(0)
            if chosen is not None and chosen != engine:
                self._switch_engine(preset, replace(self.engine, **vars(chosen)))

        active_template = self.core.template_name(self.mode, self.chat_settings)
        dialog = SettingsScreen(
            self.chat_settings,
            max_window=self.core.context_window,
            active_template=active_template,
            engine=engine,
        )
        self.app.push_screen(dialog, apply)

    def action_sessions(self) -> None:
        if self.store is None:
            return
        from tui.app.screens.sessions import SessionPicker

        async def chosen(conversation_id: int | None) -> None:
            if conversation_id is None or self.store is None:
                return
            if self.generating:
                self.notify("stop the reply first (Esc)", markup=False)
                return
            from tui.chat.resume import restore

            self.session.save_now()
            try:
                conversation, recorder, settings, mode = restore(self.store, conversation_id)
            except Exception as exc:  # StoreError: say why and keep the current conversation
                self.notify(str(exc), title="sessions", severity="error", markup=False)
                return
            self.chat_settings = settings
            await self._show_conversation(ChatSession(conversation, Autosave(recorder)))
            if mode is not None:
                self.mode = mode

        self.app.push_screen(SessionPicker(self.store), chosen)

    def action_switch_preset(self) -> None:
        if not (self.open_host and self.presets):
            return
        from tui.app.screens.presets import PresetPicker

        def chosen(name: str | None) -> None:
            if name is None or name not in self.presets:
                return
            self._switch_engine(self.presets[name], self.engine)

        self.app.push_screen(PresetPicker(tuple(sorted(self.presets)), self.core.preset_name), chosen)

    def _switch_engine(self, preset: Preset, engine: EngineChoice) -> None:
        """Run the conversation on another preset or with other engine options; the conversation stays."""
        if self.generating:
            self.notify("stop the reply first (Esc)", markup=False)
            return
        if self.open_host is None:
            self.notify("this chat was opened on fixed models: restart it with other options", markup=False)
            return
        if self._loading:
            self.notify("a model is loading: change the models once it is ready", markup=False)
            return
        try:
            host = self.open_host(preset, engine)
        except Exception as exc:  # UserError/EngineError: say why and keep the models that work
            self.notify(str(exc), title="models", severity="error", markup=False)
            return
        self.core.close()
        self.core.host.close()
        self.core = CoreServices(preset, host, on_summary=self._summary_ready)
        self.engine = engine
        self._loading.clear()
        self._show_engine()
        self.session.autosave.update_settings(self.settings_record())
        self.schedule_plan(0)
        if not self.core.is_resident(self.mode):
            self.start_load(self.mode)
