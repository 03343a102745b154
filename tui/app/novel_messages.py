"""Typed messages the novel screen's workers post to it (thread-safe) instead of touching widgets."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class BaseModelProgress(Message, bubble=False):
    """Loading the base model: a LoadProgress event."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        # A burst of progress events only needs the latest one drawn.
        return isinstance(message, BaseModelProgress)


class BaseModelReady(Message, bubble=False):
    """The base model is active: `backend` runs the continuation; `error` says why it could not load."""

    def __init__(self, backend: Any, *, retry: bool, error: str | None = None) -> None:
        super().__init__()
        self.backend = backend
        self.retry = retry
        self.error = error


class ContinuationFinished(Message, bubble=False):
    """The stream ended (any reason): a tui.engine.events.Finished. The screen drains the buffer first."""

    def __init__(self, finished: Any) -> None:
        super().__init__()
        self.finished = finished


class ReuseFigures(Message, bubble=False):
    """Prompt tokens the next continuation would take from the KV cache, for the plan numbered `serial`."""

    def __init__(self, reused: int, serial: int) -> None:
        super().__init__()
        self.reused = reused
        self.serial = serial
