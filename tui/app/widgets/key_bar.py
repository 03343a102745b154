"""A footer that wraps: every active binding is visible, on two lines at 80 columns instead of scrolling away.

Textual's Footer is one line that scrolls horizontally, which hides keys in a narrow terminal; every binding must
stay visible at 80 columns. This draws the same active bindings (so remapped keys and check_action apply).
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.dom import NoScreen
from textual.screen import Screen
from textual.widgets import Static

SEPARATOR = "  "


def layout_keys(items: list[tuple[str, str, bool]], width: int) -> Text:
    """items: (key display, description, enabled); never split an item across lines."""
    text = Text(no_wrap=True, overflow="crop")
    line = 0
    for key, description, enabled in items:
        size = cell_len(key) + 1 + cell_len(description)
        if line and line + len(SEPARATOR) + size > width:
            text.append("\n")
            line = 0
        if line:
            text.append(SEPARATOR)
            line += len(SEPARATOR)
        text.append(key, style="bold #ffaf00" if enabled else "dim")
        text.append(" " + description, style="" if enabled else "dim")
        line += size
    return text


class KeyBar(Static):
    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._redraw()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if screen is self.screen:
            self.call_after_refresh(self._redraw)

    def on_resize(self) -> None:
        self._redraw()

    def items(self) -> list[tuple[str, str, bool]]:
        seen: set[str] = set()
        items: list[tuple[str, str, bool]] = []
        palette: tuple[str, str, bool] | None = None
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if binding.action == "command_palette":
                palette = (self.app.get_key_display(binding), "Palette", enabled)
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            items.append((self.app.get_key_display(binding), binding.description, enabled))
        if palette is not None:
            items.append(palette)
        return items

    def _redraw(self) -> None:
        # A redraw queued just before its screen was closed (the compare view's Esc, the novel screen's F6)
        # finds the widget detached, or no screen at all.
        if not self.is_attached:
            return
        try:
            items = self.items()
        except NoScreen:
            return
        self.update(layout_keys(items, max(self.size.width, 20)))
