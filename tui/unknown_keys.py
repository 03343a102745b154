"""Unknown keys in a settings table are mistakes: the error names the file, the key and the closest known key.

A silently ignored typo (`window = 1024` for `context_window`) is worse than a refusal: the user believes a
setting took effect. Presets, the user's config.toml and a conversation's saved settings all go through here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from tui.errors import UserError

SUGGEST_AT = 0.6
"""How alike (difflib's ratio, 0..1) a known key must be to be offered as "did you mean"."""
_CONTAINED = 0.8
"""The score of a known key that contains the typed one, or is contained in it (`window` in `context_window`)."""
_MIN_CONTAINED = 3
_TAIL_WEIGHT = 0.9
"""A match with the last words of a key counts a little less than one with the whole key."""


def closest_key(key: str, known: Iterable[str]) -> str | None:
    """The known key most like `key`, or None when none is alike enough to suggest."""
    typed = key.lower().replace("-", "_")
    best: str | None = None
    best_score = 0.0
    for candidate in sorted(known):
        name = candidate.lower()
        score = difflib.SequenceMatcher(None, typed, name).ratio()
        shorter = min(typed, name, key=len)
        if len(shorter) >= _MIN_CONTAINED and (typed in name or name in typed):
            score = max(score, _CONTAINED)
        # People type the last words of a long key (`windw` for `context_window`): compare with those too.
        words = name.split("_")
        for start in range(1, len(words)):
            tail = "_".join(words[start:])
            if len(tail) >= _MIN_CONTAINED:
                score = max(score, _TAIL_WEIGHT * difflib.SequenceMatcher(None, typed, tail).ratio())
        if score > best_score:
            best, best_score = candidate, score
    return best if best_score >= SUGGEST_AT else None


def unknown_key_message(where: str, key: str, known: Iterable[str], prefix: str = "") -> str:
    """`WHERE: unknown key 'KEY' (did you mean 'KNOWN'?)`, or the list of known keys when none is close."""
    known = sorted(known)
    suggestion = closest_key(key, known)
    if suggestion is not None:
        hint = f"did you mean '{prefix}{suggestion}'?"
    else:
        hint = "known keys: " + ", ".join(known)
    return f"{where}: unknown key '{prefix}{key}' ({hint})"


def reject_unknown_keys(table: Mapping[str, Any], known: Iterable[str], where: str, prefix: str = "") -> None:
    """Raise UserError for the first key of `table` (in file order) that is not in `known`.

    `prefix` is the dotted path of a sub-table ("base.generation.") so the message names the key as written.
    """
    allowed = frozenset(known)
    for key in table:
        if key not in allowed:
            raise UserError(unknown_key_message(where, key, allowed, prefix))
