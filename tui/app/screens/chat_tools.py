"""Chat keys that reach into the models beside the conversation: the LoRA adapter toggle (ctrl+l) and the
compare view (F2). ChatScreen declares the bindings (in its key bar order); the actions live here.

The adapter is switched by the engine in place (tui.engine.residency.ModelPair.set_adapter), never by
reloading; against a server the requests switch between `<model>` and the `<model>+lora` it serves
(tui.engine.hosts.RemoteHost). The screen only asks, from a worker, and shows the answer it gets back as a
message.
"""

from __future__ import annotations

from tui.app.messages import AdapterSwitched
from tui.app.screens.chat_workers import ChatWorkers
from tui.choices import Mode


class ChatTools(ChatWorkers):
    _adapter_pending = False

    def show_adapter(self) -> None:
        self.status.set(lora=self.core.adapter_on(self.mode) is True)

    def action_toggle_adapter(self) -> None:
        mode: Mode = self.mode
        on = self.core.adapter_on(mode)
        if on is None and self.core.backend_name == "local":
            self.notify(
                f"the {mode} model has no LoRA adapter (none was given): start with "
                f"`stablelm-tui chat --adapter {mode}=DIR` or set `adapter` in the preset's [{mode}] table",
                title="LoRA",
                severity="warning",
                markup=False,
            )
            return
        # A server is asked in the worker whether it serves `<model>+lora`; if not, its one sentence is shown.
        on = bool(on)
        if self.generating:
            self.notify("stop the reply first (Esc): the adapter changes the weights it uses", markup=False)
            return
        if self._loading or self._adapter_pending:
            self.notify("a model is loading: switch the adapter once it is ready", markup=False)
            return
        self._adapter_pending = True
        core = self.core

        def switch() -> None:
            try:
                core.set_adapter(mode, not on)
            except Exception as exc:  # UserError/EngineError: said in a notification, the state stays
                self.post_message(AdapterSwitched(mode, on, str(exc) or type(exc).__name__))
                return
            self.post_message(AdapterSwitched(mode, not on))

        self.run_worker(switch, thread=True, group="adapter", exit_on_error=False)

    def on_adapter_switched(self, message: AdapterSwitched) -> None:
        self._adapter_pending = False
        if message.error:
            self.notify(message.error, title="LoRA", severity="error", markup=False)
            return
        self.show_adapter()
        badge = message.mode.upper() + ("+LoRA" if message.on else "")
        state = "on" if message.on else "off: the model's own weights"
        self.notify(f"LoRA adapter {state} ({badge}, no reload)", markup=False)
        self.schedule_plan(0)  # the KV cache was dropped with the old weights: the reuse preview changes

    def action_compare(self) -> None:
        if self.generating:
            self.notify("stop the reply first (Esc)", markup=False)
            return
        from tui.app.screens.compare import CompareScreen

        self.app.push_screen(
            CompareScreen(self.core, self.mode, self.chat_settings, draft=self.composer.text.strip())
        )
