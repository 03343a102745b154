"""The conversation the TUI shows: an ordered list of turns, with who wrote each reply and how it ended.

Plain data, no Textual: the app mutates it on the UI thread only and hands immutable snapshots to workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tui.choices import Mode
from tui.context.model import Role


@dataclass
class Turn:
    role: Role
    content: str
    mode: Mode | None = None
    """Which model wrote an assistant turn (the label in the chat pane)."""
    partial: bool = False
    """True while streaming, and for a reply that was stopped, failed or restored unfinished."""
    reason: str | None = None
    """How the reply ended: eos, stop, length, cancelled, error (from the engine's Finished event)."""
    pinned: bool = False
    local_id: int | None = None
    """The recorder's id for this message, so later updates reach the same row."""
    meta: dict[str, Any] = field(default_factory=dict)
    ids: tuple[int, ...] | None = None
    """Exact prefix reuse: the token ids `content` was sampled as (None: unknown); the planner keeps them."""

    def sampled_ids(self, prefix: str, new_ids: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """The ids of this reply once `new_ids` were sampled after `prefix` (a continued reply keeps its old ids)."""
        if new_ids is None:
            return None
        if not prefix:
            return new_ids
        return None if self.ids is None else self.ids + new_ids


@dataclass(frozen=True)
class TurnSnapshot:
    """What a worker thread may read: a frozen copy, so the UI can keep editing the live list."""

    role: Role
    content: str
    pinned: bool = False
    ids: tuple[int, ...] | None = None


class Conversation:
    def __init__(self, turns: list[Turn] | None = None) -> None:
        self.turns: list[Turn] = list(turns or [])

    def add(self, turn: Turn) -> int:
        self.turns.append(turn)
        return len(self.turns) - 1

    def snapshot(self, *, until: int | None = None) -> tuple[TurnSnapshot, ...]:
        """Frozen copies of the turns (all, or those before index `until`)."""
        chosen = self.turns if until is None else self.turns[:until]
        return tuple(TurnSnapshot(t.role, t.content, t.pinned, t.ids) for t in chosen)

    def last_index(self, role: Role) -> int | None:
        for index in range(len(self.turns) - 1, -1, -1):
            if self.turns[index].role == role:
                return index
        return None

    def last_reply(self) -> Turn | None:
        index = self.last_index("assistant")
        return None if index is None else self.turns[index]

    def truncate(self, length: int) -> list[Turn]:
        """Drop the turns from `length` on; returns them (the caller deletes them from the store)."""
        removed = self.turns[length:]
        del self.turns[length:]
        return removed
