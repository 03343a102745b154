"""Run every variant on every prompt, and measure each variant on a held-out reference text.

Per variant: the replies (prompt i is sampled with seed + i in every variant, so differences come from the
variant, not the dice), how often a reply ends where its format says (eos or one of the template's stop strings,
rather than running into the token limit), tokens per reply, and the perplexity of the reference text: the
reference file is read like training data (a conversation export rendered through the variant's template,
only the replies scored; a story or plain text scored as continuation), so a model and the same model with a
format adapter are measured on the same tokens.

One model is resident at a time: the variants are run grouped by mode (a 16 GB GPU holds one 7B model), and
adapters are switched in place on it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tui.compare.variants import Variant
from tui.presets import Mode, Preset

FORMAT_ENDS = ("eos", "stop")


@dataclass(frozen=True)
class CompareSettings:
    seed: int = 0
    max_new_tokens: int | None = None
    """Default: each mode's preset value."""
    greedy: bool = False
    device: str = "auto"
    reference: tuple[str, ...] = ()
    """Data files (any format `train` reads) whose perplexity each variant gets."""


@dataclass(frozen=True)
class Reply:
    variant: str
    prompt_index: int
    text: str
    tokens: int
    finish: str
    """eos, stop, length, cancelled or error."""

    @property
    def stopped(self) -> bool:
        """Ended where the format says a reply ends (eos or a stop string), not at the token limit."""
        return self.finish in FORMAT_ENDS


@dataclass
class VariantResult:
    variant: Variant
    replies: list[Reply] = field(default_factory=list)
    perplexity: float | None = None
    reference_tokens: int = 0

    @property
    def stop_rate(self) -> float:
        return sum(r.stopped for r in self.replies) / len(self.replies) if self.replies else 0.0

    @property
    def mean_tokens(self) -> float:
        return sum(r.tokens for r in self.replies) / len(self.replies) if self.replies else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.variant.label,
            "mode": self.variant.mode,
            "adapter": self.variant.adapter,
            "template": self.variant.template,
            "perplexity": self.perplexity,
            "reference_tokens": self.reference_tokens,
            "stop_rate": self.stop_rate,
            "mean_reply_tokens": self.mean_tokens,
        }


@dataclass
class CompareReport:
    preset: str
    settings: CompareSettings
    prompts: list[str]
    results: list[VariantResult]

    def as_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "seed": self.settings.seed,
            "greedy": self.settings.greedy,
            "reference": list(self.settings.reference),
            "prompts": self.prompts,
            "variants": [r.as_dict() for r in self.results],
            "replies": [
                {
                    "variant": reply.variant,
                    "prompt": reply.prompt_index,
                    "text": reply.text,
                    "tokens": reply.tokens,
                    "finish": reply.finish,
                    "stopped": reply.stopped,
                }
                for result in self.results
                for reply in result.replies
            ],
        }


def _reference_pieces(
    settings: CompareSettings, preset: Preset, variant: Variant, tokenizer: Any
) -> list[Any]:
    from tui.templates import load_template
    from tui.train.data import read_files
    from tui.train.sequences import cut_document

    if not settings.reference:
        return []
    eos = preset.eos_token_id if preset.eos_token_id is not None else tokenizer.eos_token_id
    documents, _ = read_files(
        settings.reference,
        tokenizer=tokenizer,
        template=load_template(variant.template),
        eos_id=eos,
        stops=preset.mode(variant.mode).stop,
    )
    return [piece for doc in documents for piece in cut_document(doc, preset.context_window)]


def perplexity(model: Any, pieces: Sequence[Any]) -> tuple[float | None, int]:
    """exp(mean loss per scored token) of the pieces under `model` as it is now (adapter on or off)."""
    import torch

    from tui.train.model import sequence_loss

    device = model.get_input_embeddings().weight.device
    total, count = 0.0, 0
    with torch.inference_mode():
        for piece in pieces:
            loss_sum, n = sequence_loss(model, piece.ids, piece.loss, device)
            total += float(loss_sum)
            count += n
    return (math.exp(total / count) if count else None), count


