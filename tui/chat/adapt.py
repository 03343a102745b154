"""Copy the planner's ContextPlan into the PlanView the widgets draw (done once, in the worker thread)."""

from __future__ import annotations

from typing import Any

from tui.chat.planview import PlanView, SegmentView, SummaryView

FIXED_KINDS = frozenset({"header", "footer", "marker", "system"})


def plan_view_from(plan: Any, *, reuse_tokens: int = 0) -> PlanView:
    """`plan` is a tui.context.ContextPlan (typed loosely so this module needs no import of it)."""
    segments: list[SegmentView] = []
    fixed = history = draft = 0
    statuses: dict[int, str] = {}
    dropped: list[int] = []
    dropped_tokens = 0
    ids = list(plan.token_ids)
    message_tokens: dict[int, int] = {}
    for index, seg in enumerate(plan.segments):
        sent = seg.status != "dropped"
        segments.append(
            SegmentView(
                index=index,
                kind=seg.kind,
                message_index=seg.message_index,
                role=seg.role,
                status=seg.status,
                tokens=seg.tokens,
                text=seg.text,
                token_ids=tuple(ids[seg.token_start : seg.token_end]) if sent else (),
            )
        )
        if seg.kind in ("message", "reply") and seg.message_index is not None:
            statuses[seg.message_index] = seg.status
            message_tokens[seg.message_index] = seg.tokens
            if seg.status == "dropped":
                dropped.append(seg.message_index)
                dropped_tokens += seg.tokens
        if not sent:
            continue
        if seg.kind in FIXED_KINDS or (seg.kind == "message" and seg.role == "system"):
            fixed += seg.tokens
        elif seg.kind == "draft":
            draft += seg.tokens
        else:
            history += seg.tokens
    for seg in plan.segments:
        if seg.kind == "summary" and seg.status != "dropped":
            for i in seg.replaces:  # the chat shows these as summarized, not simply gone
                statuses[i] = "summarized"
    summaries = tuple(
        SummaryView(
            text=seg.text,
            replaced=tuple(seg.replaces),
            original_tokens=sum(message_tokens.get(i, 0) for i in seg.replaces),
            tokens=seg.tokens,
        )
        for seg in plan.segments
        if seg.kind == "summary"
    )
    return PlanView(
        window=plan.window,
        reserve=plan.reserve,
        budget=plan.budget,
        policy=plan.policy,
        template=plan.template,
        total_tokens=plan.total_tokens,
        fixed_tokens=fixed,
        history_tokens=history,
        draft_tokens=draft,
        segments=tuple(segments),
        prompt=plan.prompt,
        trim_log=tuple(plan.log),
        over_by=plan.over_by if not plan.ok else 0,
        dropped_messages=tuple(dropped),
        dropped_tokens=dropped_tokens,
        summaries=summaries,
        reuse_tokens=reuse_tokens,
        message_status=statuses,
        token_ids=tuple(ids),
        stop=tuple(plan.stop),
        error=plan.error if not plan.ok and not plan.over_by else None,
    )
