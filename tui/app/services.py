"""The narrow surface the app needs from the headless core (planner, tokenizer, engine), as a Protocol.

`tui.chat.core_services.CoreServices` implements it over tui.context and tui.engine; UI tests may pass a
scripted backend into it. Every method may block, so the app calls them from thread workers only
(`template_name` and `is_resident` are cheap and may be called anywhere).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from tui.chat.conversation import TurnSnapshot
from tui.chat.planview import PlanView
from tui.chat.settings import ChatSettings
from tui.choices import Mode


class Services(Protocol):
    preset_name: str
    backend_name: str
    context_window: int
    on_summary: Callable[[], None] | None
    """Set by the app: called from a worker thread when a background summary is ready."""

    def device(self) -> str:
        """Where the model runs, for the status line ("cpu", "cuda:0", a server URL)."""
        ...

    def is_resident(self, mode: Mode) -> bool: ...

    def ensure_loaded(self, mode: Mode, on_progress: Callable[[Any], None]) -> None:
        """Load the mode's model if needed, reporting LoadProgress events; raises EngineError/UserError."""
        ...

    def template_name(self, mode: Mode, settings: ChatSettings) -> str: ...

    def plan(
        self,
        turns: Sequence[TurnSnapshot],
        draft: str,
        mode: Mode,
        settings: ChatSettings,
        *,
        continuing: bool = False,
        commit: bool = False,
    ) -> PlanView:
        """The planner's plan for this conversation plus the draft (the next user message).

        With `continuing`, the last turn is an unfinished assistant reply the model should extend.
        `commit` (a send, not a preview) lets the rolling policy move its anchor.
        """
        ...

    def reset(self) -> None:
        """A different conversation (new, resumed, edited before the anchor): forget planner state."""
        ...

    def stream(
        self, plan: PlanView, mode: Mode, settings: ChatSettings, cancel: threading.Event
    ) -> Iterator[Any]:
        """The engine's events (TextChunk, LoadProgress, Finished) for exactly `plan.token_ids`."""
        ...

    def close(self) -> None:
        """Stop background work (summaries) before the app exits."""
        ...

    def pieces(self, token_ids: Sequence[int]) -> list[str]:
        """The tokenizer's piece for each id, for the inspector's token view."""
        ...
