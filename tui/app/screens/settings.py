"""The settings dialog: temperature, top_p, max_new_tokens, context policy, template, window."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from tui.chat.settings import POLICIES, ChatSettings, parse_form
from tui.errors import UserError


def _text(value: object) -> str:
    return "" if value is None else str(value)


class SettingsScreen(ModalScreen[ChatSettings | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="settings.cancel"),
        Binding("ctrl+s", "save", "Save", id="settings.save", show=False),
    ]

    def __init__(self, current: ChatSettings, *, max_window: int, active_template: str) -> None:
        super().__init__()
        self.current = current
        self.max_window = max_window
        self.active_template = active_template

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
            yield Static("", id="settings-error")
            with Horizontal(id="settings-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def _values(self) -> dict[str, str]:
        values = {i.id or "": i.value for i in self.query(Input)}
        values["policy"] = str(self.query_one("#policy", Select).value)
        return values

    def action_save(self) -> None:
        try:
            result = parse_form(self._values(), self.current, self.max_window)
        except UserError as exc:
            self.query_one("#settings-error", Static).update(Content(str(exc)))
            return
        self.dismiss(result)

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
