"""The lorebook panel: the entries (add, edit, enable/disable, delete by keyboard) and the lorebook test field.

The panel only shows entries and asks for changes (EntryRequested); the screen changes the story through the
NovelSession, which checks them like the story file. The test field's matches come from tui.novel.lore, the
same matching the planner does.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from tui.novel.lore import Match
from tui.novel.story import LoreEntry

EntryRequest = Literal["new", "edit", "toggle", "delete"]


def entry_flags(entry: LoreEntry) -> str:
    flags = "on " if entry.enabled else "off"
    if entry.always:
        flags += " always"
    if entry.regex:
        flags += " re"
    return flags


class LoreTable(DataTable[Text]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "request('new')", "New entry", id="lore.new", tooltip="new lorebook entry"),
        Binding("enter", "request('edit')", "Edit", id="lore.edit", tooltip="edit the lorebook entry"),
        Binding(
            "space", "request('toggle')", "On/off", id="lore.toggle", tooltip="enable / disable the entry"
        ),
        Binding(
            "delete", "request('delete')", "Delete", id="lore.delete", tooltip="delete the lorebook entry"
        ),
    ]

    class EntryRequested(Message):
        def __init__(self, request: EntryRequest, index: int | None) -> None:
            super().__init__()
            self.request = request
            self.index = index
            """The entry under the cursor (0-based), None when the lorebook is empty."""

    def action_request(self, request: EntryRequest) -> None:
        index = self.cursor_row if self.row_count else None
        if request != "new" and index is None:
            self.notify("the lorebook is empty: n adds an entry", markup=False)
            return
        self.post_message(self.EntryRequested(request, index))


class LorePanel(Vertical):
    def compose(self) -> ComposeResult:
        table = LoreTable(id="lore-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("#", "name", "keys", "flags", "pri")
        yield table
        yield Static(Text("n new · Enter edit · Space on/off · Del delete", style="dim"), id="lore-hint")
        yield Input(placeholder="lorebook test: type text, see which entries fire", id="lore-test")
        yield Static(id="lore-test-result")

    @property
    def table(self) -> LoreTable:
        return self.query_one(LoreTable)

    def show_lore(self, lore: tuple[LoreEntry, ...], cursor: int | None = None) -> None:
        table = self.table
        row = table.cursor_row if cursor is None else cursor
        table.clear()
        for number, entry in enumerate(lore, start=1):
            table.add_row(
                Text(str(number)),
                Text(entry.name or "—"),
                Text(", ".join(entry.keys) if not entry.always else "(always)"),
                Text(entry_flags(entry), style="" if entry.enabled else "dim"),
                Text(str(entry.priority), justify="right"),
            )
        if table.row_count:
            table.move_cursor(row=max(0, min(row, table.row_count - 1)))

    def show_test(self, text: str, lore: tuple[LoreEntry, ...], fired: list[tuple[int, Match]]) -> None:
        result = Text()
        if not text:
            result.append("", style="dim")
        elif not fired:
            result.append("no entry fires on this text", style="dim")
        for index, match in fired:
            entry = lore[index]
            line = f"#{index + 1} {entry.name}".strip() + f": key '{match.key}'"
            result.append(line + ("" if entry.enabled else " (disabled: would not be sent)") + "\n")
        self.query_one("#lore-test-result", Static).update(result)
