"""Edit one lorebook entry: name, keys, content, priority, where it goes, always / regex / enabled.

The dialog checks the entry with the caller's `check` (the story file's own rules, through NovelSession) and
stays open with the reason when it is refused, so nothing typed is lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Select, Static, TextArea

from tui.novel.story import POSITIONS, LoreEntry

KEY_SEPARATORS = re.compile(r"\s*[,、]\s*")
"""Keys are typed as one line, separated by commas (ASCII or 、)."""


def split_keys(line: str) -> tuple[str, ...]:
    return tuple(key for key in KEY_SEPARATORS.split(line.strip()) if key)


class LoreEntryScreen(ModalScreen[LoreEntry | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        # Not ctrl+s: some terminals take it for flow control (XOFF) and freeze over SSH.
        Binding("f2", "save", "Save", id="lore_entry.save", priority=True),
        Binding("escape", "cancel", "Cancel", id="lore_entry.cancel"),
    ]
    DEFAULT_CSS = """
    LoreEntryScreen { align: center middle; }
    #lore-dialog {
        width: 76; max-width: 98%; height: auto; max-height: 98%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    #lore-grid { grid-size: 2; grid-columns: 10 1fr; grid-rows: 1; grid-gutter: 0 1; height: auto; }
    #lore-grid Input, #lore-grid Select { border: none; height: 1; }
    #lore-grid SelectCurrent { border: none; height: 1; padding: 0 1; }
    #lore-flags { height: 1; }
    #lore-flags Checkbox { border: none; height: 1; padding: 0; margin-right: 2; width: auto; }
    #lore-content { height: 6; }
    #lore-error { color: $error; height: auto; }
    """

    def __init__(self, entry: LoreEntry, title: str, check: Callable[[LoreEntry], str | None]) -> None:
        super().__init__()
        self.entry = entry
        self.title_text = title
        self.check = check

    def compose(self) -> ComposeResult:
        entry = self.entry
        with Vertical(id="lore-dialog"):
            yield Static(
                Text(f"{self.title_text} (F2 or Enter in a field saves, Esc cancels)"), classes="dialog-title"
            )
            with Grid(id="lore-grid"):
                yield Label("name")
                yield Input(entry.name, id="lore-name")
                yield Label("keys")
                yield Input(
                    ", ".join(entry.keys), placeholder="アリス, ありす (commas between keys)", id="lore-keys"
                )
                yield Label("priority")
                yield Input(str(entry.priority), type="integer", id="lore-priority")
                yield Label("position")
                yield Select(
                    [(p, p) for p in POSITIONS], value=entry.position, allow_blank=False, id="lore-position"
                )
            with Grid(id="lore-flags"):
                yield Checkbox("enabled", entry.enabled, id="lore-enabled")
                yield Checkbox("always", entry.always, id="lore-always")
                yield Checkbox("regex", entry.regex, id="lore-regex")
            yield Label("content (what the model reads)")
            yield TextArea(entry.content, id="lore-content", soft_wrap=True)
            yield Static(id="lore-error")

    def on_mount(self) -> None:
        self.query_one("#lore-flags", Grid).styles.grid_size_columns = 3
        self.query_one("#lore-name", Input).focus()

    def edited(self) -> LoreEntry:
        priority = self.query_one("#lore-priority", Input).value.strip()
        position = self.query_one("#lore-position", Select).value
        return LoreEntry(
            keys=split_keys(self.query_one("#lore-keys", Input).value),
            content=self.query_one("#lore-content", TextArea).text,
            regex=self.query_one("#lore-regex", Checkbox).value,
            always=self.query_one("#lore-always", Checkbox).value,
            enabled=self.query_one("#lore-enabled", Checkbox).value,
            priority=int(priority) if priority not in ("", "-") else 0,
            position=position if position in POSITIONS else self.entry.position,
            name=self.query_one("#lore-name", Input).value.strip(),
        )

    def action_save(self) -> None:
        entry = self.edited()
        problem = self.check(entry)
        if problem:
            self.query_one("#lore-error", Static).update(Text(problem))
            return
        self.dismiss(entry)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()