def variant_request(
    preset: Preset,
    variant: Variant,
    prompt: str,
    tokenizer: Any,
    *,
    seed: int | None,
    max_new_tokens: int | None = None,
    greedy: bool = False,
    temperature: float | None = None,
) -> Any:
    """The GenerationRequest that asks `variant` for a reply to `prompt` alone (no history), with the variant's
    template and its mode's sampling defaults: the same for `compare` and the TUI's compare view."""
    from tui.context import plan_context
    from tui.engine.request import GenerationRequest
    from tui.templates import load_template

    spec = preset.mode(variant.mode)
    gen = spec.generation
    max_new = max_new_tokens or gen.max_new_tokens
    plan = plan_context(
        [],
        tokenizer=tokenizer,
        template=load_template(variant.template),
        window=preset.context_window,
        reserve=max_new,
        draft=prompt,
    )
    plan.require_ok()
    return GenerationRequest(
        prompt_ids=list(plan.token_ids),
        max_new_tokens=max_new,
        temperature=gen.temperature if temperature is None else temperature,
        top_p=gen.top_p,
        top_k=gen.top_k,
        do_sample=gen.do_sample and not greedy,
        repetition_penalty=gen.repetition_penalty,
        seed=seed,
        stop_strings=tuple(dict.fromkeys((*plan.stop, *spec.stop))),
        eos_token_id=preset.eos_token_id if preset.eos_token_id is not None else tokenizer.eos_token_id,
        prompt_text=plan.prompt,
    )


def _reply(
    backend: Any, preset: Preset, variant: Variant, prompt: str, seed: int, settings: CompareSettings
) -> Any:
    from tui.engine.events import Finished

    request = variant_request(
        preset,
        variant,
        prompt,
        backend.tokenizer,
        seed=seed,
        max_new_tokens=settings.max_new_tokens,
        greedy=settings.greedy,
    )
    finished = None
    for event in backend.stream(request, threading.Event()):
        if isinstance(event, Finished):
            finished = event
    assert finished is not None
    return finished


def run_compare(
    preset: Preset,
    variants: Sequence[Variant],
    prompts: Sequence[str],
    settings: CompareSettings,
    on_reply: Callable[[Reply], None] | None = None,
    load: Callable[[Mode], Any] | None = None,
) -> CompareReport:
    """Every variant on every prompt; `load(mode)` gives a LocalBackend (default: the preset's local model)."""
    from tui.engine.adapters import attach_adapter, check_base, read_adapter_dir, switch_adapter
    from tui.tokenizers import tokenizer_for_preset

    tokenizer = tokenizer_for_preset(preset)
    for variant in variants:  # bad adapter folders and reference files fail before any model loads
        if variant.adapter:
            folder, _config, card = read_adapter_dir(variant.adapter)
            if load is None and _on_this_machine(preset.mode(variant.mode).model):
                check_base(card, folder, preset.mode(variant.mode).model)
    references = {v.label: _reference_pieces(settings, preset, v, tokenizer) for v in variants}
    loader = load or (lambda mode: _load_local(preset, mode, tokenizer, settings.device))
    results = {v.label: VariantResult(v) for v in variants}
    for mode in dict.fromkeys(v.mode for v in variants):
        backend = loader(mode)
        names: dict[str, str] = {}
        for variant in (v for v in variants if v.mode == mode):
            if variant.adapter and variant.adapter not in names:
                names[variant.adapter] = attach_adapter(backend.model, variant.adapter, ref=backend.name).name
            switch_adapter(backend, names[variant.adapter] if variant.adapter else None)
            result = results[variant.label]
            result.perplexity, result.reference_tokens = perplexity(backend.model, references[variant.label])
            for index, prompt in enumerate(prompts):
                finished = _reply(backend, preset, variant, prompt, settings.seed + index, settings)
                reply = Reply(variant.label, index, finished.text, finished.stats.new_tokens, finished.reason)
                result.replies.append(reply)
                if on_reply is not None:
                    on_reply(reply)
        del backend
        _free_memory()
    return CompareReport(preset.name, settings, list(prompts), [results[v.label] for v in variants])


def _on_this_machine(ref: str) -> bool:
    """False for a hub model not downloaded yet: its adapters are checked once it has loaded."""
    from tui.engine.identity import model_directory
    from tui.errors import UserError

    try:
        model_directory(ref)
    except UserError:
        return False
    return True


def _load_local(preset: Preset, mode: Mode, tokenizer: Any, device: str) -> Any:
    from tui.engine.loading import LoadOptions
    from tui.engine.local import LocalBackend
    from tui.trust import remote_code_allowed

    ref = preset.mode(mode).model
    options = LoadOptions(device=device, trust_remote_code=remote_code_allowed(preset, ref))
    return LocalBackend.load(ref, tokenizer, options)


def _free_memory() -> None:
    import gc

    gc.collect()
    try:
        import torch
    except ImportError:  # pragma: no cover - a backend always means torch
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
