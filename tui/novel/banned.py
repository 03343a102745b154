"""禁止ワード as banned token sequences: every sequence of ids whose text would contain a banned word.

A word has many spellings in ids: "魔法" is one token, or 魔 + 法, or a token ending in 魔 followed by one
starting with 法, or byte pieces, … ("アリス" has 23,537 such sequences with nerdstash v1, "hello" millions), so
listing them (transformers' bad_words_ids) is hopeless. This rule describes the same set with an automaton over
the bytes of the text (Aho–Corasick): its state is how much of some word the text so far ends with, and in a
state the banned ids are those whose bytes would complete a word. Each state's set is computed once, from the
vocabulary sorted by bytes (a word's remainder selects a contiguous run), so a step costs a dictionary lookup.
The prompt's last bytes start the automaton: a word cannot be completed across the story/continuation boundary.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Hashable, Iterable, Sequence

from tui.novel.chunks import token_bytes
from tui.tokenizers import Tokenizer


class _Automaton:
    """Aho–Corasick over bytes: goto, failure links, and for each state the words it is a proper prefix of."""

    def __init__(self, words: Iterable[bytes]) -> None:
        self.goto: list[dict[int, int]] = [{}]
        self.depth = [0]
        self.fail = [0]
        self.complete = [False]
        self.prefix_of: list[list[bytes]] = [[]]
        for word in words:
            state = 0
            for byte in word:
                nxt = self.goto[state].get(byte)
                if nxt is None:
                    nxt = len(self.goto)
                    self.goto[state][byte] = nxt
                    self.goto.append({})
                    self.depth.append(self.depth[state] + 1)
                    self.fail.append(0)
                    self.complete.append(False)
                    self.prefix_of.append([])
                self.prefix_of[state].append(word)
                state = nxt
            self.complete[state] = True
        queue = deque(self.goto[0].values())
        while queue:
            state = queue.popleft()
            for byte, nxt in self.goto[state].items():
                queue.append(nxt)
                f = self.fail[state]
                while f and byte not in self.goto[f]:
                    f = self.fail[f]
                self.fail[nxt] = self.goto[f].get(byte, 0)
                self.complete[nxt] = self.complete[nxt] or self.complete[self.fail[nxt]]

    def step(self, state: int, byte: int) -> int:
        while state and byte not in self.goto[state]:
            state = self.fail[state]
        return self.goto[state].get(byte, 0)

    def chain(self, state: int) -> Iterable[int]:
        """The state and its failure links: every suffix of the text that is a prefix of some word."""
        while state:
            yield state
            state = self.fail[state]


class WordBans:
    """tui.engine.bans.BannedSequences for words: no continuation can spell any of them, in any tokenization."""

    def __init__(self, tokenizer: Tokenizer, words: Sequence[str]) -> None:
        self.words = tuple(dict.fromkeys(w for w in words if w))
        encoded = [w.encode("utf-8") for w in self.words]
        self._automaton = _Automaton(encoded)
        table = token_bytes(tokenizer)
        self._bytes = table.table()
        self._sorted_ids, self._sorted_bytes = table.sorted_table()
        self._containing = frozenset(
            i for i, b in enumerate(self._bytes) if b and any(w in b for w in encoded)
        )
        self._keep = max((len(w) for w in encoded), default=0)
        self._banned: dict[int, frozenset[int]] = {0: self._containing}

    def _starting_with(self, prefix: bytes) -> list[int]:
        lo = bisect_left(self._sorted_bytes, prefix)
        hi = lo
        while hi < len(self._sorted_bytes) and self._sorted_bytes[hi].startswith(prefix):
            hi += 1
        return self._sorted_ids[lo:hi]

    def start(self, context: Sequence[int]) -> int:
        """The state after the prompt: only its last (longest word - 1) bytes can begin a match."""
        need = self._keep - 1
        tail: list[bytes] = []
        have = 0
        for token in reversed(context):
            if have >= need:
                break
            tail.append(self._bytes[token])
            have += len(tail[-1])
        state = 0
        for byte in b"".join(reversed(tail))[-need:] if need > 0 else b"":
            state = self._automaton.step(state, byte)
        return state

    def advance(self, state: Hashable, token: int) -> int:
        assert isinstance(state, int)
        for byte in self._bytes[token]:
            state = self._automaton.step(state, byte)
        return state

    def banned(self, state: Hashable) -> frozenset[int]:
        assert isinstance(state, int)
        found = self._banned.get(state)
        if found is None:
            ids = set(self._containing)
            automaton = self._automaton
            for s in automaton.chain(state):
                for word in automaton.prefix_of[s]:
                    ids.update(self._starting_with(word[automaton.depth[s] :]))
            found = self._banned[state] = frozenset(ids)
        return found

    def contains_banned(self, text: str) -> str | None:
        """The first banned word in `text`, if any (for tests and for checking a story's own text)."""
        return next((w for w in self.words if w in text), None)
