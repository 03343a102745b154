"""The decoding loop's pieces as small pure functions (the shape of gpt-fast's generate.py).

`prefill` runs the new part of the prompt through the model on top of a KV cache, `decode_one_token` feeds one
token, `sample` turns the last logits into the next id. The logits processing mirrors transformers' own
processors in the same order (repetition penalty, temperature, top-k, top-p), so the loop behaves like
`model.generate` with the same settings. Imports torch: only call from code that already needs a model.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class SamplingSettings:
    do_sample: bool
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0


@functools.cache
def _cache_keyword(model_class: Any) -> str:
    """transformers >= 5.2x names the argument `cache`; older models (and remote code) `past_key_values`."""
    params = inspect.signature(model_class.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def forward(model: Any, ids: torch.Tensor, cache: Any) -> torch.Tensor:
    """Run `ids` (shape [1, n]) on top of `cache`; return float32 logits of the last position, shape [1, vocab]."""
    kwargs = {_cache_keyword(model.__class__): cache}
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1, **kwargs)
    # float32 like generate(): fp16 logits lose the small differences top-p and the penalty look at.
    return out.logits[:, -1, :].float()


def prefill(model: Any, ids: torch.Tensor, cache: Any) -> torch.Tensor:
    """The uncached part of the prompt in one forward pass (logits_to_keep=1: no [n, vocab] logits tensor)."""
    return forward(model, ids, cache)


def decode_one_token(model: Any, token: torch.Tensor, cache: Any) -> torch.Tensor:
    return forward(model, token.view(1, 1), cache)


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL-style penalty as in transformers: logits of ids in `seen` (a [vocab] bool mask) shrink toward zero."""
    if penalty == 1.0:
        return logits
    import torch

    penalized = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen.unsqueeze(0), penalized, logits)


def apply_top_k(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    if top_k <= 0 or top_k >= logits.shape[-1]:
        return logits
    import torch

    kth = torch.topk(logits, top_k)[0][..., -1, None]
    return logits.masked_fill(logits < kth, float("-inf"))


def apply_top_p(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    if top_p >= 1.0:
        return logits
    sorted_logits, sorted_idx = logits.sort(descending=False)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cumulative <= (1 - top_p)
    remove_sorted[..., -1:] = False  # always keep the most likely token
    remove = remove_sorted.scatter(1, sorted_idx, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def apply_bans(logits: torch.Tensor, banned: Collection[int]) -> torch.Tensor:
    """Banned ids (tui.engine.bans) can never be picked; applied before top-k/top-p so those renormalize."""
    if not banned:
        return logits
    import torch

    index = torch.tensor(sorted(banned), dtype=torch.long, device=logits.device)
    return logits.index_fill(-1, index, float("-inf"))


def process_logits(
    logits: torch.Tensor, seen: torch.Tensor, settings: SamplingSettings, banned: Collection[int] = ()
) -> torch.Tensor:
    logits = apply_repetition_penalty(logits, seen, settings.repetition_penalty)
    logits = apply_bans(logits, banned)
    if not settings.do_sample:
        return logits
    if settings.temperature != 1.0:
        logits = logits / settings.temperature
    logits = apply_top_k(logits, settings.top_k)
    return apply_top_p(logits, settings.top_p)


def sample(
    logits: torch.Tensor,
    seen: torch.Tensor,
    settings: SamplingSettings,
    generator: torch.Generator | None,
    banned: Collection[int] = (),
) -> int:
    """The next token id: argmax when greedy, else a draw from the processed distribution with `generator`."""
    import torch

    scores = process_logits(logits, seen, settings, banned)
    if not settings.do_sample:
        return int(scores.argmax(dim=-1).item())
    probs = scores.softmax(dim=-1)
    return int(torch.multinomial(probs, num_samples=1, generator=generator).item())


def common_prefix_length(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
