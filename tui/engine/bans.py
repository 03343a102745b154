"""Banned token sequences: which ids the sampler must not pick next, given the ids that came before.

The decoding loop asks one question per step, so it never needs to know how the banned set is described:

    state = bans.start(prompt_ids)          # once, before the first token
    bans.banned(state)                      # ids that would complete a banned sequence right now
    state = bans.advance(state, token)      # after each sampled token

`TokenSequenceBans` describes the set as explicit id sequences (transformers' `bad_words_ids` semantics: the
last id of a sequence is banned right after the others). tui.novel.banned describes it as "every sequence whose
text contains a banned word", which explicit sequences cannot: one short word has millions of spellings.
Pure Python, no torch.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from typing import Protocol, runtime_checkable

from tui.errors import UserError


@runtime_checkable
class BannedSequences(Protocol):
    def start(self, context: Sequence[int]) -> Hashable:
        """The state after the prompt (a sequence may begin in the prompt and end in the reply)."""
        ...

    def advance(self, state: Hashable, token: int) -> Hashable: ...

    def banned(self, state: Hashable) -> Collection[int]:
        """Ids that must not come next."""
        ...


class TokenSequenceBans:
    """Explicit sequences: after ids[:-1], ids[-1] is banned; a one-id sequence is banned everywhere."""

    def __init__(self, sequences: Iterable[Sequence[int]]) -> None:
        self._after: dict[tuple[int, ...], set[int]] = {}
        for sequence in sequences:
            ids = tuple(sequence)
            if not ids or any(not isinstance(i, int) or isinstance(i, bool) or i < 0 for i in ids):
                raise UserError(f"a banned sequence must be a non-empty list of token ids, got {list(ids)!r}")
            self._after.setdefault(ids[:-1], set()).add(ids[-1])
        self._lengths = sorted({len(prefix) for prefix in self._after})
        self._keep = max(self._lengths, default=0)
        self._memo: dict[tuple[int, ...], frozenset[int]] = {}

    def start(self, context: Sequence[int]) -> tuple[int, ...]:
        return tuple(context[len(context) - self._keep :]) if self._keep else ()

    def advance(self, state: Hashable, token: int) -> tuple[int, ...]:
        assert isinstance(state, tuple)
        if not self._keep:
            return ()
        return (*state, token)[-self._keep :]

    def banned(self, state: Hashable) -> frozenset[int]:
        assert isinstance(state, tuple)
        found = self._memo.get(state)
        if found is None:
            ids: set[int] = set()
            for n in self._lengths:
                if n <= len(state):
                    ids |= self._after.get(state[len(state) - n :], set())
            found = self._memo[state] = frozenset(ids)
        return found
