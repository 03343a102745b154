"""The body of the generation worker: plan, stream, and report; runs in a thread and never touches widgets.

Text goes into the ChunkBuffer (the UI's 15 Hz timer drains it); everything else is a typed message through
`post` (App.post_message is thread-safe). Exactly one GenerationFinished is posted, whatever happens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from textual.message import Message

from tui.app.messages import GenerationFinished, GenerationStarted, LoadProgressed
from tui.app.services import Services
from tui.chat.coalesce import ChunkBuffer
from tui.chat.conversation import TurnSnapshot
from tui.chat.settings import ChatSettings
from tui.choices import Mode
from tui.engine.events import Finished, LoadProgress, TextChunk


def pump_reply(
    services: Services,
    turns: tuple[TurnSnapshot, ...],
    mode: Mode,
    settings: ChatSettings,
    cancel: threading.Event,
    buffer: ChunkBuffer,
    post: Callable[[Message], Any],
    *,
    continuing: bool = False,
) -> None:
    def progress(event: Any) -> None:
        post(LoadProgressed(mode, event))

    try:
        services.ensure_loaded(mode, progress)
        plan = services.plan(turns, "", mode, settings, continuing=continuing, commit=True)
        post(GenerationStarted(plan))
        if plan.error or plan.over_by:
            reason = plan.error or f"over by {plan.over_by} tokens (policy 'stop' refuses to send)"
            post(GenerationFinished("refused", error=reason))
            return
        for event in services.stream(plan, mode, settings, cancel):
            if isinstance(event, TextChunk):
                buffer.append(event.text)
            elif isinstance(event, Finished):
                post(GenerationFinished(event.reason, event.stats, event.error, event.text))
                return
            elif isinstance(event, LoadProgress):
                progress(event)
    except Exception as exc:
        # EngineError/UserError carry a one-sentence message; anything else is a bug, shown by name.
        post(GenerationFinished("error", error=str(exc) or type(exc).__name__))
        return
    post(GenerationFinished("error", error="the engine stopped without finishing the reply"))
