"""The session picker: saved conversations, newest first; Enter reopens one."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.sanitize import neutralize


class SessionPicker(ModalScreen[int | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="sessions.cancel")]

    def __init__(self, store: Any) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        with Vertical(id="sessions-dialog"):
            yield Static("Conversations (Enter opens, Esc closes)", classes="dialog-title")
            options: list[Option] = []
            error = ""
            try:
                summaries = self.store.list_conversations()
            except Exception as exc:  # StoreError: say why, keep the chat usable
                summaries, error = [], str(exc)
            for s in summaries:
                when = dt.datetime.fromtimestamp(s.updated).strftime("%Y-%m-%d %H:%M")
                title = neutralize(s.title or "(untitled)").replace("\n", " ")
                options.append(
                    Option(Content(f"#{s.id}  {when}  {s.messages:>3} msgs  {title}"), id=str(s.id))
                )
            yield OptionList(*options, id="sessions-list")
            yield Static(Content(error or ("" if options else "no saved conversations yet")))

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id or 0))

    def action_cancel(self) -> None:
        self.dismiss(None)
