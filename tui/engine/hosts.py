"""Model hosts: what runs a preset's two models, behind one small interface (ModelHost).

PairHost runs them in-process through the engine's ModelPair (base + instruct residency); RemoteHost sends both
to an OpenAI-compatible server. tui.engine.factory.open_host builds the right one for `chat` and `generate`.

ModelPair reports load progress through one callback fixed at construction; PairHost forwards it to whichever
caller is loading right now, so the status line draws the progress bar of the load the user is waiting for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from tui.choices import Mode, Residency
from tui.engine.loading import LoadOptions

if TYPE_CHECKING:
    from tui.engine.residency import ToggleReport


class ModelHost(Protocol):
    backend_name: str
    """"local" or "openai", for the status line."""

    def device(self) -> str:
        """Where the model runs, for the status line ("cpu", "cuda:0", a server URL)."""
        ...

    def is_resident(self, mode: Mode) -> bool: ...

    def ensure_loaded(self, mode: Mode, progress: Callable[[Any], object]) -> ToggleReport | None:
        """Make `mode` the active model, loading it if needed and reporting LoadProgress events; says what
        that took (None where there is nothing to switch, as on a server)."""
        ...

    def backend(self, mode: Mode) -> Any:
        """tui.engine's Backend for the mode (`stream(request, cancel)`), loading it if needed."""
        ...

    def reusable_prefix(self, mode: Mode, prompt_ids: list[int]) -> int:
        """Tokens the next call would reuse from the KV cache; never loads or switches a model."""
        ...

    def adapter_on(self, mode: Mode) -> bool | None:
        """Whether `mode`'s LoRA adapter is on; None when it has none. Cheap: never waits for a load."""
        ...

    def set_adapter(self, mode: Mode, on: bool) -> bool:
        """Switch `mode`'s adapter on or off in place, without reloading; True when that changed anything.
        UserError when the mode has no adapter here. May wait for a load: call it from a worker."""
        ...

    def close(self) -> None:
        """Free the models (a preset switch or a reload with other options replaces the host)."""
        ...


class PairHost:
    backend_name = "local"

    def __init__(
        self,
        refs: dict[Mode, str],
        tokenizer: Any,
        *,
        options: LoadOptions,
        residency: Residency = "auto",
        adapters: Mapping[Mode, str] | None = None,
    ) -> None:
        from tui.engine.residency import ModelPair

        self._callback: Callable[[Any], object] | None = None
        self._lock = threading.Lock()
        self.pair = ModelPair(
            refs, tokenizer, options=options, residency=residency, progress=self._forward, adapters=adapters
        )

    def _forward(self, event: Any) -> None:
        callback = self._callback
        if callback is not None:
            callback(event)

    def device(self) -> str:
        return str(self.pair.device)

    def is_resident(self, mode: Mode) -> bool:
        return mode in self.pair.loaded()

    def ensure_loaded(self, mode: Mode, progress: Callable[[Any], object]) -> ToggleReport:
        with self._lock:
            self._callback = progress
            try:
                return self.pair.toggle(mode)
            finally:
                self._callback = None

    def backend(self, mode: Mode) -> Any:
        return self.pair.backend(mode)

    def reusable_prefix(self, mode: Mode, prompt_ids: list[int]) -> int:
        """Only the active model's cache counts; asking must never switch models (it is a preview)."""
        if self.pair.active != mode:
            return 0
        return int(self.pair.backend(mode).reusable_prefix(prompt_ids))

    def adapter_on(self, mode: Mode) -> bool | None:
        return self.pair.adapter_on(mode)

    def set_adapter(self, mode: Mode, on: bool) -> bool:
        return self.pair.set_adapter(mode, on)

    def close(self) -> None:
        self.pair.close()


class RemoteHost:
    """OpenAI-compatible servers (tui.engine.remote): nothing to load here; one backend per mode, which may be
    one server's two models (`stablelm-tui serve --mode both`), two servers, or one model for both modes (the
    toggle then only switches the template and the sampling defaults).

    A server applies its own adapters: `stablelm-tui serve --adapter` (local engine or vLLM) serves a mode's
    adapter as a model of its own, `<model>+lora`. Switching the adapter here switches which of the two names the
    mode's requests ask for; the server is asked what it lists only then (never at start: a slow server must not
    hold up the first reply), so until the first switch a mode has an adapter only when its configured name
    already is a `+lora` one."""

    backend_name = "openai"

    def __init__(self, backends: dict[Mode, Any], url: str) -> None:
        from tui.engine.adapters import LORA_SUFFIX

        self._backends = backends
        self.url = url
        self._plain: dict[Mode, str] = {}
        """Each mode's model name without the adapter, once the mode is known to have one."""
        self._lora: dict[Mode, bool] = {}
        """Whether each mode with an adapter asks for it now."""
        for mode, backend in backends.items():
            name = getattr(getattr(backend, "config", None), "model", None)
            if isinstance(name, str) and name.endswith(LORA_SUFFIX) and len(name) > len(LORA_SUFFIX):
                self._plain[mode], self._lora[mode] = name.removesuffix(LORA_SUFFIX), True

    def device(self) -> str:
        return self.url

    def is_resident(self, mode: Mode) -> bool:
        return True

    def ensure_loaded(self, mode: Mode, progress: Callable[[Any], object]) -> ToggleReport | None:
        return None

    def backend(self, mode: Mode) -> Any:
        return self._backends[mode]

    def reusable_prefix(self, mode: Mode, prompt_ids: list[int]) -> int:
        return 0  # the server reports its prefix-cache hits after each reply (shown as `reused`)

    def adapter_on(self, mode: Mode) -> bool | None:
        return self._lora.get(mode)

    def set_adapter(self, mode: Mode, on: bool) -> bool:
        """Ask for `<model>+lora` (on) or `<model>` (off) from now on; the first time, the server is asked whether
        it lists `<model>+lora` (a UserError with one sentence when it does not). Waits for the server."""
        from tui.engine.adapters import LORA_SUFFIX

        backend = self._backends[mode]
        if mode not in self._plain:
            plain = backend.model_name()
            listed = backend.listed_models()
            if plain + LORA_SUFFIX not in listed:
                from tui.errors import UserError

                raise UserError(
                    f"the server lists no {plain}{LORA_SUFFIX} beside {plain}, so it has no adapter to switch to: "
                    "serve one with `stablelm-tui serve --adapter DIR` (local engine or vLLM)"
                )
            self._plain[mode], self._lora[mode] = plain, False
        if self._lora[mode] == on:
            return False
        backend.use_model(self._plain[mode] + LORA_SUFFIX if on else self._plain[mode])
        self._lora[mode] = on
        return True

    def close(self) -> None:
        return None
