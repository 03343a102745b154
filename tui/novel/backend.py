"""The one place novel mode gets a backend and turns a plan into a generation request.

The backend comes from the shared factory (tui.engine.factory.open_host), as for `chat` and `generate`: the same
flags mean the same thing, and the novel screen takes the base model from the chat's own host.
"""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from tui.engine.request import GenerationRequest
from tui.novel.banned import WordBans
from tui.novel.ledger import NovelPlan
from tui.novel.story import Sampler, Story
from tui.presets import GenerationDefaults, Preset
from tui.tokenizers import Tokenizer


def make_backend(args: argparse.Namespace, preset: Preset, tokenizer: Tokenizer) -> Any:
    """The base model of `preset` (novel mode continues text: always the base model), local or remote."""
    from tui.engine.factory import EngineChoice, adapter_flags, open_host

    # Novel mode continues text with the base model: a bare --adapter DIR is the base model's.
    choice = EngineChoice.from_args(args, adapters=adapter_flags(getattr(args, "adapter", None), "base"))
    host = open_host(preset, choice, modes=("base",), tokenizer=tokenizer)
    return host.backend("base")


def supports_bans(backend: Any) -> bool:
    """Only the in-process backend can ban token sequences: an OpenAI-compatible server's logit_bias bans
    single tokens, and a word's spellings are sequences (see docs/novel.md)."""
    from tui.engine.local import LocalBackend

    return isinstance(backend, LocalBackend)


def sampler_for(gen: GenerationDefaults, max_new_tokens: int, *, greedy: bool) -> Sampler:
    return Sampler(
        max_new_tokens=max_new_tokens,
        do_sample=gen.do_sample and not greedy,
        temperature=gen.temperature,
        top_p=gen.top_p,
        top_k=gen.top_k,
        repetition_penalty=gen.repetition_penalty,
    )


def pick_seed(sampler: Sampler, seed: int | None) -> int | None:
    """The seed to record: none for greedy decoding, else the one asked for or a fresh random one."""
    if not sampler.do_sample:
        return None
    return seed if seed is not None else secrets.randbelow(2**31)


def build_request(
    story: Story,
    plan: NovelPlan,
    *,
    preset: Preset,
    tokenizer: Tokenizer,
    sampler: Sampler,
    seed: int | None,
    bans: WordBans | None,
) -> GenerationRequest:
    eos = preset.eos_token_id if preset.eos_token_id is not None else tokenizer.eos_token_id
    return GenerationRequest(
        prompt_ids=list(plan.token_ids),
        max_new_tokens=sampler.max_new_tokens,
        temperature=sampler.temperature,
        top_p=sampler.top_p,
        top_k=sampler.top_k,
        do_sample=sampler.do_sample,
        repetition_penalty=sampler.repetition_penalty,
        seed=seed,
        stop_strings=tuple(dict.fromkeys((*story.stop, *preset.base.stop))),
        eos_token_id=eos,
        prompt_text=plan.prompt,
        banned_sequences=bans,
    )
