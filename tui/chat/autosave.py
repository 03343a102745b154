"""The app's side of saving: turns go to the ConversationRecorder as they happen (or nowhere without a store)."""

from __future__ import annotations

from typing import Any

from tui.chat.conversation import Turn


class Autosave:
    def __init__(self, recorder: Any = None, unavailable: str = "") -> None:
        self.recorder = recorder
        """A tui.recorder.ConversationRecorder, or None when sessions are not saved."""
        self.unavailable = unavailable
        """Why there is no recorder (the session store could not be opened), shown until the app ends."""

    @property
    def error(self) -> str:
        if self.recorder is None:
            return self.unavailable
        return self.recorder.last_error or ""

    def new_turn(self, turn: Turn) -> None:
        if self.recorder is not None:
            turn.local_id = self.recorder.add(
                turn.role, turn.content, mode=turn.mode, partial=turn.partial, pinned=turn.pinned
            )

    def progress(self, turn: Turn) -> None:
        """The reply grew; the recorder writes a partial at its own interval (<= 1 s)."""
        if self.recorder is not None and turn.local_id is not None:
            self.recorder.progress(turn.local_id, turn.content)

    def partial_now(self, turn: Turn, meta: dict[str, Any] | None = None) -> None:
        """Write a partial reply now (stopped, failed, or the app is exiting), bypassing the throttle."""
        if self.recorder is None or turn.local_id is None:
            return
        self.recorder.save_partial(turn.local_id, turn.content, meta, turn.ids)

    def finish(self, turn: Turn, meta: dict[str, Any]) -> None:
        """The reply ended: a stopped or failed one stays partial, with how it ended."""
        if self.recorder is None or turn.local_id is None:
            return
        if turn.partial:
            self.partial_now(turn, meta)
        else:
            self.recorder.finish(turn.local_id, turn.content, meta, turn.ids)

    def delete(self, turns: list[Turn]) -> None:
        """Regenerate/edit replaced these turns: remove them from the saved conversation too."""
        if self.recorder is None:
            return
        for turn in turns:
            if turn.local_id is not None:
                self.recorder.delete(turn.local_id)

    def update_settings(self, settings: dict[str, Any]) -> None:
        if self.recorder is not None:
            self.recorder.update_settings(settings)

    def flush(self) -> None:
        if self.recorder is not None:
            self.recorder.flush()

    def fresh(self, settings: dict[str, Any]) -> Autosave:
        """A recorder for a new conversation in the same store."""
        if self.recorder is None:
            return Autosave(unavailable=self.unavailable)
        return Autosave(type(self.recorder)(self.recorder.store, settings=settings))
