"""The novel inspector: the planner's ledger, live: every piece, in or out, why, and its exact token cost.

It shows what the plan says (tui.novel.ledger) and counts nothing itself. Story and lore text is shown as plain
text (never markup): a story may well contain `[red]`.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from tui.novel.ledger import NovelPlan, Piece

STATUS_STYLES = {"included": "#87d787", "partial": "#ffd75f", "dropped": "bold #ff5f5f", "skipped": "dim"}


def piece_label(piece: Piece) -> str:
    if piece.entry is None:
        return {"memory": "メモリ", "note": "脚注", "story": "story"}.get(piece.kind, piece.kind)
    return f"#{piece.entry + 1} {piece.name}".strip()


def summary(plan: NovelPlan) -> Text:
    text = Text()
    text.append(f"{plan.total_tokens}", style="bold")
    text.append(f" of {plan.budget} tokens · window {plan.window} · reserve {plan.reserve}\n")
    text.append(f"stable prefix {plan.stable_tokens} · story {plan.story_tokens} tokens")
    if plan.story_cut:
        text.append(f", {plan.story_cut} characters cut from its start", style="#ffd75f")
    text.append(f"\nlore {plan.lore_tokens} of {plan.lore_budget} tokens · scan window {plan.scan_tokens}")
    if plan.error:
        text.append(f"\ncannot send: {plan.error}", style="bold #ff5f5f")
    return text


class LedgerView(Vertical):
    """Summary on top, one row per piece under it."""

    def compose(self) -> ComposeResult:
        yield Static(id="ledger-summary")
        table: DataTable[Text] = DataTable(id="ledger-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("piece", "status", "tok", "why")
        yield table

    def show(self, plan: NovelPlan) -> None:
        self.query_one("#ledger-summary", Static).update(summary(plan))
        table: DataTable[Text] = self.query_one("#ledger-table", DataTable)
        row = table.cursor_row
        table.clear()
        for piece in plan.pieces:
            style = STATUS_STYLES.get(piece.status, "")
            table.add_row(
                Text(piece_label(piece)),
                Text(piece.status, style=style),
                Text(str(piece.tokens), justify="right"),
                Text(piece.reason.replace("\n", " ")),
            )
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
