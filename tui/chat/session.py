"""The conversation being chatted in, where it is saved, and the reply being written.

This is the chat screen's bookkeeping without widgets: which turn the streaming text belongs to, how a reply
ended, what is saved when. The screen calls it on the UI thread and draws what it says; the generation thread
only appends to `buffer` and watches `cancel`. Keeping it here lets tests (and other screens) drive a whole
reply lifecycle without a terminal.
"""

from __future__ import annotations

import threading
from typing import Any

from tui.chat.autosave import Autosave
from tui.chat.coalesce import ChunkBuffer
from tui.chat.conversation import Conversation, Turn, TurnSnapshot
from tui.choices import Mode

STOPPED_REASONS = ("cancelled", "error")
"""A reply that ended this way is unfinished: kept, labelled and saved as partial."""


class ChatSession:
    def __init__(self, conversation: Conversation | None = None, autosave: Autosave | None = None) -> None:
        self.conversation = conversation or Conversation()
        self.autosave = autosave or Autosave()
        self.reply: Turn | None = None
        """The assistant turn being written, None between replies."""
        self.buffer = ChunkBuffer()
        self.cancel = threading.Event()
        self._prefix = ""
        """The reply's text before this run: a continued reply keeps what it had."""
        self._before: tuple[bool, str | None] = (True, None)
        """A continued reply's partial flag and end reason, restored if the continuation is refused."""

    @property
    def save_error(self) -> str:
        return self.autosave.error

    def add_user(self, text: str) -> Turn:
        turn = Turn("user", text)
        self.autosave.new_turn(turn)
        self.conversation.add(turn)
        return turn

    def start_reply(self, mode: Mode, *, continuing: bool = False) -> tuple[Turn, tuple[TurnSnapshot, ...]]:
        """Open the reply (a new turn, or the last one when continuing) and the turns the worker should plan:
        those before a new reply, or all of them with the reply being continued last.

        Each reply gets a fresh buffer and cancel event, so a late chunk of an earlier reply lands nowhere.
        """
        snapshot = self.conversation.snapshot()
        if continuing:
            turn = self.conversation.turns[-1]
            self._before = (turn.partial, turn.reason)
            turn.partial, turn.reason = True, None
        else:
            turn = Turn("assistant", "", mode=mode, partial=True)
            self.conversation.add(turn)
            self.autosave.new_turn(turn)
        self.reply = turn
        self._prefix = turn.content
        self.buffer = ChunkBuffer()
        self.cancel = threading.Event()
        return turn, snapshot

    def take_text(self) -> str:
        """Move what the generation thread buffered into the reply; returns the new text ("" when none)."""
        if self.reply is None:
            return ""
        text = self.buffer.drain()
        if text:
            self.reply.content += text
            self.autosave.progress(self.reply)
        return text

    def finish_reply(
        self,
        reason: str,
        stats: Any = None,
        error: str | None = None,
        text: str | None = None,
        token_ids: tuple[int, ...] | None = None,
    ) -> Turn | None:
        """The stream ended: settle the reply's text, how it ended, its figures; save it. Call take_text first."""
        turn, self.reply = self.reply, None
        if turn is None:
            return None
        if text is not None and self._prefix + text != turn.content:
            turn.content = self._prefix + text  # the engine's full text is authoritative
        turn.ids = turn.sampled_ids(self._prefix, token_ids)  # exact prefix reuse
        turn.reason = reason
        turn.partial = reason in STOPPED_REASONS
        meta: dict[str, Any] = {"mode": turn.mode, "reason": reason}
        if stats is not None:
            meta["stats"] = stats.as_dict() if hasattr(stats, "as_dict") else dict(vars(stats))
        if error:
            meta["error"] = error
        turn.meta.update(meta)
        self.autosave.finish(turn, meta)
        return turn

    def refuse_reply(self) -> Turn | None:
        """The plan could not be sent: forget the empty reply (a continued one keeps its text).

        Returns the turn that was removed, so the screen removes its view too; None when nothing was."""
        turn, self.reply = self.reply, None
        if turn is None:
            return None
        if turn.content:
            turn.partial, turn.reason = self._before
            return None
        if turn in self.conversation.turns:
            self.drop_from(self.conversation.turns.index(turn))
        return turn

    def drop_from(self, index: int) -> None:
        """Regenerate or edit: the turns from `index` on go, from the conversation and from the store."""
        self.autosave.delete(self.conversation.truncate(index))

    def save_now(self) -> None:
        """Save everything, a streaming reply as a partial: on quit, on SIGHUP/SIGTERM, before switching."""
        if self.reply is not None:
            self.reply.content += self.buffer.drain()
            self.autosave.partial_now(self.reply)
        self.autosave.flush()
