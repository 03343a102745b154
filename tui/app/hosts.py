"""Model hosts for CoreServices: which models are loaded, and the backend for each mode.

LocalHost keeps the preset's base and instruct models in-process (tui.engine.local.LocalBackend), loading each on
first use; loads are serialised so a toggle and a send never load the same model twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tui.app.conversation import ModeName
from tui.presets import Preset


class LocalHost:
    def __init__(self, preset: Preset, tokenizer: Any, *, device: str = "auto") -> None:
        self.preset = preset
        self.tokenizer = tokenizer
        self.device_name = device
        self._backends: dict[str, Any] = {}
        self._lock = threading.Lock()

    def device(self) -> str:
        for backend in self._backends.values():
            return str(backend.device)
        return self.device_name

    def is_resident(self, mode: ModeName) -> bool:
        return mode in self._backends

    def ensure_loaded(self, mode: ModeName, progress: Callable[[Any], None]) -> None:
        if mode in self._backends:
            return
        with self._lock:
            if mode in self._backends:
                return
            from tui.engine.loading import LoadOptions
            from tui.engine.local import LocalBackend

            options = LoadOptions(device=self.device_name)
            self._backends[mode] = LocalBackend.load(
                self.preset.mode(mode).model, self.tokenizer, options, progress
            )

    def backend(self, mode: ModeName) -> Any:
        try:
            return self._backends[mode]
        except KeyError:
            raise RuntimeError(f"the {mode} model is not loaded") from None
