"""The novel context ledger: every piece that is, or could have been, in the prompt, and why.

Invariants (checked by `check_invariants`, and by the property tests on random stories):
    total_tokens == len(token_ids) == sum of the tokens of included and partial pieces
    decode(token_ids) == prompt, and prompt is the included/partial pieces' text in order
    total_tokens <= budget
A plan that cannot be sent (something that is never dropped does not fit) still keeps them: the piece that did
not fit is "dropped" with its reason, and `error` says what to change; `require_ok` raises it before sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from tui.errors import UserError

PieceKind = Literal["memory", "lore", "story", "note"]
PieceStatus = Literal["included", "partial", "dropped", "skipped"]
SENT: frozenset[str] = frozenset({"included", "partial"})


class NovelPlanError(UserError):
    """The plan cannot be sent: memory, 脚注 or always-on lore does not fit, or the story has no room."""


class Piece(NamedTuple):
    """One piece of the ledger. A NamedTuple rather than a dataclass: a plan of a 200-entry lorebook makes 200 of
    these per keystroke, and a tuple is made several times faster than a frozen dataclass."""

    kind: PieceKind
    entry: int | None
    """Index into story.lore (0-based) for lore pieces, else None."""
    status: PieceStatus
    reason: str
    tokens: int
    """Tokens in the prompt; for dropped and skipped pieces, what it would have cost."""
    text: str
    """The text as sent (or as it would be), separator newline included."""
    token_start: int
    token_end: int
    char_start: int
    char_end: int
    """Its spans in plan.token_ids and plan.prompt (empty, at the place it would be, when not sent)."""
    key: str | None = None
    """For a fired lore entry: the key that fired it."""
    name: str = ""
    """For a lore entry: its name."""

    @property
    def sent(self) -> bool:
        return self.status in SENT

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "entry": self.entry,
            "status": self.status,
            "reason": self.reason,
            "tokens": self.tokens,
        }


@dataclass(frozen=True)
class NovelPlan:
    window: int
    reserve: int
    budget: int
    """window - reserve: the most prompt tokens that leave room for the continuation."""
    total_tokens: int
    token_ids: tuple[int, ...]
    prompt: str
    pieces: tuple[Piece, ...]
    error: str | None = None
    stable_tokens: int = 0
    """Tokens at the start that only change when memory or always-on lore changes: a retry or a continue
    reuses at least these from the KV cache."""
    story_tokens: int = 0
    """Tokens of the whole story (what it would cost untrimmed)."""
    story_cut: int = 0
    """Characters cut from the start of the story to fit."""
    scan_start: int = 0
    """Where (in characters) the lore scan window starts in the story."""
    scan_tokens: int = 0
    lore_budget: int = 0
    lore_tokens: int = 0
    """Tokens the key-fired entries take of `lore_budget` (the story's settings, echoed for the inspector)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def require_ok(self) -> None:
        if self.error is not None:
            raise NovelPlanError(self.error)

    def sent_pieces(self) -> list[Piece]:
        return [p for p in self.pieces if p.sent]

    def to_dict(self) -> dict[str, Any]:
        """The fields of `stablelm-tui novel plan --json`, exactly."""
        return {
            "window": self.window,
            "reserve": self.reserve,
            "budget": self.budget,
            "total_tokens": self.total_tokens,
            "token_ids": list(self.token_ids),
            "prompt": self.prompt,
            "pieces": [p.to_dict() for p in self.pieces],
        }


def check_invariants(plan: NovelPlan, decode: Any) -> None:
    """Raise AssertionError naming the broken invariant (tests and the planner's debug checks use it)."""
    sent = plan.sent_pieces()
    assert plan.total_tokens == len(plan.token_ids), "total_tokens != len(token_ids)"
    assert plan.total_tokens == sum(p.tokens for p in sent), "total_tokens != sum of included/partial pieces"
    assert plan.total_tokens <= plan.budget, f"total {plan.total_tokens} over the budget {plan.budget}"
    assert plan.prompt == "".join(p.text for p in sent), "prompt is not the sent pieces' text"
    assert decode(list(plan.token_ids)) == plan.prompt, "decode(token_ids) != prompt"
    for piece in plan.pieces:
        span = plan.token_ids[piece.token_start : piece.token_end]
        assert len(span) == (piece.tokens if piece.sent else 0), f"span of {piece.kind} {piece.entry}"
        assert plan.prompt[piece.char_start : piece.char_end] == (piece.text if piece.sent else "")
