"""The multi-line input: Enter sends, ctrl+j inserts a newline (alt+enter / shift+enter too, where they arrive).

Over SSH inside tmux a terminal sends Enter as CR and ctrl+j as LF, so ctrl+j always arrives as its own key
(tests/tmux/tui_keys.sh checks it). alt+enter reaches Textual 8 as plain "enter" through tmux (checked with a
key logger), and shift+enter only where the terminal reports modified keys, so neither is the documented key.
Up-arrow in an empty input asks the app to edit the last user message.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

NEWLINE_KEYS = ("ctrl+j", "alt+enter", "shift+enter")


class Composer(TextArea):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+j", "newline", "Newline", key_display="^j", id="composer.newline"),
    ]

    class Submitted(Message):
        def __init__(self, composer: Composer, text: str) -> None:
            super().__init__()
            self.composer = composer
            self.text = text

    class EditLast(Message):
        """Up-arrow in an empty input."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            "",
            id=id,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            compact=True,
            placeholder="Message (Enter sends, ctrl+j newline, ↑ edits last)",
        )

    def action_newline(self) -> None:
        self.insert("\n")

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.action_newline()
            return
        if event.key == "up" and not self.text:
            event.stop()
            event.prevent_default()
            self.post_message(self.EditLast())
            return
        await super()._on_key(event)
