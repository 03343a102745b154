"""Base and instruct side by side: which of the two models lives where, and switching between them.

- both:   both models stay on the accelerator; a toggle only changes which one answers.
- swap:   the idle model waits in (pinned) host memory and is copied in on a toggle.
- single: only one model is loaded; a toggle frees it and loads the other from disk.
"auto" picks from the measured size of the first model and the free memory when the second is first needed.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from tui.choices import RESIDENCIES, Mode, Residency
from tui.engine.errors import OOM_ADVICE, EngineError, is_out_of_memory
from tui.engine.loading import LoadOptions, resolve_device
from tui.engine.local import LocalBackend

if TYPE_CHECKING:
    from tui.engine.detokenizer import Decoder
    from tui.engine.events import LoadProgress


# Room left beside the weights for the KV cache, activations and the allocator's slack.
HEADROOM_SHARE = 0.25


@dataclass(frozen=True)
class ToggleReport:
    mode: Mode
    residency: Residency
    action: Literal["none", "switch", "swap", "load", "reload"]
    """none: already active; switch: both resident; swap: copied from host memory; load/reload: read from disk."""
    seconds: float


def choose_residency(
    model_bytes: int, free_device_bytes: int, free_host_bytes: int, on_gpu: bool
) -> Residency:
    """The cheapest toggle that fits: both if a second copy fits on the device, else swap if host RAM holds it."""
    need = int(model_bytes * (1 + HEADROOM_SHARE))
    if free_device_bytes >= need:
        return "both"
    if on_gpu and free_host_bytes >= need:
        return "swap"
    return "single"


def model_bytes(model: Any) -> int:
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def free_memory(device: Any) -> tuple[int, int]:
    """(free bytes on the device, available host bytes)."""
    import psutil
    import torch

    host = int(psutil.virtual_memory().available)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free), host
    return host, host


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


class ModelPair:
    """Owns the base and instruct backends of one preset and the residency between them. Thread-safe."""

    def __init__(
        self,
        refs: dict[Mode, str],
        tokenizer: Decoder,
        *,
        options: LoadOptions | None = None,
        residency: Residency = "auto",
        progress: Callable[[LoadProgress], None] | None = None,
        loader: Callable[[str, Decoder, LoadOptions, Callable[[LoadProgress], None] | None], LocalBackend]
        | None = None,
        adapters: Mapping[Mode, str] | None = None,
    ) -> None:
        if residency not in RESIDENCIES:
            raise EngineError(f"unknown residency {residency!r}: use one of {', '.join(RESIDENCIES)}")
        self.refs = refs
        self.tokenizer = tokenizer
        self.options = options or LoadOptions()
        self.adapters: dict[Mode, str] = dict(adapters or {})
        """A LoRA adapter per mode (trained on that mode's model), loaded with it."""
        self._adapter_off: set[Mode] = set()
        """Modes whose adapter is loaded but switched off: kept across a reload, so a toggle is not forgotten."""
        self.loads = 0
        """How many times a model was read from disk: switching an adapter must never add to it."""
        self.residency: Residency = residency
        """As asked; "auto" becomes both/swap/single when the second model is first needed."""
        self.progress = progress
        self._load = loader or LocalBackend.load
        self._backends: dict[Mode, LocalBackend] = {}
        self._active: Mode | None = None
        self._lock = threading.RLock()
        self.device = resolve_device(self.options.device)

    @property
    def active(self) -> Mode | None:
        return self._active

    def loaded(self) -> dict[Mode, str]:
        """Where each loaded model's weights are now ("cuda:0", "cpu"...)."""
        with self._lock:
            return {m: str(next(b.model.parameters()).device) for m, b in self._backends.items()}

    def backend(self, mode: Mode | None = None) -> LocalBackend:
        """The backend for `mode` (default: the active one), made active and resident first."""
        with self._lock:
            wanted: Mode = mode or self._active or "instruct"
            if wanted != self._active or wanted not in self._backends:
                self.toggle(wanted)
            return self._backends[wanted]

    def toggle(self, mode: Mode) -> ToggleReport:
        """Make `mode` the active model; the report says what it took and how long."""
        with self._lock:
            started = time.perf_counter()
            if mode == self._active and mode in self._backends:
                return ToggleReport(mode, self.residency, "none", 0.0)
            try:
                action = self._activate(mode)
            except EngineError:
                raise
            except Exception as exc:
                if is_out_of_memory(exc):
                    self._free()
                    raise EngineError(f"out of memory switching to the {mode} model: {OOM_ADVICE}") from exc
                raise
            _sync(self.device)
            self._active = mode
            return ToggleReport(mode, self.residency, action, time.perf_counter() - started)

    def _activate(self, mode: Mode) -> Literal["switch", "swap", "load", "reload"]:
        other: Mode = "base" if mode == "instruct" else "instruct"
        if mode in self._backends:
            target = self._backends[mode]
            if self._on_device(target):
                return "switch"
            # swap: the idle model goes out to host memory first, so both never need the device at once.
            if other in self._backends:
                self._to_host(self._backends[other])
            target.model.to(self.device)
            return "swap"
        if other in self._backends and self.residency == "auto":
            free_dev, free_host = free_memory(self.device)
            size = model_bytes(self._backends[other].model)
            self.residency = choose_residency(size, free_dev, free_host, self.device.type == "cuda")
        if other in self._backends:
            if self.residency == "single":
                self._unload(other)
                self._read(mode)
                return "reload"
            if self.residency == "swap":
                self._to_host(self._backends[other])
        self._read(mode)
        return "load"

    def _read(self, mode: Mode) -> None:
        self.loads += 1
        self._backends[mode] = self._load(self.refs[mode], self.tokenizer, self._options(mode), self.progress)
        if mode in self._adapter_off:
            self._apply_adapter(mode)

    def _options(self, mode: Mode) -> LoadOptions:
        adapter = self.adapters.get(mode)
        return self.options if adapter is None else replace(self.options, adapter=adapter)

    # ----- the LoRA adapter of each mode, switched in place (tui.engine.adapters) -----
    def adapter_on(self, mode: Mode) -> bool | None:
        """Whether `mode`'s adapter is on; None when the mode has none. Never waits for a load."""
        if mode not in self.adapters:
            return None
        return mode not in self._adapter_off

    def set_adapter(self, mode: Mode, on: bool) -> bool:
        """Switch `mode`'s adapter on or off without reloading the model (a model not loaded yet takes the
        choice when it loads); True when that changed anything. UserError when the mode has no adapter."""
        from tui.errors import UserError

        if mode not in self.adapters:
            raise UserError(
                f"the {mode} model has no LoRA adapter: start with `chat --adapter {mode}=DIR` "
                f"or set `adapter` in the preset's [{mode}] table"
            )
        with self._lock:
            if self.adapter_on(mode) == on:
                return False
            if on:
                self._adapter_off.discard(mode)
            else:
                self._adapter_off.add(mode)
            if mode in self._backends:
                self._apply_adapter(mode)
            return True

    def _apply_adapter(self, mode: Mode) -> None:
        from tui.engine.adapters import enable_adapter

        enable_adapter(self._backends[mode], mode not in self._adapter_off)

    def _on_device(self, backend: LocalBackend) -> bool:
        device = next(backend.model.parameters()).device
        return bool(device.type == self.device.type)

    def _to_host(self, backend: LocalBackend) -> None:
        import torch

        backend.reset_cache()  # the idle model's KV cache is not worth host memory
        if self.device.type != "cuda":
            return  # already in host memory
        backend.model.to("cpu")
        # Pinned pages copy to the GPU at full PCIe speed (and asynchronously) on the way back.
        for tensor in (*backend.model.parameters(), *backend.model.buffers()):
            tensor.data = tensor.data.pin_memory()
        _sync(self.device)
        torch.cuda.empty_cache()

    def _unload(self, mode: Mode) -> None:
        backend = self._backends.pop(mode)
        backend.reset_cache()
        del backend
        self._free()

    def _free(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            import torch

            torch.cuda.empty_cache()

    def close(self) -> None:
        with self._lock:
            for mode in list(self._backends):
                self._unload(mode)
            self._active = None
