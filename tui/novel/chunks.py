"""The story as chunks with cached ids, so a keystroke re-encodes one line, not 100,000 characters.

A chunk is a line with its newline; a line longer than MAX_CHUNK_CHARS is split after sentence ends. Each chunk
is encoded on its own and the story's ids are the chunks' ids one after another. With nerdstash v1 no piece
holds a newline, so line chunks give the same ids as encoding the whole story; a split inside a very long line
may give one more token than a whole-line encoding would, and the ledger counts what is really sent.

A chunk's layout says where each of its tokens starts in its text, from the bytes each token decodes to. It lets
the planner cut a chunk at a token boundary (the ids of the rest are a suffix of the chunk's ids, no encoding)
and report a lore key's match as a token position.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from tui.novel.normalize import is_sentence_start
from tui.tokenizers import Tokenizer

MAX_CHUNK_CHARS = 1024
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_REPLACEMENT = "\ufffd"


class TokenBytes:
    """The bytes each token id decodes to (byte-fallback pieces are single bytes), cached per id."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tok = tokenizer
        self._bytes: dict[int, bytes] = {}
        self._lock = threading.Lock()
        self._table: list[bytes] | None = None
        self._sorted: tuple[list[int], list[bytes]] | None = None

    def __call__(self, token_id: int) -> bytes:
        found = self._bytes.get(token_id)
        if found is None:
            found = self._bytes[token_id] = self._compute(token_id)
        return found

    def _compute(self, token_id: int) -> bytes:
        piece = self._tok.id_to_piece(token_id)
        byte = _BYTE_PIECE.fullmatch(piece)
        if byte:
            return bytes([int(byte.group(1), 16)])
        text = self._tok.decode([token_id])
        if _REPLACEMENT in text and _REPLACEMENT not in piece:
            # A byte-level BPE piece that is part of a character: its own bytes are what it stands for.
            try:
                return bytes(_GPT2_BYTES[c] for c in piece)
            except KeyError:
                pass
        return text.encode("utf-8")

    def table(self) -> list[bytes]:
        """Every id's bytes (for the 禁止ワード automaton); built once, about 0.3 s for 65,535 ids."""
        with self._lock:
            if self._table is None:
                self._table = [self(i) for i in range(self._tok.vocab_size)]
            return self._table

    def sorted_table(self) -> tuple[list[int], list[bytes]]:
        """Ids sorted by their bytes, and those bytes: the ids starting with some bytes are one run."""
        table = self.table()
        with self._lock:
            if self._sorted is None:
                order = sorted(range(len(table)), key=table.__getitem__)
                self._sorted = (order, [table[i] for i in order])
            return self._sorted


def _gpt2_byte_map() -> dict[str, int]:
    """The printable stand-ins byte-level BPE uses for bytes (GPT-2's published table)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


_GPT2_BYTES = _gpt2_byte_map()
_TOKEN_BYTES: dict[str, TokenBytes] = {}
_TOKEN_BYTES_LOCK = threading.Lock()


def token_bytes(tokenizer: Tokenizer) -> TokenBytes:
    with _TOKEN_BYTES_LOCK:
        found = _TOKEN_BYTES.get(tokenizer.identity)
        if found is None:
            found = _TOKEN_BYTES[tokenizer.identity] = TokenBytes(tokenizer)
        return found


def split_chunks(text: str) -> list[str]:
    """Lines with their newlines; over-long lines split after sentence ends (hard split if a sentence is too)."""
    lines = text.split("\n")
    chunks: list[str] = []
    last = len(lines) - 1
    for i, line in enumerate(lines):
        piece = line if i == last else line + "\n"
        if not piece:
            continue
        if len(piece) <= MAX_CHUNK_CHARS:
            chunks.append(piece)
        else:
            chunks.extend(_split_long(piece))
    return chunks


def _split_long(line: str) -> list[str]:
    parts: list[str] = []
    start = 0
    last_end = 0
    for pos in range(1, len(line) + 1):
        if pos - start > MAX_CHUNK_CHARS:
            cut = last_end if last_end > start else pos - 1
            parts.append(line[start:cut])
            start = cut
        if is_sentence_start(line, pos):
            last_end = pos
    parts.append(line[start:])
    return [p for p in parts if p]


def _utf8_len(ch: str) -> int:
    code = ord(ch)
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


@dataclass
class Layout:
    aligned: bool
    """False when the tokens' bytes are not the chunk's bytes (a tokenizer we cannot see into): no token cuts."""
    token_bytes: list[int] = field(default_factory=list)
    """Byte offset where each token starts, plus the total at the end."""
    char_bytes: list[int] = field(default_factory=list)
    """Byte offset where each character starts, plus the total at the end."""

    def token_start_char(self, j: int) -> int | None:
        """The character where token j starts, or None when it starts inside a character (byte fallback)."""
        at = self.token_bytes[j]
        k = bisect_right(self.char_bytes, at) - 1
        return k if self.char_bytes[k] == at else None

    def token_at_char(self, c: int) -> int:
        """The token holding character c."""
        return bisect_right(self.token_bytes, self.char_bytes[c]) - 1


@dataclass
class Chunk:
    text: str
    """As the model sees it (tokenizer.normalize of the story's text)."""
    ids: tuple[int, ...]
    layout: Layout | None = None


class ChunkCache:
    """Chunk text -> its ids and layout, least recently used evicted; one per planner (not thread-safe)."""

    def __init__(self, tokenizer: Tokenizer, max_entries: int = 65536) -> None:
        self.tokenizer = tokenizer
        self.bytes_of = token_bytes(tokenizer)
        self.max_entries = max_entries
        self._chunks: OrderedDict[str, Chunk] = OrderedDict()
        self.misses = 0

    def get(self, text: str) -> Chunk:
        found = self._chunks.get(text)
        if found is not None:
            self._chunks.move_to_end(text)
            return found
        self.misses += 1
        normalized = self.tokenizer.normalize(text)
        chunk = Chunk(normalized, tuple(self.tokenizer.encode(normalized)))
        self._chunks[text] = chunk
        if len(self._chunks) > self.max_entries:
            self._chunks.popitem(last=False)
        return chunk

    def encode(self, text: str) -> tuple[int, ...]:
        return self.get(text).ids

    def layout(self, chunk: Chunk) -> Layout:
        if chunk.layout is None:
            chunk.layout = _layout(chunk.text, chunk.ids, self.bytes_of)
        return chunk.layout


def _layout(text: str, ids: Sequence[int], bytes_of: TokenBytes) -> Layout:
    pieces = [bytes_of(i) for i in ids]
    data = text.encode("utf-8")
    if b"".join(pieces) != data:
        return Layout(aligned=False)
    return Layout(
        aligned=True,
        token_bytes=[0, *accumulate(len(p) for p in pieces)],
        char_bytes=[0, *accumulate(_utf8_len(c) for c in text)],
    )
