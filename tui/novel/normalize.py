"""Folding text for lore keys (width, case, optionally kana) and where Japanese sentences end.

Keys and the text they are looked for in are folded the same way: NFKC (ｱﾘｽ -> アリス, ＡＢＣ -> ABC), case
folding, and with `kana` katakana -> hiragana (アリス -> ありす). Japanese has no word boundaries, so a key
matches anywhere. `fold_with_map` also says where each folded character came from, so a match can be reported
at its place in the story (NFKC changes lengths: ｶﾞ is two characters, ガ one).
"""

from __future__ import annotations

import functools
import re
import unicodedata

SENTENCE_ENDS = frozenset("。！？」』\n!?")
"""A cut of the story lands just after one of these when one is within reach."""
CLOSERS = frozenset("）)】〉》")
"""Brackets that stay with the sentence they close: "（そうだ。）" is cut after ）, not after 。."""

# Half-width voiced marks and combining marks join the character before them before NFKC (ｶﾞ -> ガ).
_JOINERS = frozenset("\uff9e\uff9f\u3099\u309a")
_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)} | {
    0x30FD: 0x309D,
    0x30FE: 0x309E,
}


def _fold_group(group: str, kana: bool) -> str:
    folded = unicodedata.normalize("NFKC", group).casefold()
    return folded.translate(_KATAKANA_TO_HIRAGANA) if kana else folded


def fold(text: str, *, kana: bool) -> str:
    return fold_with_map(text, kana=kana)[0]


def fold_with_map(text: str, *, kana: bool) -> tuple[str, list[int] | None]:
    """The folded text and, per folded character, the index of the character it came from (None: the same)."""
    if unicodedata.is_normalized("NFKC", text):
        folded = text.casefold()
        if len(folded) == len(text):
            return (folded.translate(_KATAKANA_TO_HIRAGANA) if kana else folded), None
    out: list[str] = []
    origin: list[int] = []
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and (text[j] in _JOINERS or unicodedata.combining(text[j])):
            j += 1
        piece = _fold_group(text[i:j], kana)
        out.append(piece)
        origin.extend([i] * len(piece))
        i = j
    return "".join(out), origin


@functools.lru_cache(maxsize=8192)
def compile_key(key: str, *, regex: bool, fold_kana: bool) -> re.Pattern[str] | str:
    """A plain key folded, or a regular expression compiled on the folded pattern (raises re.error)."""
    folded = fold(key, kana=fold_kana)
    return re.compile(folded) if regex else folded


def is_sentence_start(text: str, at: int) -> bool:
    """True when a sentence ends just before `at`: after 。！？」』 (with any closing brackets) or a newline.

    A run of ends stays whole: "。」" and "！？" are cut after their last character.
    """
    if not 0 < at <= len(text):
        return False
    if text[at - 1] == "\n":
        return True
    if at < len(text) and (text[at] in SENTENCE_ENDS or text[at] in CLOSERS):
        return False
    k = at - 1
    while k >= 0 and text[k] in CLOSERS:
        k -= 1
    return k >= 0 and text[k] in SENTENCE_ENDS


def sentence_start_after(text: str, at: int, reach: int) -> int | None:
    """The first sentence start in [at, at + reach], or None."""
    for pos in range(at, min(len(text), at + reach) + 1):
        if is_sentence_start(text, pos):
            return pos
    return None
