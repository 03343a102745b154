"""A thread-safe text buffer between the generation thread and the UI timer that drains it.

The worker appends every chunk (cheap, never blocks on the UI); a 15 Hz timer on the UI thread takes
everything at once, so the screen is updated at most 15 times a second however fast tokens come. The handler
for the end of a stream drains it one last time, so the tail is never lost.
"""

from __future__ import annotations

import threading


class ChunkBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str] = []
        self._chunks = 0

    def append(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            self._parts.append(text)
            self._chunks += 1

    def drain(self) -> str:
        with self._lock:
            if not self._parts:
                return ""
            text = "".join(self._parts)
            self._parts.clear()
            return text

    @property
    def chunks(self) -> int:
        """Chunks appended since creation (a test checks that updates were coalesced)."""
        with self._lock:
            return self._chunks
