"""What the meter and the inspector draw: a read-only view of the planner's ContextPlan.

The app never counts tokens. The services adapter copies the numbers out of the real plan (tui.context) into
these frozen records once, in the worker thread, so widgets only format them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SegmentView:
    index: int
    kind: str
    """header | system | message | summary | draft | footer | marker"""
    message_index: int | None
    role: str | None
    status: str
    """kept | dropped | truncated | summarized"""
    tokens: int
    text: str
    token_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class SummaryView:
    text: str
    replaced: tuple[int, ...]
    """Indexes of the messages the summary stands for."""
    original_tokens: int
    tokens: int

    @property
    def ratio(self) -> float:
        return self.original_tokens / self.tokens if self.tokens else 0.0


@dataclass(frozen=True)
class PlanView:
    window: int
    reserve: int
    budget: int
    policy: str
    template: str
    total_tokens: int
    """Prompt tokens that will be sent (the reply's reserve not included)."""
    fixed_tokens: int
    """Template header/footer/markers plus the system prompt."""
    history_tokens: int
    draft_tokens: int
    segments: tuple[SegmentView, ...] = ()
    prompt: str = ""
    trim_log: tuple[str, ...] = ()
    over_by: int = 0
    """For the stop policy: how many tokens too many (0 when it fits)."""
    dropped_messages: tuple[int, ...] = ()
    dropped_tokens: int = 0
    summaries: tuple[SummaryView, ...] = ()
    reuse_tokens: int = 0
    """Tokens the next send would take from the KV cache."""
    message_status: dict[int, str] = field(default_factory=dict)
    """Conversation index -> kept/dropped/truncated/summarized."""
    token_ids: tuple[int, ...] = ()
    stop: tuple[str, ...] = ()
    """The template's stop strings (the engine also stops on them)."""
    error: str | None = None
    """A planning failure (template error...) to show instead of numbers."""

    @property
    def used(self) -> int:
        return self.total_tokens + self.reserve

    @property
    def prefill_tokens(self) -> int:
        return max(0, len(self.token_ids) - self.reuse_tokens)

    @property
    def will_trim(self) -> bool:
        return bool(self.dropped_messages) or any(s.status == "truncated" for s in self.segments)
