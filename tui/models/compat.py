"""The few transformers APIs whose names changed between the oldest version we support and the newest.

transformers 5.2x renamed `past_key_values` to `cache` (model outputs, `create_causal_mask`); vLLM's CPU build pins
an older 5.x. Each difference is looked up once, from the installed version's own signatures.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, TypeVar

import torch
from transformers.cache_utils import Cache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_outputs import BaseModelOutputWithPast

OutputT = TypeVar("OutputT")

CACHE_FIELD = (
    "cache" if "cache" in {f.name for f in dataclasses.fields(BaseModelOutputWithPast)} else "past_key_values"
)
_MASK_PARAMETERS = frozenset(inspect.signature(create_causal_mask).parameters)


def with_cache(output_class: type[OutputT], cache: Cache | None, **fields: Any) -> OutputT:
    """`output_class(**fields)` with the KV cache under the installed version's field name."""
    return output_class(**fields, **{CACHE_FIELD: cache})


def cache_of(output: Any) -> Cache | None:
    return getattr(output, CACHE_FIELD, None)


def causal_mask(
    config: Any,
    inputs_embeds: torch.Tensor,
    attention_mask: torch.Tensor | None,
    cache: Cache | None,
    position_ids: torch.Tensor,
    cache_position: torch.Tensor,
) -> Any:
    """transformers' causal (and padding) mask for the configured attention; None where the kernel needs none."""
    arguments: dict[str, Any] = {
        "config": config,
        "attention_mask": attention_mask,
        "position_ids": position_ids,
    }
    arguments["inputs_embeds" if "inputs_embeds" in _MASK_PARAMETERS else "input_embeds"] = inputs_embeds
    arguments["cache" if "cache" in _MASK_PARAMETERS else "past_key_values"] = cache
    if "cache_position" in _MASK_PARAMETERS:
        arguments["cache_position"] = cache_position
    return create_causal_mask(**arguments)
