"""The plan as a table for people (`novel plan` without --json): 1-based numbers, one row per piece."""

from __future__ import annotations

from tui.novel.ledger import NovelPlan
from tui.novel.story import Story
from tui.sanitize import neutralize

BAR_WIDTH = 50


def _bar(used: int, budget: int, window: int) -> str:
    """[███░░░|rr]: tokens used of the budget, then the continuation's reserve."""
    scale = BAR_WIDTH / window
    used_cells = min(BAR_WIDTH, round(used * scale))
    budget_cells = round(budget * scale)
    cells = "█" * min(used_cells, budget_cells) + "░" * max(0, budget_cells - used_cells)
    return f"[{cells}|{'r' * max(0, BAR_WIDTH - budget_cells)}]"


def _clip(text: str, width: int) -> str:
    flat = neutralize(text).replace("\n", "↵")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def plan_table(plan: NovelPlan, story: Story, preset_name: str) -> list[str]:
    lines = [
        f"preset {preset_name}: {plan.total_tokens} of {plan.budget} tokens "
        f"(window {plan.window}, {plan.reserve} reserved for the continuation)",
        f"{'#':>3}  {'kind':<6} {'entry':<14} {'status':<8} {'tokens':>6}  reason",
    ]
    for number, piece in enumerate(plan.pieces, start=1):
        entry = ""
        if piece.entry is not None:
            entry = _clip(f"#{piece.entry + 1} {piece.name}".strip(), 14)
        lines.append(
            f"{number:>3}  {piece.kind:<6} {entry:<14} {piece.status:<8} {piece.tokens:>6}  {_clip(piece.reason, 200)}"
        )
    lines.append(_bar(plan.total_tokens, plan.budget, plan.window))
    lines.append(
        f"stable prefix: {plan.stable_tokens} tokens (memory and always-on lore; a retry or a continue reuses them)"
    )
    lines.append(f"story: {plan.story_tokens} tokens in all, {_sent_story(plan)} sent")
    if story.scan_tokens and plan.scan_start < len(story.text):
        lines.append(
            f"lore keys looked for in the last {story.scan_tokens} tokens (from character {plan.scan_start + 1}) "
            "and in the 脚注"
        )
    return lines


def _sent_story(plan: NovelPlan) -> int:
    return sum(p.tokens for p in plan.pieces if p.kind == "story" and p.sent)
