"""Token sequences to train on: documents cut at sentence ends, packed up to --max-tokens, split for held-out.

Pure functions over token ids (tui.train.data turns files into Documents). Every id here came from our own
tokenizer, so a sequence's length is its exact cost in the model's window.

Cutting: a piece of a document is its `prefix` (context the model reads but is not trained to write: the
template's header, a story's memory) plus a span of its body. A span ends at a strong cut (a message boundary,
a newline) when one lies in the last half of the budget, else at a sentence end, else (a sentence longer than
the budget) at the budget. A reply's stop string lives at the start of the next message; when a span ends
between the two, the stop string's tokens are appended to the span so the reply still learns where it ends.

Packing: pieces shorter than --max-tokens share a sequence, in order, separated by the eos token (not learned),
which is how the model saw document boundaries in pre-training.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tui.errors import UserError

DataKind = Literal["conversation", "story", "text"]
# A piece must leave at least this many body tokens after its prefix, or cutting makes no progress.
MIN_BODY_TOKENS = 16
MAX_HELDOUT_SEQUENCES = 64


@dataclass(frozen=True)
class Document:
    source: str
    """Where it came from, for messages: a file name (and line) or a story."""
    kind: DataKind
    prefix: tuple[int, ...]
    """Context at the start of every piece cut from this document; never in the loss."""
    ids: tuple[int, ...]
    loss: tuple[bool, ...]
    """Per id of `ids`: is the model trained to produce it."""
    strong_cuts: frozenset[int] = frozenset()
    """Positions p (between ids[p-1] and ids[p]) that end a message or a paragraph."""
    sentence_cuts: frozenset[int] = frozenset()
    """Positions p right after a sentence end."""
    tails: Mapping[int, int] = field(default_factory=dict)
    """At a cut p after a reply: the first tails[p] ids from p spell the reply's stop string."""

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.loss):
            raise ValueError(f"{self.source}: {len(self.ids)} ids but {len(self.loss)} loss flags")

    @property
    def loss_tokens(self) -> int:
        return sum(self.loss)


@dataclass(frozen=True)
class Piece:
    source: str
    ids: tuple[int, ...]
    loss: tuple[bool, ...]


@dataclass(frozen=True)
class TrainSequence:
    """What one training step reads: ids, which of them are learned, and the pieces' sources."""

    ids: tuple[int, ...]
    loss: tuple[bool, ...]
    sources: tuple[str, ...]

    @property
    def loss_tokens(self) -> int:
        return sum(self.loss[1:])  # the first id has nothing before it to be predicted from


def _last_cut(cuts: list[int], low: int, high: int, tails: Mapping[int, int]) -> int | None:
    """The largest cut c with low < c and c + tail(c) <= high."""
    index = bisect.bisect_right(cuts, high) - 1
    while index >= 0 and cuts[index] > low:
        c = cuts[index]
        if c + tails.get(c, 0) <= high:
            return c
        index -= 1
    return None


def cut_document(doc: Document, max_tokens: int) -> list[Piece]:
    """Pieces of at most max_tokens ids each (prefix included); pieces with nothing to learn are left out."""
    budget = max_tokens - len(doc.prefix)
    if budget < MIN_BODY_TOKENS:
        raise UserError(
            f"{doc.source}: its context ({len(doc.prefix)} tokens of template header or story memory) leaves "
            f"no room in --max-tokens {max_tokens}: raise --max-tokens or shorten it"
        )
    strong = sorted(doc.strong_cuts)
    sentences = sorted(doc.sentence_cuts | doc.strong_cuts)
    n = len(doc.ids)
    pieces: list[Piece] = []
    start = 0
    while start < n:
        limit = start + budget
        if limit >= n:
            end = n
        else:
            end = (
                _last_cut(strong, start + budget // 2, limit, doc.tails)
                or _last_cut(sentences, start, limit, doc.tails)
                or limit
            )
        tail = doc.tails.get(end, 0) if end < n else 0
        loss = list(doc.loss[start:end])
        # A stop string learned at the end of the previous piece is plain context at the start of this one.
        lead = doc.tails.get(start, 0) if start > 0 else 0
        loss[:lead] = [False] * min(lead, len(loss))
        ids = doc.prefix + doc.ids[start:end] + doc.ids[end : end + tail]
        flags = (False,) * len(doc.prefix) + tuple(loss) + (True,) * tail
        if any(flags[1:]):
            pieces.append(Piece(doc.source, ids, flags))
        start = end
    return pieces


def pack(pieces: Iterable[Piece], max_tokens: int, separator: int | None) -> list[TrainSequence]:
    """First-fit, in order: each piece goes into the first sequence it fits in (with a separator before it)."""
    bins: list[tuple[list[int], list[bool], list[str]]] = []
    for piece in pieces:
        if len(piece.ids) > max_tokens:
            raise ValueError(f"{piece.source}: a piece of {len(piece.ids)} ids is over {max_tokens}")
        for ids, loss, sources in bins:
            joiner = [] if separator is None or ids[-1] == separator else [separator]
            if len(ids) + len(joiner) + len(piece.ids) <= max_tokens:
                ids.extend(joiner + list(piece.ids))
                loss.extend([False] * len(joiner) + list(piece.loss))
                sources.append(piece.source)
                break
        else:
            bins.append((list(piece.ids), list(piece.loss), [piece.source]))
    return [TrainSequence(tuple(ids), tuple(loss), tuple(dict.fromkeys(src))) for ids, loss, src in bins]


def split_heldout(pieces: Sequence[Piece], fraction: float) -> tuple[list[Piece], list[Piece]]:
    """(train, held-out): evenly spaced pieces are held out, so every part of the data is represented."""
    n = len(pieces)
    if n < 2:
        raise UserError(
            "the data makes a single training piece, so none can be held out to measure progress: "
            "give more data or a smaller --max-tokens"
        )
    held_count = min(MAX_HELDOUT_SEQUENCES, n - 1, max(1, round(n * fraction)))
    held_index = {int((i + 0.5) * n / held_count) for i in range(held_count)}
    train = [p for i, p in enumerate(pieces) if i not in held_index]
    held = [p for i, p in enumerate(pieces) if i in held_index]
    return train, held


def fingerprint(sequences: Iterable[TrainSequence]) -> str:
    """sha256 of the exact ids and loss flags: a resumed run must train on the same data."""
    digest = hashlib.sha256()
    for seq in sequences:
        digest.update(len(seq.ids).to_bytes(4, "little"))
        digest.update(b"".join(i.to_bytes(4, "little") for i in seq.ids))
        digest.update(bytes(seq.loss))
    return digest.hexdigest()
