"""One Japanese StableLM Alpha block on transformers' attention interface: xPos rotary, attention, gated MLP.

The attention follows what transformers' attention functions and the "Transformers backend" of vLLM and SGLang
need (docs/models.md): the function comes from `ALL_ATTENTION_FUNCTIONS[config._attn_implementation]` (our eager
one otherwise) and is called once with the mask passed explicitly and `scaling` a plain float; q/k/v are
[batch, heads, seq, head_dim]; its output ([batch, seq, heads, head_dim]) is reshaped, never transposed; every
forward passes `**kwargs` down to that call (vLLM hands its attention instances through them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from tui.models.ja_alpha_config import JapaneseStableLMAlphaConfig, mlp_width

RotaryTables = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def rotary_tables(
    position_ids: torch.Tensor, config: JapaneseStableLMAlphaConfig, dtype: torch.dtype
) -> RotaryTables:
    """cos/sin for queries and keys at `position_ids` ([batch, seq]), each [batch, 1, seq, rotary_ndims].

    A pure function of the position ids (vLLM flattens every request of a batch into one row with their own
    positions), computed in float32 with the original's operations in the original's order (so float32 results
    match it bit for bit), then cast to the activation dtype as the original's `model.half()` does with its tables.
    """
    dim = config.rotary_ndims
    device = position_ids.device
    steps = torch.arange(0, dim, 2, device=device, dtype=torch.float32)
    inv_freq = 1.0 / (config.rotary_emb_base ** (steps / dim))
    scale = (steps + 0.4 * dim) / (1.4 * dim)
    t = position_ids.to(torch.float32)
    freqs = t.unsqueeze(-1) * inv_freq
    power = (t - config.max_position_embeddings // 2) / config.rotary_scale_base
    scale_at = scale ** power.unsqueeze(-1)
    cos, sin = torch.cos(freqs), torch.sin(freqs)
    tables = (cos * scale_at, sin * scale_at, cos / scale_at, sin / scale_at)
    # The original repeats each [.., dim / 2] table twice along the last axis (rotate-half layout).
    return tuple(torch.cat((x, x), dim=-1).unsqueeze(1).to(dtype) for x in tables)  # type: ignore[return-value]


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain attention with an additive float mask (None: causal, built here); output [batch, seq, heads, dim]."""
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask[..., : key.shape[-2]]
    elif query.shape[-2] > 1:
        q_len, k_len = query.shape[-2], key.shape[-2]
        future = torch.ones(q_len, k_len, dtype=torch.bool, device=query.device).triu(k_len - q_len + 1)
        scores = scores.masked_fill(future, torch.finfo(scores.dtype).min)
    weights = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


class JapaneseStableLMAlphaAttention(nn.Module):
    def __init__(self, config: JapaneseStableLMAlphaConfig, layer_idx: int) -> None:
        super().__init__()
        self.config = config
        self.layer_idx = int(layer_idx)
        self.head_size = config.head_size
        self.rotary_ndims = config.rotary_ndims
        self.scaling = float(self.head_size**-0.5)
        self.is_causal = True
        self.query_key_value = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=False)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, bias=False)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: RotaryTables,
        attention_mask: torch.Tensor | None,
        layer_past: Cache | None = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        input_shape = hidden_states.shape[:-1]
        # Per-head layout: -1 heads, so a tensor-parallel rank holding a slice of whole heads reshapes its own.
        qkv = self.query_key_value(hidden_states).view(*input_shape, -1, 3 * self.head_size).transpose(1, 2)
        query, key, value = qkv.split(self.head_size, dim=-1)

        cos, sin, cos_k, sin_k = position_embeddings
        r = self.rotary_ndims
        q_rot, k_rot = query[..., :r], key[..., :r]
        query = torch.cat((q_rot * cos + rotate_half(q_rot) * sin, query[..., r:]), dim=-1)
        key = torch.cat((k_rot * cos_k + rotate_half(k_rot) * sin_k, key[..., r:]), dim=-1)
        value = value.contiguous()

        if layer_past is not None:
            key, value = layer_past.update(key, value, self.layer_idx)

        attention_interface: Callable[..., tuple[torch.Tensor, torch.Tensor | None]] = eager_attention_forward
        if self.config._attn_implementation != "eager":
            attention_interface = ALL_ATTENTION_FUNCTIONS[self.config._attn_implementation]
        out, weights = attention_interface(
            self, query, key, value, attention_mask, dropout=0.0, scaling=self.scaling, **kwargs
        )
        return self.dense(out.reshape(*input_shape, -1).contiguous()), weights


class JapaneseStableLMAlphaMLP(nn.Module):
    """out_proj(up(x) * silu(gate(x))): the checkpoint's `packed_input_proj` holds (up, gate) stacked by rows."""

    def __init__(self, config: JapaneseStableLMAlphaConfig) -> None:
        super().__init__()
        width = mlp_width(config.hidden_size)
        self.gate_proj = nn.Linear(config.hidden_size, width, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, width, bias=False)
        self.out_proj = nn.Linear(width, config.hidden_size, bias=False)
        # A module, not F.silu: vLLM recognises `act(gate(x)) * up(x)` with a module activation as a gated MLP.
        self.act = ACT2FN["silu"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.up_proj(x) * self.act(self.gate_proj(x)))


class JapaneseStableLMAlphaLayer(GradientCheckpointingLayer):
    def __init__(self, config: JapaneseStableLMAlphaConfig, layer_idx: int) -> None:
        super().__init__()
        eps = config.layer_norm_eps
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=eps, elementwise_affine=False)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=eps)
        self.attention = JapaneseStableLMAlphaAttention(config, layer_idx)
        self.mlp = JapaneseStableLMAlphaMLP(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_embeddings: RotaryTables | None = None,
        layer_past: Cache | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        if position_embeddings is None:
            raise ValueError("position_embeddings (the rotary tables of the base model) are required")
        attn, _ = self.attention(
            self.input_layernorm(hidden_states), position_embeddings, attention_mask, layer_past, **kwargs
        )
        mlp = self.mlp(self.post_attention_layernorm(hidden_states))
        return hidden_states + mlp + attn  # the original's order of the sums
