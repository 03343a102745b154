"""One request builder for every command: a planned prompt plus the preset's and the user's sampling settings.

The chat (tui.chat.core_services) and `generate` both call it, so the same preset, settings and plan give the
same GenerationRequest, and so the same reply for the same seed on the local backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from tui.chat.settings import ChatSettings
from tui.choices import Mode

if TYPE_CHECKING:
    from tui.engine.request import GenerationRequest
    from tui.presets import Preset


class PlannedPrompt(Protocol):
    """What a request needs from a plan: tui.context.ContextPlan and the chat's PlanView both have it."""

    @property
    def token_ids(self) -> Sequence[int]: ...

    @property
    def prompt(self) -> str: ...

    @property
    def stop(self) -> Sequence[str]: ...


def max_new_tokens_for(preset: Preset, mode: Mode, settings: ChatSettings) -> int:
    """Tokens kept free for the reply: the user's max_new_tokens, else the preset's for the mode."""
    if settings.max_new_tokens is not None:
        return settings.max_new_tokens
    return preset.mode(mode).generation.max_new_tokens


def build_request(
    preset: Preset, mode: Mode, settings: ChatSettings, plan: PlannedPrompt, tokenizer: Any
) -> GenerationRequest:
    """The request for exactly `plan.token_ids`; raises UserError naming a bad setting."""
    from tui.engine.request import GenerationRequest

    spec = preset.mode(mode)
    gen = spec.generation
    request = GenerationRequest(
        prompt_ids=list(plan.token_ids),
        max_new_tokens=max_new_tokens_for(preset, mode, settings),
        temperature=settings.temperature if settings.temperature is not None else gen.temperature,
        top_p=settings.top_p if settings.top_p is not None else gen.top_p,
        top_k=gen.top_k,
        do_sample=gen.do_sample,
        repetition_penalty=gen.repetition_penalty,
        # The template's stop strings first, then the preset's own, each once.
        stop_strings=tuple(dict.fromkeys((*plan.stop, *spec.stop))),
        eos_token_id=preset.eos_token_id if preset.eos_token_id is not None else tokenizer.eos_token_id,
        seed=settings.seed,
        prompt_text=plan.prompt,
    )
    request.validate()
    return request
