"""Exact prefix reuse: a reply's span of the prompt is made of the ids the model sampled, not its text re-encoded.

The model wrote its reply as ids. Its text, encoded again, now and then gives other ids (a byte-fallback
character, another split of the same characters), and from the first difference on the prompt no longer
matches the engine's KV cache, which then prefills the rest of the conversation again. So when a message
carries the ids it was sampled as (Message.ids), its piece of the prompt is

    encode(template text before the content) + the sampled ids + encode(template text after it)

The template's wrapping is rendered and encoded exactly as for any other message, and decode(piece ids) is
still the piece's text: that is checked, and on any mismatch (ids of another tokenizer, a template that
changes the content, an edited reply) the text is encoded as usual, so the prompt is never wrong, only
less reusable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tui.templates import PromptTemplate
from tui.tokenizers import Tokenizer

_SLOT = "\x00reply\x00"
"""Stands for the content when rendering the template's wrapping alone (no real message contains a NUL pair)."""
_CACHE_LIMIT = 4096


def reply_ids(tokenizer: Tokenizer, content: str, ids: Sequence[int]) -> tuple[int, ...] | None:
    """The sampled ids that spell exactly `content`: all of them, or the longest prefix that decodes to it.

    A reply cut at a stop string, or stopped inside a character, keeps ids past its text; those are left out.
    None when no prefix decodes to the content.
    """
    wanted = tokenizer.normalize(content)
    text = tokenizer.decode(ids)
    if text == wanted:
        return tuple(ids)
    if not text.startswith(wanted):
        return None
    for end in range(len(ids) - 1, -1, -1):
        text = tokenizer.decode(ids[:end])
        if text == wanted:
            return tuple(ids[:end])
        if len(text) < len(wanted):
            return None
    return None


def exact_piece_ids(
    tokenizer: Tokenizer,
    encode: Callable[[str], Sequence[int]],
    template: PromptTemplate,
    role: str,
    content: str,
    ids: Sequence[int],
) -> tuple[int, ...] | None:
    """The ids of `template.message(role, content)` built around the sampled ids, or None when they do not fit."""
    kept = reply_ids(tokenizer, content, ids)
    if kept is None:
        return None
    text = template.message(role, content)
    before, found, after = template.message(role, _SLOT).partition(_SLOT)
    if not found or before + content + after != text:
        return (
            None  # the template transforms the content (strips it, say): the sampled ids are not in the text
        )
    piece = (*encode(before), *kept, *encode(after))
    if tokenizer.decode(piece) != tokenizer.normalize(text):
        return None
    return piece


class ExactIdCache:
    """exact_piece_ids per (template, role, content), remembered with the ids it was built from.

    The meter re-plans on every keystroke: a reply's piece is checked (a few decodes) once, then looked up.
    """

    def __init__(self, tokenizer: Tokenizer, encode: Callable[[str], Sequence[int]]) -> None:
        self.tokenizer = tokenizer
        self.encode = encode
        self._pieces: dict[tuple[str, str, str], tuple[tuple[int, ...], tuple[int, ...] | None]] = {}

    def piece(
        self, template: PromptTemplate, role: str, content: str, ids: tuple[int, ...]
    ) -> tuple[int, ...] | None:
        key = (template.identity, role, content)
        known = self._pieces.get(key)
        if known is not None and known[0] == ids:
            return known[1]
        piece = exact_piece_ids(self.tokenizer, self.encode, template, role, content, ids)
        if len(self._pieces) >= _CACHE_LIMIT:
            self._pieces.clear()
        self._pieces[key] = (ids, piece)
        return piece
