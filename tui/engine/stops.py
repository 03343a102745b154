"""Stop strings: cut the reply exactly before the first match, and never show a stop string's beginning.

Text arrives in chunks; a stop string may straddle two chunks. The matcher holds back the longest tail that is
a prefix of some stop string, so what it releases can never turn out to be part of a stop string later.
"""

from __future__ import annotations

from collections.abc import Iterable


class StopMatcher:
    def __init__(self, stop_strings: Iterable[str]) -> None:
        self._stops = tuple(s for s in stop_strings if s)
        self._held = ""
        self.stopped = False
        self.matched: str | None = None

    def push(self, text: str) -> str:
        """Feed new text; return what is safe to show. After a match, `stopped` is True and the rest is dropped."""
        if self.stopped:
            return ""
        if not self._stops:
            return text
        buf = self._held + text
        first: tuple[int, str] | None = None
        for stop in self._stops:
            at = buf.find(stop)
            if at >= 0 and (first is None or at < first[0]):
                first = (at, stop)
        if first is not None:
            self.stopped = True
            self.matched = first[1]
            self._held = ""
            return buf[: first[0]]
        keep = self._partial_tail(buf)
        self._held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        """At the end of the reply the held tail is real text after all."""
        held, self._held = self._held, ""
        return "" if self.stopped else held

    def _partial_tail(self, buf: str) -> int:
        """Length of the longest suffix of buf that is a proper prefix of a stop string."""
        longest = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(buf)), longest, -1):
                if buf.endswith(stop[:n]):
                    longest = n
                    break
        return longest
