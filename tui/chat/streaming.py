"""The body of the generation worker: plan, stream, and report; runs in a thread and never touches widgets.

Text goes into the ChunkBuffer (the screen's 15 Hz timer drains it); everything else is an event passed to
`report`, which the screen turns into a message (App.post_message is thread-safe). Exactly one ReplyFinished
is reported, whatever happens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tui.chat.coalesce import ChunkBuffer
from tui.chat.conversation import TurnSnapshot
from tui.chat.core_services import CoreServices
from tui.chat.planview import PlanView
from tui.chat.settings import ChatSettings
from tui.choices import Mode
from tui.engine.events import Finished, LoadProgress, TextChunk


@dataclass(frozen=True)
class ReplyStarted:
    """The prompt is planned and the engine is running; carries the plan actually sent."""

    plan: PlanView


@dataclass(frozen=True)
class ReplyFinished:
    reason: str
    """eos, stop, length, cancelled, error, or refused (the plan could not be sent)."""
    stats: Any = None
    error: str | None = None
    text: str | None = None
    """The engine's full reply text, when it sent one (authoritative over the streamed chunks)."""
    token_ids: tuple[int, ...] | None = None
    """The ids the reply was sampled as, when the backend knows them (local), for exact prefix reuse."""


ReplyEvent = ReplyStarted | ReplyFinished | LoadProgress


def pump_reply(
    core: CoreServices,
    turns: tuple[TurnSnapshot, ...],
    mode: Mode,
    settings: ChatSettings,
    cancel: threading.Event,
    buffer: ChunkBuffer,
    report: Callable[[ReplyEvent], Any],
    *,
    continuing: bool = False,
) -> None:
    try:
        core.ensure_loaded(mode, report)
        plan = core.plan(turns, "", mode, settings, continuing=continuing, commit=True)
        report(ReplyStarted(plan))
        if plan.error or plan.over_by:
            reason = plan.error or f"over by {plan.over_by} tokens (policy 'stop' refuses to send)"
            report(ReplyFinished("refused", error=reason))
            return
        for event in core.stream(plan, mode, settings, cancel):
            if isinstance(event, TextChunk):
                buffer.append(event.text)
            elif isinstance(event, Finished):
                # A remote server sends no ids (an empty tuple): only a local reply's ids are its spelling.
                ids = event.token_ids if event.token_ids or not event.text else None
                report(ReplyFinished(event.reason, event.stats, event.error, event.text, ids))
                return
            elif isinstance(event, LoadProgress):
                report(event)
    except Exception as exc:
        # EngineError/UserError carry a one-sentence message; anything else is a bug, shown by name.
        report(ReplyFinished("error", error=str(exc) or type(exc).__name__))
        return
    report(ReplyFinished("error", error="the engine stopped without finishing the reply"))
