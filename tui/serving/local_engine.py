"""Our own engine (tui.engine) behind the server: a preset's base and/or instruct model in one process.

The models live in the engine's ModelPair, with the same residency rules as the chat (both on the device, or the
idle one swapped to host memory, or only one loaded). Each model has one KV cache, so requests to one model run
one at a time, in arrival order; a request that extends the previous one to the same model (the next chat turn)
prefills only the new tokens, and the reply's usage says how many came from the cache. When the pair cannot keep
both models on the device, serving one model may move the other: then every request waits for the one before it,
whichever model it asks for.

Generation runs in a thread of its own per request (the loop is blocking torch code); the server's event loop
only moves events. Setting a request's cancel event (client gone, server stopping) ends it within one step.

A mode with a LoRA adapter answers under two names: the model's own (adapter off) and `<name>+lora` (adapter on).
The adapter is switched in place between requests (tui.engine.adapters), never reloaded; a switch drops that
model's KV cache, so alternating the two names costs each request its prefix reuse.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tui.engine.adapters import LORA_SUFFIX
from tui.serving.completions import ServedModel

if TYPE_CHECKING:
    from tui.engine.events import StreamEvent
    from tui.engine.request import GenerationRequest
    from tui.presets import Mode, Preset


class LocalEngine:
    def __init__(
        self,
        preset: Preset,
        modes: tuple[Mode, ...],
        *,
        device: str = "auto",
        dtype: str = "auto",
        residency: str = "auto",
        cpu_threads: int | None = None,
        adapters: Mapping[Mode, str] | None = None,
    ) -> None:
        from tui.engine.loading import LoadOptions
        from tui.engine.residency import ModelPair
        from tui.tokenizers import tokenizer_for_preset
        from tui.trust import remote_code_allowed

        self.preset = preset
        self.modes = modes
        self.tokenizer = tokenizer_for_preset(preset)
        trust = any([remote_code_allowed(preset, preset.mode(m).model) for m in modes])
        options = LoadOptions(device=device, dtype=dtype, trust_remote_code=trust, cpu_threads=cpu_threads)
        self.pair = ModelPair(
            {m: preset.mode(m).model for m in modes},
            self.tokenizer,
            options=options,
            residency=residency,  # type: ignore[arg-type]
            adapters=adapters,
        )
        eos = preset.eos_token_id if preset.eos_token_id is not None else self.tokenizer.eos_token_id
        self.models = {
            preset.served_name(m): ServedModel(
                name=preset.served_name(m),
                mode=m,
                ref=preset.mode(m).model,
                window=preset.context_window,
                vocab_size=self.tokenizer.vocab_size,
                eos_token_id=eos,
            )
            for m in modes
        }
        for mode, folder in self.pair.adapters.items():
            plain = self.models[preset.served_name(mode)]
            name = plain.name + LORA_SUFFIX
            self.models[name] = replace(plain, name=name, adapter=folder, parent=plain.name)
        self._per_model = {m: threading.Lock() for m in modes}
        self._whole_pair = threading.Lock()

    @property
    def device(self) -> str:
        return str(self.pair.device)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def load(self) -> None:
        """Load every served model once (EngineError with one sentence), the first mode left active."""
        for mode in reversed(self.modes):
            self.pair.toggle(mode)

    def generate(
        self, mode: Mode, request: GenerationRequest, cancel: threading.Event, *, adapter: bool = False
    ) -> Iterator[StreamEvent]:
        """The engine's events for one request, after the requests before it to the same model; `adapter`: with
        the mode's LoRA adapter on (the `+lora` name), else off."""
        with self._per_model[mode], self._exclusive():
            if cancel.is_set():
                return  # the client left while queued: nothing to compute
            backend = self.pair.backend(mode)
            if mode in self.pair.adapters:
                self.pair.set_adapter(mode, adapter)
            yield from backend.stream(request, cancel)

    def _exclusive(self) -> Any:
        # With both models resident, the two models' requests may run side by side; otherwise serving one model
        # may move the other off the device, which must not happen under a running request.
        if self.pair.residency == "both" or len(self.modes) == 1:
            return contextlib.nullcontext()
        return self._whole_pair

    def close(self) -> None:
        self.pair.close()
