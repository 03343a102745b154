"""Typed messages the chat screen's workers post to it (thread-safe) instead of touching widgets.

They are the screen's own: none bubbles up to the app.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from tui.chat.planview import PlanView


class PlanReady(Message, bubble=False):
    """A new plan for the meter, the inspector and the chat pane's dimming."""

    def __init__(self, plan: PlanView, serial: int) -> None:
        super().__init__()
        self.plan = plan
        self.serial = serial
        """Plans are numbered when requested; a late answer to an older request is ignored."""


class LoadProgressed(Message, bubble=False):
    def __init__(self, mode: str, event: Any) -> None:
        super().__init__()
        self.mode = mode
        self.event = event

    def can_replace(self, message: Message) -> bool:
        # A burst of progress events only needs the latest one drawn.
        return isinstance(message, LoadProgressed) and message.mode == self.mode


class ModelReady(Message, bubble=False):
    def __init__(self, mode: str, error: str | None = None, toggle: Any = None) -> None:
        super().__init__()
        self.mode = mode
        self.error = error
        self.toggle = toggle
        """tui.engine.residency.ToggleReport of a switch the user asked for (ctrl+t), else None."""


class GenerationStarted(Message, bubble=False):
    """The prompt is planned and the engine is running; carries the plan actually sent."""

    def __init__(self, plan: PlanView) -> None:
        super().__init__()
        self.plan = plan


class GenerationFinished(Message, bubble=False):
    """The stream ended (any reason). The app drains the chunk buffer before handling it."""

    def __init__(
        self,
        reason: str,
        stats: Any = None,
        error: str | None = None,
        text: str | None = None,
        token_ids: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        self.reason = reason
        self.stats = stats
        self.error = error
        self.text = text
        """The engine's full reply text, when it sent one (authoritative over the streamed chunks)."""
        self.token_ids = token_ids
        """The ids the reply was sampled as, when the backend knows them (local), for exact prefix reuse."""


class SummaryReady(Message, bubble=False):
    """A background summary (policy "summarize") finished: re-plan so the meter and inspector use it."""


class AdapterSwitched(Message, bubble=False):
    """The mode's LoRA adapter was switched in place (ctrl+l), or could not be: `error` says why."""

    def __init__(self, mode: str, on: bool, error: str | None = None) -> None:
        super().__init__()
        self.mode = mode
        self.on = on
        """The adapter's state now (unchanged when `error` is set)."""
        self.error = error
