"""Cutting one message from its start so it fits, landing on a Japanese sentence end when one is near."""

from __future__ import annotations

from collections.abc import Callable

SENTENCE_ENDS = frozenset("。！？」\n!?．")
# How far past the tightest cut we may move to start on a sentence: a quarter of what is kept, at most 200 chars.
REACH_FRACTION = 0.25
REACH_MAX = 200


def tightest_cut(content: str, fits: Callable[[str], bool]) -> int | None:
    """The smallest k such that fits(content[k:]); None when not even the empty tail fits.

    Token counts only shrink (almost always) as text is cut from the start, so a binary search finds it;
    the caller re-checks the final piece, and we step forward past any non-monotone spot.
    """
    if not fits(""):
        return None
    if fits(content):
        return 0
    lo, hi = 0, len(content)  # fits(content[hi:]) is True, fits(content[lo:]) is False
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(content[mid:]):
            hi = mid
        else:
            lo = mid
    return hi


def snap_to_sentence(content: str, cut: int) -> int:
    """Move a cut forward to just after the next sentence end, if one is within reach; else keep it."""
    if cut <= 0 or cut >= len(content) or content[cut - 1] in SENTENCE_ENDS:
        return cut
    reach = min(REACH_MAX, int((len(content) - cut) * REACH_FRACTION))
    for pos in range(cut, min(len(content), cut + reach)):
        if content[pos] in SENTENCE_ENDS:
            after = pos + 1
            # Keep closing quotes and repeated marks with the sentence they end (「…。」, ？！).
            while after < len(content) and content[after] in SENTENCE_ENDS and content[after] != "\n":
                after += 1
            return after if after < len(content) else cut
    return cut


def cut_to_fit(content: str, fits: Callable[[str], bool]) -> int | None:
    """How many characters to cut from the start of content so the rest fits; None if nothing fits."""
    cut = tightest_cut(content, fits)
    if cut is None or cut == 0:
        return cut
    snapped = snap_to_sentence(content, cut)
    if snapped != cut and fits(content[snapped:]):
        return snapped
    while cut < len(content) and not fits(content[cut:]):
        cut += 1
    return cut
