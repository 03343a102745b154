"""The story side of a plan: its chunks, the lore scan window, where it is cut to fit, where the 脚注 goes.

All positions are characters of the story as the model sees it (tokenizer.normalize; for sentencepiece the
same length as the text). The cut never re-encodes when the tokenizer's pieces line up with the text: the kept
ids are a suffix of the first kept chunk's ids.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

from tui.novel.chunks import Chunk, ChunkCache, split_chunks
from tui.novel.normalize import is_sentence_start

# How far past the tightest cut we may move to start on a sentence: a quarter of what is kept, at most 200 chars
# (the chat planner's rule for the message being sent).
REACH_FRACTION = 0.25
REACH_MAX = 200


@dataclass(frozen=True)
class Kept:
    """What of the story goes into the prompt."""

    start: int
    """First kept character (0: nothing cut)."""
    ids: tuple[int, ...]
    text: str
    at_sentence: bool
    """The cut (if any) lands just after a sentence end or a newline."""


def _first_difference(a: str, b: str) -> int:
    """Length of the common prefix of a and b: a bisection where each step compares (and copies) only the half
    still in doubt, so a 100,000-character story costs about one copy of it."""
    lo, hi = 0, min(len(a), len(b))
    if a.startswith(b[:hi]):
        return hi
    while hi - lo > 1:  # a[:lo] == b[:lo] and a[:hi] != b[:hi]
        mid = (lo + hi) // 2
        if a.startswith(b[lo:mid], lo):
            lo = mid
        else:
            hi = mid
    return lo


class StoryText:
    text: str

    def __init__(self, text: str, cache: ChunkCache, previous: StoryText | None = None) -> None:
        """Chunks of `text`; with `previous` (the text before an edit) the chunks before the edited line are
        reused, so a keystroke near the end costs one line, not the whole story."""
        self.cache = cache
        self.source = text
        keep = 0
        if previous is not None and previous.cache is cache:
            same = _first_difference(previous.source, text)
            line_start = text.rfind("\n", 0, same) + 1
            keep = bisect_right(previous.raw_starts, line_start) - 1
        self.chunks: list[Chunk] = []
        self.raw_starts: list[int] = [0]
        """Where each chunk starts in `source` (the text as written), plus its length at the end."""
        self.char_starts: list[int] = [0]
        """Where each chunk starts in `text` (as the model sees it), plus its length at the end."""
        self.token_starts: list[int] = [0]
        head = ""
        if keep > 0 and previous is not None:
            self.chunks = previous.chunks[:keep]
            self.raw_starts = previous.raw_starts[: keep + 1]
            self.char_starts = previous.char_starts[: keep + 1]
            self.token_starts = previous.token_starts[: keep + 1]
            head = previous.text[: self.char_starts[-1]]
        pieces = split_chunks(text[self.raw_starts[-1] :])
        fresh = [cache.get(piece) for piece in pieces]
        self.chunks.extend(fresh)
        for starts, sizes in (
            (self.raw_starts, [len(p) for p in pieces]),
            (self.char_starts, [len(c.text) for c in fresh]),
            (self.token_starts, [len(c.ids) for c in fresh]),
        ):
            starts.extend(accumulate(sizes, initial=starts[-1]))
            del starts[len(starts) - len(sizes) - 1]  # `initial` repeats the last start
        self.text: str = head + "".join(c.text for c in fresh)
        """The story as the model sees it: all positions below are characters of this."""
        self.tokens = self.token_starts[-1]

    def chunk_at(self, char: int) -> int:
        return min(bisect_right(self.char_starts, char) - 1, len(self.chunks) - 1)

    # -- the lore scan window ---------------------------------------------------------------------------------

    def scan_start(self, scan_tokens: int) -> int:
        """The first character of the last `scan_tokens` tokens (a character a token starts in the middle of
        is left out rather than half counted)."""
        if scan_tokens <= 0:
            return len(self.text)
        if scan_tokens >= self.tokens:
            return 0
        first = self.tokens - scan_tokens
        k = bisect_right(self.token_starts, first) - 1
        chunk = self.chunks[k]
        layout = self.cache.layout(chunk)
        if not layout.aligned:
            return self.char_starts[k + 1]
        for j in range(first - self.token_starts[k], len(chunk.ids)):
            char = layout.token_start_char(j)
            if char is not None:
                return self.char_starts[k] + char
        return self.char_starts[k + 1]

    def token_index(self, char: int) -> int:
        """Index in the story's ids of the token holding character `char` (for "at story token N")."""
        k = self.chunk_at(char)
        layout = self.cache.layout(self.chunks[k])
        inner = layout.token_at_char(char - self.char_starts[k]) if layout.aligned else 0
        return self.token_starts[k] + inner

    # -- fitting the budget -----------------------------------------------------------------------------------

    def keep(self, avail: int) -> Kept:
        """The longest tail of the story in `avail` tokens, started at a sentence end when one is within reach."""
        if self.tokens <= avail:
            return Kept(0, tuple(i for c in self.chunks for i in c.ids), self.text, True)
        if avail <= 0:
            return Kept(len(self.text), (), "", True)
        # Whole chunks from the end, then part of the one that does not fit.
        k = len(self.chunks)
        used = 0
        while k > 0 and used + len(self.chunks[k - 1].ids) <= avail:
            k -= 1
            used += len(self.chunks[k].ids)
        partial = self._cut_inside(k - 1, avail - used)
        if partial is None:
            start = self.char_starts[k]
            return Kept(start, self._ids_from(k), self.text[start:], self._sentence_start(start))
        return partial

    def _ids_from(self, k: int) -> tuple[int, ...]:
        return tuple(i for c in self.chunks[k:] for i in c.ids)

    def _sentence_start(self, at: int) -> bool:
        return at == 0 or is_sentence_start(self.text, at)

    def _cut_inside(self, k: int, room: int) -> Kept | None:
        """Keep the end of chunk k in `room` tokens (plus all later chunks); None: keep none of it."""
        chunk = self.chunks[k]
        layout = self.cache.layout(chunk)
        if room <= 0:
            return None
        base = self.char_starts[k]
        if not layout.aligned:
            return self._cut_by_encoding(k, room)
        tightest = None
        for j in range(len(chunk.ids) - room, len(chunk.ids)):
            char = layout.token_start_char(j)
            if char is not None:
                tightest = (j, char)
                break
        if tightest is None:
            return None
        j, char = tightest
        reach = min(REACH_MAX, int((len(self.text) - base - char) * REACH_FRACTION))
        for pos in range(char, min(len(chunk.text), char + reach) + 1):
            if not self._sentence_start(base + pos):
                continue
            if pos == len(chunk.text):
                return None  # the chunk's own end is the nearest sentence start: drop all of it
            token = layout.token_at_char(pos)
            if layout.token_start_char(token) == pos:
                return self._partial(k, token, pos, at_sentence=True)
        return self._partial(k, j, char, at_sentence=self._sentence_start(base + char))

    def _partial(self, k: int, token: int, char: int, *, at_sentence: bool) -> Kept:
        chunk = self.chunks[k]
        start = self.char_starts[k] + char
        return Kept(start, chunk.ids[token:] + self._ids_from(k + 1), self.text[start:], at_sentence)

    def _cut_by_encoding(self, k: int, room: int) -> Kept | None:
        """A tokenizer whose pieces we cannot line up with the text: find the cut by encoding suffixes."""
        chunk = self.chunks[k]
        encode = self.cache.tokenizer.encode
        if len(encode(chunk.text)) <= room:
            return None
        lo, hi = 0, len(chunk.text)  # the suffix from hi fits (it is empty), from lo does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if len(encode(chunk.text[mid:])) <= room:
                hi = mid
            else:
                lo = mid
        if hi >= len(chunk.text):
            return None
        start = self.char_starts[k] + hi
        ids = tuple(encode(chunk.text[hi:])) + self._ids_from(k + 1)
        return Kept(start, ids, self.text[start:], self._sentence_start(start))

    # -- the 脚注 -----------------------------------------------------------------------------------------------

    def note_position(self, depth: int, kept_start: int) -> int:
        """Just after the depth-th newline from the end (0: at the end); never before the kept text."""
        at = len(self.text)
        for _ in range(depth):
            at = self.text.rfind("\n", 0, at)
            if at < 0:
                return kept_start
        position = at + 1 if depth else len(self.text)
        return max(position, kept_start)

    def split_kept(self, kept: Kept, at: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The kept ids before and after character `at` (a chunk boundary, the kept start, or the end)."""
        if at <= kept.start:
            return (), kept.ids
        if at >= len(self.text):
            return kept.ids, ()
        k = bisect_right(self.char_starts, at) - 1
        assert self.char_starts[k] == at, "the 脚注 goes at a line start"
        tail = self._ids_from(k)
        return kept.ids[: len(kept.ids) - len(tail)], tail
