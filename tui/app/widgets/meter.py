"""The always-visible token meter: used / window split by part, colour as it fills, a warning before trims.

It draws the planner's numbers (PlanView) and never counts anything itself.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.chat.planview import PlanView

# Colours per part of the bar; the label colour tells how full the window is.
PART_STYLES = (
    ("tmpl+sys", "fixed_tokens", "#8787d7"),
    ("history", "history_tokens", "#5fafd7"),
    ("draft", "draft_tokens", "#87d787"),
    ("reserve", "reserve", "#af5f5f"),
)
# Short labels keep the meter on one line at 80 columns.
SHORT = {"tmpl+sys": "sys", "history": "hist", "draft": "draft", "reserve": "rsv"}
WIDE = 100


def fill_style(fraction: float) -> str:
    if fraction >= 0.9:
        return "bold #ff5f5f"
    if fraction >= 0.7:
        return "bold #ffd75f"
    return "bold #87d787"


def render_meter(plan: PlanView | None, width: int, streaming_note: str = "") -> Text:
    if plan is None:
        return Text("context: planning…", style="dim")
    if plan.error:
        return Text(f"context: {plan.error}", style="bold #ff5f5f")
    used, window = plan.used, max(plan.window, 1)
    fraction = used / window
    text = Text()
    text.append(f"{used}/{window} ", style=fill_style(fraction))
    bar_width = max(8, min(40, width - (70 if width >= WIDE else 52)))
    # Each part gets cells in proportion to its tokens; the rest of the bar is free space.
    remaining = bar_width
    text.append("▕")
    for _name, attr, colour in PART_STYLES:
        tokens = int(getattr(plan, attr))
        cells = min(remaining, round(tokens / window * bar_width)) if tokens else 0
        remaining -= cells
        text.append("█" * cells, style=colour)
    text.append("·" * remaining, style="dim")
    text.append("▏ ")
    parts = [
        (name if width >= WIDE else SHORT[name], int(getattr(plan, attr)), colour)
        for name, attr, colour in PART_STYLES
    ]
    for i, (name, tokens, colour) in enumerate(parts):
        if i:
            text.append(" ")
        text.append(f"{name} {tokens}", style=colour)
    if streaming_note:
        text.append(f"  {streaming_note}", style="dim")
    if plan.over_by > 0:
        text.append(f"\n⚠ over by {plan.over_by} tokens: policy 'stop' refuses to send", style="bold #ff5f5f")
    elif plan.will_trim:
        count = len(plan.dropped_messages)
        truncated = any(s.status == "truncated" for s in plan.segments)
        what = f"drops {count} message{'s' if count != 1 else ''} ({plan.dropped_tokens} tokens)"
        if truncated:
            what += (", truncates" if count else "truncates") + " a message"
        text.append(f"\n⚠ sending {what} [{plan.policy}]", style="bold #ffd75f")
    return text


class TokenMeter(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.plan: PlanView | None = None
        self.note = ""

    def show(self, plan: PlanView | None, note: str = "") -> None:
        self.plan = plan
        self.note = note
        self.update(render_meter(plan, self.size.width or 80, note))

    def on_resize(self) -> None:
        self.update(render_meter(self.plan, self.size.width or 80, self.note))
