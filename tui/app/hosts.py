"""The model host behind CoreServices: the engine's ModelPair (base + instruct residency) for the local backend.

ModelPair reports load progress through one callback fixed at construction; PairHost forwards it to whichever
worker is loading right now, so the status line draws the progress bar of the load the user is waiting for.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from tui.app.conversation import ModeName
from tui.presets import Preset


class PairHost:
    def __init__(
        self, preset: Preset, tokenizer: Any, *, device: str = "auto", residency: str = "auto"
    ) -> None:
        from tui.engine.loading import LoadOptions
        from tui.engine.residency import ModelPair
        from tui.trust import remote_code_allowed

        # One load setting serves both models: every model that carries code must be confirmed (an unconfirmed
        # one raises here, before the app starts), and a model without code is unaffected by the flag.
        trust = any([remote_code_allowed(preset, spec.model) for spec in (preset.base, preset.instruct)])

        self._callback: Callable[[Any], None] | None = None
        self._lock = threading.Lock()
        self.pair = ModelPair(
            {"base": preset.base.model, "instruct": preset.instruct.model},
            tokenizer,
            # On a CPU, torch's threads would take every core and starve the UI thread (measured in
            # bench/bench_tui_stream.py): leave one core to the app.
            options=LoadOptions(
                device=device, trust_remote_code=trust, cpu_threads=max(1, (os.cpu_count() or 2) - 1)
            ),
            residency=residency,  # type: ignore[arg-type]
            progress=self._forward,
        )

    def _forward(self, event: Any) -> None:
        callback = self._callback
        if callback is not None:
            callback(event)

    def device(self) -> str:
        return str(self.pair.device)

    def is_resident(self, mode: ModeName) -> bool:
        return mode in self.pair.loaded()

    def ensure_loaded(self, mode: ModeName, progress: Callable[[Any], None]) -> None:
        with self._lock:
            self._callback = progress
            try:
                self.pair.toggle(mode)
            finally:
                self._callback = None

    def backend(self, mode: ModeName) -> Any:
        return self.pair.backend(mode)

    def reusable_prefix(self, mode: ModeName, prompt_ids: list[int]) -> int:
        """Only the active model's cache counts; asking must never switch models (it is a preview)."""
        if self.pair.active != mode:
            return 0
        return int(self.pair.backend(mode).reusable_prefix(prompt_ids))


class RemoteHost:
    """OpenAI-compatible servers (tui.engine.remote): nothing to load here; one backend per mode, which may be
    one server's two models (`stablelm-tui serve --mode both`), two servers, or one model for both modes (the
    toggle then only switches the template and the sampling defaults)."""

    def __init__(self, backends: dict[ModeName, Any], url: str) -> None:
        self._backends = backends
        self.url = url

    def device(self) -> str:
        return self.url

    def is_resident(self, mode: ModeName) -> bool:
        return True

    def ensure_loaded(self, mode: ModeName, progress: Callable[[Any], None]) -> None:
        return None

    def backend(self, mode: ModeName) -> Any:
        return self._backends[mode]

    def reusable_prefix(self, mode: ModeName, prompt_ids: list[int]) -> int:
        return 0  # the server reports its prefix-cache hits after each reply (shown as `reused`)
