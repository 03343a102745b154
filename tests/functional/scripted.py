"""A scripted model host for UI tests only: replies come from a list, on a schedule, then Finished.

It implements the engine's Backend protocol (stream + reusable_prefix) so the app runs its real worker,
coalescing and cancel paths against a reply whose text and timing the test controls. Never used in product code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tui.engine.events import Finished, GenerationStats, LoadProgress, TextChunk


@dataclass
class ScriptedBackend:
    chunks: list[str] = field(default_factory=lambda: ["こんにちは", "、", "世界", "。"])
    delay_s: float = 0.0
    name: str = "scripted"
    requests: list[Any] = field(default_factory=list)
    fail_with: Exception | None = None
    fixed_stats: bool = False
    """Report the same speed every run (snapshots must not change with the machine's load)."""

    def reusable_prefix(self, prompt_ids: list[int]) -> int:
        if not self.requests:
            return 0
        last = self.requests[-1].prompt_ids
        n = 0
        for a, b in zip(last, prompt_ids, strict=False):
            if a != b:
                break
            n += 1
        return n

    def stream(self, request: Any, cancel: threading.Event) -> Iterator[TextChunk | Finished]:
        self.requests.append(request)
        start = time.monotonic()
        text = ""
        reason = "eos"
        for i, chunk in enumerate(self.chunks):
            if cancel.is_set():
                reason = "cancelled"
                break
            if self.fail_with is not None and i == len(self.chunks) // 2:
                yield Finished(text, "error", self._stats(start, i), error=str(self.fail_with))
                return
            if self.delay_s:
                # Wait in small steps so a cancel is seen quickly, like the real engine's per-token check.
                deadline = time.monotonic() + self.delay_s
                while time.monotonic() < deadline and not cancel.is_set():
                    time.sleep(min(0.005, self.delay_s))
                if cancel.is_set():
                    reason = "cancelled"
                    break
            text += chunk
            yield TextChunk(chunk)
        yield Finished(text, reason, self._stats(start, len(text)))  # type: ignore[arg-type]

    def _stats(self, start: float, n: int) -> GenerationStats:
        elapsed = 1.0 if self.fixed_stats else max(time.monotonic() - start, 1e-6)
        return GenerationStats(
            ttft_s=0.01,
            new_tokens=n,
            tokens_per_s=n / elapsed,
            prefill_tokens=len(self.requests[-1].prompt_ids),
            reused_tokens=0,
            peak_memory_bytes=0,
            model=self.name,
            device="cpu",
        )


@dataclass
class ScriptedHost:
    """Both modes resident unless `cold` names one; loading it reports progress and takes `load_s`."""

    base: ScriptedBackend = field(default_factory=ScriptedBackend)
    instruct: ScriptedBackend = field(default_factory=ScriptedBackend)
    cold: set[str] = field(default_factory=set)
    load_s: float = 0.0
    backend_name: str = "local"

    def device(self) -> str:
        return "cpu"

    def is_resident(self, mode: str) -> bool:
        return mode not in self.cold

    def ensure_loaded(self, mode: str, progress: Callable[[Any], None]) -> None:
        if mode not in self.cold:
            return
        for done in range(1, 5):
            time.sleep(self.load_s / 4)
            progress(LoadProgress(model=f"demo:{mode}", stage="load", done=done, total=4))
        self.cold.discard(mode)

    def backend(self, mode: str) -> ScriptedBackend:
        return self.base if mode == "base" else self.instruct

    def reusable_prefix(self, mode: str, prompt_ids: list[int]) -> int:
        return self.backend(mode).reusable_prefix(prompt_ids)

    def adapter_on(self, mode: str) -> bool | None:
        return None  # no adapters: the LoRA key says so, the compare view offers base against instruct

    def set_adapter(self, mode: str, on: bool) -> bool:
        raise AssertionError("the scripted host has no adapters")

    def close(self) -> None:
        return None
