"""One planning pass: the prompt's pieces (header, messages, draft, footer), their ids and the running total.

The planner (planner.py) decides what to drop; this module holds the pieces and the bookkeeping it decides on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tui.context.model import Message, Role, SegmentKind, Status, SummaryJob
from tui.context.options import PlanOptions
from tui.context.reply_ids import ExactIdCache
from tui.context.truncate import cut_to_fit
from tui.templates import PromptTemplate
from tui.tokenizers import IdCache, Tokenizer


@dataclass
class Piece:
    kind: SegmentKind
    index: int | None
    role: Role | None
    text: str
    ids: tuple[int, ...]
    protected: bool = False
    status: Status = "kept"
    replaces: tuple[int, ...] = ()
    cut_chars: int = 0

    @property
    def n(self) -> int:
        return len(self.ids)


@dataclass
class Caches:
    ids: IdCache
    jobs: dict[tuple[object, ...], tuple[SummaryJob, ...]] = field(default_factory=dict)
    exact: ExactIdCache = field(init=False)

    def __post_init__(self) -> None:
        self.exact = ExactIdCache(self.ids.tokenizer, self.ids.encode)


def index_runs(indices: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i in sorted(indices):
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def describe_runs(runs: list[tuple[int, int]]) -> str:
    """Message ranges for people, who count from 1 (message_index in the plan counts from 0)."""
    return ", ".join(str(a + 1) if a == b else f"{a + 1}–{b + 1}" for a, b in runs)


class PlanPass:
    """One planning pass; keeps the running total so each decision is O(1)."""

    def __init__(
        self,
        messages: Sequence[Message],
        draft: str,
        tokenizer: Tokenizer,
        template: PromptTemplate,
        options: PlanOptions,
        caches: Caches,
    ) -> None:
        self.messages = messages
        self.template = template
        self.tokenizer = tokenizer
        self.options = options
        self.caches = caches
        self.log: list[str] = []
        self.draft = draft
        encode = caches.ids.encode
        header, footer = template.header(), template.footer()
        self.header = Piece("header", None, None, header, encode(header), protected=True)
        self.footer = Piece("footer", None, None, footer, encode(footer), protected=True)
        self.pieces: list[Piece] = []
        for i, message in enumerate(messages):
            text = template.message(message.role, message.content)
            kind: SegmentKind = "system" if message.role == "system" else "message"
            protected = message.role == "system" or message.pinned
            ids = None  # exact prefix reuse: a reply keeps the ids it was sampled as (see reply_ids.py)
            if message.ids is not None:
                ids = caches.exact.piece(template, message.role, message.content, message.ids)
            if ids is None:
                ids = encode(text)
            self.pieces.append(Piece(kind, i, message.role, text, ids, protected=protected))
        self.newest: Piece | None = None
        if draft:
            text = template.message("user", draft)
            self.newest = Piece("draft", None, "user", text, encode(text), protected=True)
            self.pieces.append(self.newest)
        else:
            for piece in reversed(self.pieces):
                if piece.role == "user":
                    self.newest = piece
                    break
        if self.newest is not None:
            self.newest.protected = True
        self.total = self.header.n + self.footer.n + sum(p.n for p in self.pieces)
        self.summary: Piece | None = None
        self.marker: Piece | None = None
        self.reply: Piece | None = None

    def drop(self, piece: Piece) -> None:
        if piece.status != "dropped":
            piece.status = "dropped"
            self.total -= piece.n

    def roll(self, order: list[Piece], keep_from: int, extra: int = 0) -> int:
        """Drop droppable pieces before the anchor, then (only if over budget) in one large step. Returns anchor."""
        budget = self.options.budget - extra
        anchor = keep_from
        for piece in order:
            if piece.index is not None and piece.index < keep_from:
                self.drop(piece)
        if self.total > budget:
            target = int(self.options.budget * self.options.trim_to) - extra
            for piece in order:
                if self.total <= target:
                    break
                if piece.status == "dropped":
                    continue
                self.drop(piece)
                if piece.index is not None:
                    anchor = max(anchor, piece.index + 1)
        return anchor

    def truncate_newest(self) -> None:
        newest = self.newest
        budget = self.options.budget
        if newest is None or self.total <= budget or newest.role is None:
            return
        content = self.messages[newest.index].content if newest.index is not None else self.draft
        allowed = budget - (self.total - newest.n)
        role = newest.role
        encode = self.tokenizer.encode

        def fits(tail: str) -> bool:
            return len(encode(self.template.message(role, tail))) <= allowed

        cut = cut_to_fit(content, fits)
        if cut is None or cut == 0:
            return
        text = self.template.message(role, content[cut:])
        ids = tuple(encode(text))
        self.total += len(ids) - newest.n
        newest.text, newest.ids, newest.status, newest.cut_chars = text, ids, "truncated", cut
        what = "the draft" if newest.index is None else f"message {newest.index + 1}"  # counted from 1
        self.log.append(f"truncated {what}: cut {cut} characters from its start to fit")


def first_exchange(pieces: list[Piece]) -> list[Piece]:
    """The first user message (not pinned/system) and the assistant reply right after it, if any."""
    found: list[Piece] = []
    for piece in pieces:
        if piece.kind != "message":
            continue
        if not found:
            if piece.role == "user":
                found.append(piece)
            continue
        if piece.role == "assistant":
            found.append(piece)
        break
    return [p for p in found if not p.protected]
