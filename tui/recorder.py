"""Records a conversation into the session store as it happens, and never loses it when the store fails.

The app (and any other front end) calls these methods in order; each completed message is one transaction, a
streaming reply is written as a partial at most every `partial_interval_s` (and at least that often while text
arrives). When a write fails (full disk, read-only folder) the message stays queued in memory and the next call
retries it, oldest first, so the database never gets messages out of order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tui.store import SessionStore, StoreError


@dataclass
class _Pending:
    """A write that has not reached the database yet."""

    kind: str  # "add", "update" or "delete"
    local_id: int
    role: str = ""
    content: str = ""
    mode: str | None = None
    partial: bool = False
    pinned: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    token_ids: tuple[int, ...] | None = None


class ConversationRecorder:
    def __init__(
        self,
        store: SessionStore,
        conversation_id: int | None = None,
        *,
        settings: dict[str, Any] | None = None,
        partial_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.settings = settings or {}
        self.partial_interval_s = partial_interval_s
        self._clock = clock
        self._conversation_id = conversation_id
        self._pending: list[_Pending] = []
        self._db_ids: dict[int, int] = {}
        self._deleted: dict[int, int] = {}
        self._next_local = 0
        self._last_partial_write = float("-inf")
        self.last_error: str | None = None
        """The latest failure message, None once everything is saved again."""

    @property
    def conversation_id(self) -> int | None:
        return self._conversation_id

    @property
    def unsaved(self) -> int:
        return len(self._pending)

    def adopt(self, local_id: int, message_id: int) -> None:
        """Map an already stored message (a resumed conversation) so later updates reach it."""
        self._db_ids[local_id] = message_id
        self._next_local = max(self._next_local, local_id + 1)

    def add(
        self,
        role: str,
        content: str,
        *,
        mode: str | None = None,
        partial: bool = False,
        pinned: bool = False,
        meta: dict[str, Any] | None = None,
        token_ids: tuple[int, ...] | None = None,
    ) -> int:
        """Queue a new message and try to save; returns a local id for later updates."""
        local_id = self._next_local
        self._next_local += 1
        self._pending.append(
            _Pending("add", local_id, role, content, mode, partial, pinned, dict(meta or {}), token_ids)
        )
        if partial:
            self._last_partial_write = self._clock()
        self.flush()
        return local_id

    def progress(self, local_id: int, content: str) -> None:
        """A streaming reply grew: saved as a partial if the last partial write is old enough."""
        now = self._clock()
        if now - self._last_partial_write < self.partial_interval_s:
            return
        self._last_partial_write = now
        self._queue_update(local_id, content, partial=True, meta=None)

    def save_partial(
        self,
        local_id: int,
        content: str,
        meta: dict[str, Any] | None = None,
        token_ids: tuple[int, ...] | None = None,
    ) -> None:
        """Write the reply so far now, whatever the interval (the user stopped it, or the app is exiting);
        `meta` says how it ended (a stopped or failed reply), so a resumed chat labels it the same way."""
        self._last_partial_write = self._clock()
        self._queue_update(local_id, content, partial=True, meta=meta, token_ids=token_ids)

    def delete(self, local_id: int) -> None:
        """Remove a message (regenerate and edit replace later turns); unsaved writes for it are dropped."""
        self._pending = [p for p in self._pending if p.local_id != local_id]
        message_id = self._db_ids.pop(local_id, None)
        if message_id is not None:
            self._pending.append(_Pending("delete", local_id))
            self._deleted[local_id] = message_id
        self.flush()

    def finish(
        self,
        local_id: int,
        content: str,
        meta: dict[str, Any] | None = None,
        token_ids: tuple[int, ...] | None = None,
    ) -> None:
        """The reply is complete: saved as a whole message, with the ids it was sampled as, in one transaction."""
        self._queue_update(local_id, content, partial=False, meta=meta, token_ids=token_ids)

    def update_settings(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        if self._conversation_id is not None:
            try:
                self.store.update_settings(self._conversation_id, settings)
            except StoreError as exc:
                self.last_error = str(exc)

    def _queue_update(
        self,
        local_id: int,
        content: str,
        *,
        partial: bool,
        meta: dict[str, Any] | None,
        token_ids: tuple[int, ...] | None = None,
    ) -> None:
        # A newer state of the same message replaces an unsaved older one: only the latest text matters.
        self._pending = [p for p in self._pending if not (p.kind == "update" and p.local_id == local_id)]
        for p in self._pending:
            if p.kind == "add" and p.local_id == local_id:
                p.content, p.partial, p.token_ids = content, partial, token_ids
                if meta is not None:
                    p.meta = dict(meta)
                break
        else:
            self._pending.append(
                _Pending(
                    "update", local_id, content=content, partial=partial, meta=meta or {}, token_ids=token_ids
                )
            )
        self.flush()

    def flush(self) -> bool:
        """Write what is queued, oldest first; True when nothing is left unsaved."""
        try:
            if self._conversation_id is None:
                self._conversation_id = self.store.create_conversation(settings=self.settings)
            while self._pending:
                item = self._pending[0]
                if item.kind == "add":
                    self._db_ids[item.local_id] = self.store.add_message(
                        self._conversation_id,
                        item.role,
                        item.content,
                        mode=item.mode,
                        partial=item.partial,
                        pinned=item.pinned,
                        meta=item.meta,
                        token_ids=item.token_ids,
                    )
                elif item.kind == "delete":
                    self.store.delete_message(self._deleted.pop(item.local_id))
                else:
                    self.store.update_message(
                        self._db_ids[item.local_id],
                        item.content,
                        partial=item.partial,
                        meta=item.meta or None,
                        token_ids=item.token_ids,
                    )
                self._pending.pop(0)
        except StoreError as exc:
            self.last_error = str(exc)
            return False
        self.last_error = None
        return True
