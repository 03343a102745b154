"""The help screen: every key of the screen that opened it, from its live bindings (so a remapped key shows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

EXTRA_KEYS = (
    ("enter", "send the message"),
    ("ctrl+j", "new line in the message (works in every terminal, over SSH and in tmux)"),
    ("↑ (empty input)", "edit your last message; Enter resends it, Esc cancels"),
    ("tab / shift+tab", "move between the input, the chat and the inspector"),
    ("ctrl+p", "command palette: every action by name"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "dismiss", "Close", id="help.close"),
    ]

    def __init__(
        self, bindings: Sequence[Binding], *, extra: Sequence[tuple[str, str]] = EXTRA_KEYS, note: str = ""
    ) -> None:
        super().__init__()
        self.bindings = bindings
        self.extra = extra
        """Keys that are not bindings of the screen (typing, the input's own keys)."""
        self.note = note or (
            "The meter shows the planner's count: template+system, history, your draft and the "
            "reserve for the reply. Dimmed messages are no longer in the model's context."
        )

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold #ffd75f", no_wrap=True)
        table.add_column()
        for key, what in self.extra:
            table.add_row(Text(key), Text(what))
        shown: set[str] = set()
        for b in self.bindings:
            if b.description and b.key not in shown:
                shown.add(b.key)
                table.add_row(Text(self.app.get_key_display(b)), Text(b.tooltip or b.description))
        with VerticalScroll(id="help-body"):
            yield Static("Keys (Esc closes)", classes="dialog-title")
            yield Static(table)
            yield Static(Text(self.note, style="dim"))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
