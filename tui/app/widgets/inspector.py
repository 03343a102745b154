"""The context inspector: the plan's segments, the exact prompt coloured by segment, a token view of the
selected segment (boundaries and ids), the trim log, summaries, and what the next send reuses from the KV cache.

Everything here comes from the PlanView; text is neutralised and drawn without markup parsing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from tui.chat.planview import PlanView, SegmentView
from tui.sanitize import neutralize

SEGMENT_COLOURS = ("#5fafd7", "#d7af5f", "#87d787", "#d787d7", "#87d7d7", "#d78787")
STATUS_STYLES = {"dropped": "dim strike", "truncated": "italic", "summarized": "italic dim"}
# Keep the view responsive with a 1 MB paste: show the head of very long texts and say how much is hidden.
MAX_SEGMENT_CHARS = 4000
MAX_TOKEN_VIEW = 600


def _clip(text: str, limit: int) -> tuple[str, int]:
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def summary_text(plan: PlanView) -> Text:
    text = Text()
    if plan.error:
        text.append(plan.error, style="bold #ff5f5f")
        return text
    text.append(
        f"window {plan.window}  budget {plan.budget}  reserve {plan.reserve}  prompt {plan.total_tokens}\n"
    )
    text.append(f"policy {plan.policy}  template {plan.template}\n")
    text.append(f"next send: reuses {plan.reuse_tokens} cached, prefills {plan.prefill_tokens}")
    if plan.over_by:
        text.append(f"\nover by {plan.over_by} tokens", style="bold #ff5f5f")
    return text


def prompt_text(plan: PlanView, selected: int | None) -> Text:
    text = Text()
    for seg in plan.segments:
        if seg.status == "dropped":
            continue
        body, hidden = _clip(neutralize(seg.text), MAX_SEGMENT_CHARS)
        style = SEGMENT_COLOURS[seg.index % len(SEGMENT_COLOURS)]
        if seg.index == selected:
            style += " reverse"
        text.append(body, style=style)
        if hidden:
            text.append(f"… [{hidden} more characters]", style="dim italic")
    return text


def token_text(seg: SegmentView, pieces: Sequence[str]) -> Text:
    text = Text()
    ids = seg.token_ids[:MAX_TOKEN_VIEW]
    for i, (tid, piece) in enumerate(zip(ids, pieces, strict=False)):
        style = "on #303030" if i % 2 else "on #444444"
        text.append(neutralize(piece).replace("\n", "↵"), style=style)
        text.append(f"{tid}", style="dim #87afd7")
        text.append(" ")
    if len(seg.token_ids) > MAX_TOKEN_VIEW:
        text.append(f"… {len(seg.token_ids) - MAX_TOKEN_VIEW} more tokens", style="dim italic")
    if not seg.token_ids:
        text.append("(no tokens in the prompt)", style="dim")
    return text


def log_text(plan: PlanView) -> Text:
    text = Text()
    if not plan.trim_log:
        text.append("nothing trimmed", style="dim")
    for line in plan.trim_log:
        text.append(neutralize(line) + "\n")
    for summary in plan.summaries:
        replaced = ", ".join(str(i + 1) for i in summary.replaced)
        text.append(
            f"summary of messages {replaced}: {summary.original_tokens} → {summary.tokens} tokens "
            f"(×{summary.ratio:.1f})\n",
            style="#d7af5f",
        )
        text.append(neutralize(summary.text) + "\n", style="italic")
    return text


class Inspector(VerticalScroll):
    """Shown beside the chat (wide terminals) or instead of it (80 columns)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.plan: PlanView | None = None
        self.selected: int | None = None
        self.pieces: Callable[[Sequence[int]], list[str]] = lambda ids: [str(i) for i in ids]

    def compose(self) -> ComposeResult:
        yield Static("Context inspector", classes="inspector-title")
        yield Static(id="inspector-summary")
        table: DataTable[str] = DataTable(id="inspector-segments", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("Tokens of the selected segment (piece, id)", classes="inspector-title")
        yield Static(id="inspector-tokens")
        yield Static("Prompt (coloured by segment)", classes="inspector-title")
        yield Static(id="inspector-prompt")
        yield Static("Trim log", classes="inspector-title")
        yield Static(id="inspector-log")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("#", "kind", "msg", "role", "status", "tokens")

    def show(self, plan: PlanView) -> None:
        self.plan = plan
        if not self.display:
            return  # drawn when opened; a hidden inspector costs nothing while typing
        self._redraw()

    def _redraw(self) -> None:
        plan = self.plan
        if plan is None:
            return
        self.query_one("#inspector-summary", Static).update(summary_text(plan))
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for seg in plan.segments:
            table.add_row(
                Text(str(seg.index + 1)),
                Text(seg.kind),
                Text("" if seg.message_index is None else str(seg.message_index + 1)),
                Text(seg.role or ""),
                Text(seg.status, style=STATUS_STYLES.get(seg.status, "")),
                Text(str(seg.tokens), justify="right"),
                key=str(seg.index),
            )
        if plan.segments:
            table.move_cursor(row=min(max(cursor, 0), len(plan.segments) - 1))
        self._show_selected()
        self.query_one("#inspector-log", Static).update(log_text(plan))

    def _show_selected(self) -> None:
        plan = self.plan
        if plan is None:
            return
        table = self.query_one(DataTable)
        row = table.cursor_row
        seg = plan.segments[row] if 0 <= row < len(plan.segments) else None
        self.selected = seg.index if seg else None
        tokens = self.query_one("#inspector-tokens", Static)
        if seg is None:
            tokens.update(Text("(no segment)", style="dim"))
        else:
            tokens.update(token_text(seg, self.pieces(seg.token_ids[:MAX_TOKEN_VIEW])))
        self.query_one("#inspector-prompt", Static).update(prompt_text(plan, self.selected))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_selected()

    def set_open(self, shown: bool) -> None:
        self.display = shown
        if shown:
            self._redraw()
