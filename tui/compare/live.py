"""Two variants answering one message, streamed, on the chat's own models: what the TUI's compare view runs.

Variants are written as in `compare`, for the models the chat already holds: `MODE`, `MODE+lora` (the mode
with the LoRA adapter the chat was started with, switched on in place) and an optional `@TEMPLATE`, e.g.
`base,base+lora`, `base,instruct` or `instruct@ja-alpha-instruct,instruct@plain`. Both variants get the same
message alone (no conversation history), the same sampling settings and the same seed, so a difference comes
from the variant. They run one after the other: one model holds one KV cache and one adapter state, and a small
GPU holds one 7B model at a time. The adapter states the chat had are restored afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tui.choices import MODES, Mode
from tui.compare.variants import Variant
from tui.errors import UserError
from tui.presets import Preset

LORA = "lora"
"""Variant.adapter in the view: the adapter the chat loaded for that mode (not a folder of its own)."""


def default_spec(mode: Mode, adapter_on: Callable[[Mode], bool | None]) -> str:
    """The mode with and without its adapter when it has one, else base against instruct."""
    if adapter_on(mode) is not None:
        return f"{mode},{mode}+{LORA}"
    return ",".join(MODES)


def view_variants(
    spec: str, preset: Preset, adapter_on: Callable[[Mode], bool | None], *, remote: bool = False
) -> list[Variant]:
    """Exactly two variants from `spec`; UserError with one sentence for anything else. `remote`: the models are
    a server's, whose `+lora` names are asked for only when a variant runs (it says then if it has none)."""
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if len(items) != 2:
        raise UserError(
            "name two variants, e.g. base,instruct or base,base+lora or instruct@TEMPLATE,instruct"
        )
    variants = []
    for item in items:
        name, at, template = item.partition("@")
        mode_name, plus, adapter = name.partition("+")
        if mode_name not in MODES:
            raise UserError(f"variant {item!r}: start it with base or instruct")
        mode: Mode = "base" if mode_name == "base" else "instruct"
        if plus and adapter != LORA:
            raise UserError(f"variant {item!r}: after + only `lora` (the adapter the chat was started with)")
        if plus and adapter_on(mode) is None and not remote:
            raise UserError(f"variant {item!r}: the {mode} model has no LoRA adapter in this chat")
        if at and not template:
            raise UserError(f"variant {item!r}: name the template after the @")
        variants.append(
            Variant(
                mode,
                LORA if plus else None,
                template or preset.mode(mode).template,
                template_in_label=bool(at),
            )
        )
    if variants[0].label == variants[1].label:
        raise UserError(f"both variants are {variants[0].label}: name two different ones")
    return variants


@dataclass(frozen=True)
class VariantStarted:
    index: int


@dataclass(frozen=True)
class VariantText:
    index: int
    text: str


@dataclass(frozen=True)
class VariantDone:
    index: int
    finished: Any
    """The engine's Finished event; None when the variant could not start (then `error` says why)."""
    error: str | None = None


CompareEvent = VariantStarted | VariantText | VariantDone


def stream_pair(
    host: Any,
    preset: Preset,
    tokenizer: Any,
    variants: list[Variant],
    message: str,
    cancel: threading.Event,
    *,
    seed: int,
    temperature: float | None = None,
    max_new_tokens: int | None = None,
) -> Iterator[CompareEvent]:
    """Each variant's reply to `message`, streamed, one variant after the other, on `host` (a ModelHost)."""
    from tui.compare.runner import variant_request
    from tui.engine.events import Finished, TextChunk

    before = {mode: host.adapter_on(mode) for mode in MODES}
    try:
        for index, variant in enumerate(variants):
            if cancel.is_set():
                return
            yield VariantStarted(index)
            try:
                host.ensure_loaded(variant.mode, lambda _event: None)
                if before[variant.mode] is not None or variant.adapter == LORA:
                    # A server's adapter is unknown (None) until asked: asking for it finds it or says why not.
                    host.set_adapter(variant.mode, variant.adapter == LORA)
                request = variant_request(
                    preset,
                    variant,
                    message,
                    tokenizer,
                    seed=seed,
                    max_new_tokens=max_new_tokens,
                    temperature=temperature,
                )
            except Exception as exc:  # a bad template, a plan that does not fit, a failed load: in the pane
                yield VariantDone(index, None, str(exc) or type(exc).__name__)
                continue
            for event in host.backend(variant.mode).stream(request, cancel):
                if isinstance(event, TextChunk):
                    yield VariantText(index, event.text)
                elif isinstance(event, Finished):
                    yield VariantDone(index, event, event.error)
    finally:
        for mode, on in before.items():
            if host.adapter_on(mode) is not None:
                host.set_adapter(mode, bool(on))
