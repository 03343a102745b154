"""The one interface the UI and the `generate` command drive: LocalBackend and OpenAIBackend both fit it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from tui.engine.events import StreamEvent
from tui.engine.request import GenerationRequest


@runtime_checkable
class Backend(Protocol):
    name: str

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        """TextChunk events as text is produced, then exactly one Finished (reason "error" on a fault).

        Settings are checked when called (UserError); set `cancel` to stop within one decoding step.
        """
        ...

    def reusable_prefix(self, prompt_ids: list[int]) -> int:
        """Prompt tokens the next call would take from the KV cache instead of recomputing them."""
        ...
