"""The settings dialog: temperature, top_p, max_new_tokens, context policy, template, window, and for local models
quantization and residency (changing those reloads the models)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from tui.chat.settings import ChatSettings, EngineSettings, parse_engine_form, parse_form
from tui.choices import POLICIES, QUANTIZATIONS, RESIDENCIES
from tui.errors import UserError

SettingsResult = tuple[ChatSettings, EngineSettings | None]
"""The chat's settings, and the engine's (None when the models run on a server)."""


def _text(value: object) -> str:
    return "" if value is None else str(value)


class SettingsScreen(ModalScreen[SettingsResult | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="settings.cancel"),
        Binding("ctrl+s", "save", "Save", id="settings.save", show=False),
    ]

    def __init__(
        self,
        current: ChatSettings,
        *,
        max_window: int,
        active_template: str,
        engine: EngineSettings | None = None,
    ) -> None:
        super().__init__()
        self.current = current
        self.max_window = max_window
        self.active_template = active_template
        self.engine = engine

    def compose(self) -> ComposeResult:
        with Vertical(id="settings-dialog"):
            yield Static("Settings (blank = the preset's value)", classes="dialog-title")
            with Grid(id="settings-grid"):
                yield Label("temperature")
                yield Input(_text(self.current.temperature), id="temperature", placeholder="preset")
                yield Label("top_p")
                yield Input(_text(self.current.top_p), id="top_p", placeholder="preset")
                yield Label("max_new_tokens")
                yield Input(_text(self.current.max_new_tokens), id="max_new_tokens", placeholder="preset")
                yield Label("policy")
                yield Select(
                    [(p, p) for p in POLICIES], value=self.current.policy, allow_blank=False, id="policy"
                )
                yield Label("template")
                yield Input(
                    _text(self.current.template),
                    id="template",
                    placeholder=f"mode's own ({self.active_template})",
                )
                yield Label("window")
                yield Input(_text(self.current.window), id="window", placeholder=str(self.max_window))
                if self.engine is not None:
                    yield Label("quantize")
                    yield Select(
                        [(q, q) for q in ("none", *QUANTIZATIONS)],
                        value=self.engine.quantize,
                        allow_blank=False,
                        id="quantize",
                    )
                    yield Label("residency")
                    yield Select(
                        [(r, r) for r in RESIDENCIES],
                        value=self.engine.residency,
                        allow_blank=False,
                        id="residency",
                    )
            yield Static("", id="settings-error")
            with Horizontal(id="settings-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def _values(self) -> dict[str, str]:
        values = {i.id or "": i.value for i in self.query(Input)}
        for select in self.query(Select):
            values[select.id or ""] = str(select.value)
        return values

    def action_save(self) -> None:
        values = self._values()
        try:
            chat = parse_form(values, self.current, self.max_window)
            engine = parse_engine_form(values, self.engine) if self.engine is not None else None
        except UserError as exc:
            self.query_one("#settings-error", Static).update(Content(str(exc)))
            return
        self.dismiss((chat, engine))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()
