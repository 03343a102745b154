"""Incremental detokenization: token ids in, finished characters out, in O(window) per token.

Decoding the whole reply again for every token is O(n²) and, done naively, shows half characters. Here each
step decodes only a short window (prefix offset / read offset, as in vLLM and text-generation-inference):

    prefix_text = decode(ids[prefix:read])      # text already emitted, decoded with the same left context
    new_text    = decode(ids[prefix:])          # the same window plus the new tokens
    emit new_text[len(prefix_text):]            # unless it ends in U+FFFD (an incomplete UTF-8 sequence)

Decoding both strings from the same left edge makes sentencepiece's `▁` space marker and byte-fallback pieces
(`<0xE3>` `<0x81>` `<0x82>` -> "あ") come out exactly as in a one-shot decode of all ids: the concatenation of
everything `push` and `flush` return equals `tokenizer.decode(ids)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

REPLACEMENT = "\ufffd"


class Decoder(Protocol):
    """The part of tui.tokenizers.Tokenizer the detokenizer needs."""

    def decode(self, ids: Sequence[int]) -> str: ...


class IncrementalDetokenizer:
    def __init__(self, tokenizer: Decoder) -> None:
        self._tok = tokenizer
        self._ids: list[int] = []
        self._prefix = 0
        self._read = 0

    @property
    def ids(self) -> list[int]:
        return self._ids

    def push(self, token_id: int) -> str:
        """Add one id; return the text it completes ("" while a character is still incomplete)."""
        self._ids.append(token_id)
        return self._step(final=False)

    def flush(self) -> str:
        """The held-back tail at the end of a reply (an incomplete byte sequence decodes to U+FFFD here)."""
        return self._step(final=True)

    def _step(self, *, final: bool) -> str:
        if self._read == len(self._ids):
            return ""
        prefix_text = self._tok.decode(self._ids[self._prefix : self._read])
        new_text = self._tok.decode(self._ids[self._prefix :])
        if not final and (len(new_text) <= len(prefix_text) or new_text.endswith(REPLACEMENT)):
            # An incomplete multi-byte character (or a piece that adds no text yet): wait for more ids.
            return ""
        delta = new_text[len(prefix_text) :]
        self._prefix = self._read
        self._read = len(self._ids)
        return delta
