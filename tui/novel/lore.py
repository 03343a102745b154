"""Lore keys compiled once, and which entries a text fires.

A key matches anywhere in the folded text (tui.novel.normalize): no word boundaries, as Japanese has none. Of
an entry's keys the one matching closest to the end is reported, since that is the one that keeps the entry in
range longest. Compiled keys are cached per (entries, fold_kana); a keystroke only searches.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tui.novel.normalize import compile_key, fold
from tui.novel.story import LoreEntry

SEPARATOR = "\x00"
"""Joins several texts into one searchable string; no key can match across it (keys cannot contain it)."""


@dataclass(frozen=True)
class CompiledEntry:
    index: int
    entry: LoreEntry
    keys: tuple[tuple[str, re.Pattern[str] | str], ...]
    """(the key as written, what is searched for)."""
    folded_content: str


@dataclass(frozen=True)
class Match:
    key: str
    offset: int
    """Where the match starts in the searched (folded) text."""


@functools.lru_cache(maxsize=16)
def compile_lore(lore: tuple[LoreEntry, ...], fold_kana: bool) -> tuple[CompiledEntry, ...]:
    """Raises re.error for a bad regex (the story file's reader reports those first, with the entry's number)."""
    compiled = []
    for index, entry in enumerate(lore):
        keys = tuple(
            (key, compile_key(key, regex=entry.regex, fold_kana=fold_kana))
            for key in entry.keys
            if SEPARATOR not in key
        )
        compiled.append(CompiledEntry(index, entry, keys, fold(entry.content, kana=fold_kana)))
    return tuple(compiled)


def last_match(matcher: re.Pattern[str] | str, text: str) -> int | None:
    """Where the last match starts (the one closest to the end), or None; never across SEPARATOR."""
    if isinstance(matcher, str):
        at = text.rfind(matcher)
        return at if at >= 0 and matcher else None
    found = None
    for match in matcher.finditer(text):
        # An empty match ("a*") is no evidence of the key; one spanning two joined texts is not in either.
        if match.end() > match.start() and SEPARATOR not in match.group():
            found = match.start()
    return found


def scan(entries: Iterable[CompiledEntry], text: str) -> dict[int, Match]:
    """The entries with a key in `text` (already folded), each with its match closest to the end."""
    found: dict[int, Match] = {}
    if not text:
        return found
    for compiled in entries:
        best: Match | None = None
        for key, matcher in compiled.keys:
            at = last_match(matcher, text)
            if at is not None and (best is None or at > best.offset):
                best = Match(key, at)
        if best is not None:
            found[compiled.index] = best
    return found


class Joined:
    """Several texts joined by SEPARATOR, with the way back from an offset to the text it fell in."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.text = SEPARATOR.join(texts)
        self.starts: list[int] = []
        at = 0
        for text in texts:
            self.starts.append(at)
            at += len(text) + 1

    def which(self, offset: int) -> int:
        return bisect_right(self.starts, offset) - 1


def entries_fired_by(lore: tuple[LoreEntry, ...], text: str, *, fold_kana: bool) -> list[tuple[int, Match]]:
    """Which entries a key in `text` fires, matched exactly as the planner matches the story (the lorebook test
    field): (entry index, its match), in lorebook order. Disabled entries are included; the caller says so."""
    found = scan(compile_lore(lore, fold_kana), fold(text, kana=fold_kana))
    return sorted(found.items())
