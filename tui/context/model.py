"""The planner's data: messages in, a plan out. Plain frozen dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tui.choices import Policy
from tui.errors import UserError

Role = Literal["system", "user", "assistant"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant")
SegmentKind = Literal["header", "system", "message", "summary", "draft", "footer", "marker", "reply"]
"""reply: the unfinished reply a base-mode "continue" extends, after the footer, as it is."""
Status = Literal["kept", "dropped", "truncated", "summarized"]
SENT: frozenset[str] = frozenset({"kept", "truncated", "summarized"})
"""Statuses whose text and ids are in the prompt."""


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    pinned: bool = False
    ids: tuple[int, ...] | None = None
    """The token ids `content` was sampled as (a reply), or None. The plan then uses them, wrapped by the
    template, instead of encoding the text again, so the prompt extends exactly what the engine has cached;
    ids that do not decode to `content` are ignored (see tui/context/reply_ids.py)."""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r} (expected one of {', '.join(ROLES)})")


@dataclass(frozen=True)
class Segment:
    """One piece of the prompt (or of the conversation that was left out of it)."""

    kind: SegmentKind
    message_index: int | None
    """Index into the planned messages; None for header, footer, draft, summary and marker."""
    role: Role | None
    status: Status
    tokens: int
    """Tokens of `text`; for a dropped segment, what it would have cost."""
    text: str
    """The rendered piece as it is (or would be) in the prompt, template markup included."""
    token_start: int
    token_end: int
    """Its span in plan.token_ids (empty, at the place it would have been, when not sent)."""
    char_start: int
    char_end: int
    """Its span in plan.prompt."""
    replaces: tuple[int, ...] = ()
    """For a summary: the message indices it stands for."""
    cut_chars: int = 0
    """For a truncated message: how many characters were cut from the start of its content."""

    @property
    def sent(self) -> bool:
        return self.status in SENT

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "message_index": self.message_index,
            "role": self.role,
            "status": self.status,
            "tokens": self.tokens,
        }
        if self.replaces:
            data["replaces"] = list(self.replaces)
        if self.cut_chars:
            data["cut_chars"] = self.cut_chars
        return data


@dataclass(frozen=True)
class SummaryJob:
    """One chunk of dropped conversation the engine should summarize (see build_summary_prompt)."""

    key: str
    """Cache key: message range + tokenizer + content hash; put the summary text under it in `summaries`."""
    chunk: int
    chunks: int
    text: str
    """The chunk as a transcript."""
    max_chars: int
    message_indices: tuple[int, ...]


class ContextOverflow(UserError):
    """A plan that cannot be sent: the parts that are never dropped do not fit, or policy `stop` refused."""


@dataclass(frozen=True)
class ContextPlan:
    window: int
    reserve: int
    budget: int
    """window - reserve: the most prompt tokens that leave room for the reply."""
    policy: Policy
    template: str
    segments: tuple[Segment, ...]
    token_ids: list[int]
    """Exactly what the engine is fed: the concatenated ids of the sent segments."""
    prompt: str
    total_tokens: int
    first_kept: int
    """The rolling anchor: droppable messages before this index are left out. Pass it back as `keep_from`."""
    stop: tuple[str, ...] = ()
    """The template's stop strings."""
    ok: bool = True
    over_by: int = 0
    error: str | None = None
    log: tuple[str, ...] = ()
    summary_jobs: tuple[SummaryJob, ...] = ()
    """Summaries the plan would use but does not have yet (policy `summarize`)."""

    def require_ok(self) -> None:
        """Raise ContextOverflow unless the plan may be sent."""
        if not self.ok:
            raise ContextOverflow(self.error or f"over by {self.over_by} tokens")

    def to_dict(self, *, include_ids: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "window": self.window,
            "reserve": self.reserve,
            "budget": self.budget,
            "policy": self.policy,
            "template": self.template,
            "total_tokens": self.total_tokens,
            "segments": [s.to_dict() for s in self.segments],
        }
        if include_ids:
            data["token_ids"] = list(self.token_ids)
        data["prompt"] = self.prompt
        data["ok"] = self.ok
        data["over_by"] = self.over_by
        data["error"] = self.error
        data["first_kept"] = self.first_kept
        data["stop"] = list(self.stop)
        data["log"] = list(self.log)
        data["summary_jobs"] = [
            {"key": j.key, "chunk": j.chunk, "chunks": j.chunks, "message_indices": list(j.message_indices)}
            for j in self.summary_jobs
        ]
        return data
