"""Japanese StableLM Alpha (`JapaneseStableLMAlphaForCausalLM`) as a native transformers 5 model.

The Hub repositories ship this architecture as `trust_remote_code` written for transformers 4.30, which does not
run on transformers 5 (it calls `get_head_mask`, keeps a tuple KV cache, and its cos/sin/mask buffers are left
uninitialised by meta-device loading). This module re-implements the same math, verified against the original
code on a tiny random checkpoint (tests/fixtures/ja_alpha, tests/unit/test_ja_alpha.py):

- fused `query_key_value` laid out per head as [heads, 3 * head_size] (q, k, v of one head are adjacent);
- rotary embedding on the first `rotary_pct` of each head, rotate-half layout, with xPos scaling: frequency i gets
  s_i = (2i + 0.4 d) / (1.4 d) for d rotary dims; queries are multiplied by s^((m - C) / scale_base) and keys by
  s^(-(n - C) / scale_base), C = max_position_embeddings // 2;
- always a parallel residual: x + attn(LN1(x)) + mlp(LN2(x)), LN1 without parameters, LN2 with weight and bias;
- a gated SiLU MLP whose width is derived from hidden_size (8/3 rounded up to a multiple of 256), whatever the
  config says.

Parameter names equal the original checkpoint names, so its `.bin` or safetensors shards load as they are. The
position tables are computed from the position ids on every forward pass (a few hundred multiplications), so there
are no buffers for meta-device initialisation to leave uninitialised.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

MODEL_TYPE = "japanese_stablelm_alpha"
ARCHITECTURE = "JapaneseStableLMAlphaForCausalLM"
MLP_MULTIPLE_OF = 256


def mlp_width(hidden_size: int) -> int:
    """The MLP width the original code derives from hidden_size (11008 for 4096); the config cannot change it."""
    ff_dim = int(8 * hidden_size / 3)
    return MLP_MULTIPLE_OF * ((ff_dim + MLP_MULTIPLE_OF - 1) // MLP_MULTIPLE_OF)


class ContextTooLongError(ValueError):
    """Prompt plus reply went past the positions the model was trained on (2048 for the 7B models)."""


class JapaneseStableLMAlphaConfig(PretrainedConfig):
    """The configuration keys of the original `configuration_japanese_stablelm_alpha.py`, same names and defaults.

    The Hub config.json carries no `model_type` (the original class never set one), so `tui.models.load_config`
    recognises those files by their `architectures` entry; configs saved by this class carry `MODEL_TYPE`.
    """

    model_type = MODEL_TYPE
    keys_to_ignore_at_inference: ClassVar[list[str]] = ["cache", "past_key_values"]

    vocab_size: int = 65536
    hidden_size: int = 4096
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    hidden_act: str = "silu"
    """Recorded for compatibility: the original MLP always uses SiLU."""
    rotary_pct: float = 0.25
    rotary_emb_base: int = 10000
    rotary_scale_base: int = 512
    classifier_dropout: float = 0.1
    max_position_embeddings: int = 2048
    """Also sets the xPos centre (max_position_embeddings // 2): changing it changes every attention score."""
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-5
    use_cache: bool = True
    bos_token_id: int | None = 3
    eos_token_id: int | list[int] | None = 3
    pad_token_id: int | None = None
    tie_word_embeddings: bool = False
    use_parallel_residual: bool = True
    """Recorded for compatibility: the original block is always parallel."""
    use_bias_in_mlp: bool = True
    """Recorded for compatibility: the original MLP has no biases."""

    def __post_init__(self, **kwargs: Any) -> None:
        # The auto_map of a Hub config names remote code that we never run; keeping it would make a saved copy
        # point at that code again.
        kwargs.pop("auto_map", None)
        given_width = kwargs.pop("intermediate_size", None)
        super().__post_init__(**kwargs)
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_attention_heads}"
            )
        if given_width is not None and int(given_width) != mlp_width(self.hidden_size):
            raise ValueError(
                f"intermediate_size {given_width} does not match the width Japanese StableLM Alpha derives from "
                f"hidden_size {self.hidden_size} ({mlp_width(self.hidden_size)})"
            )

    @property
    def intermediate_size(self) -> int:
        return mlp_width(self.hidden_size)

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def rotary_ndims(self) -> int:
        return int(self.head_size * self.rotary_pct)


def rotary_tables(
    position_ids: torch.Tensor, config: JapaneseStableLMAlphaConfig, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """cos/sin for queries and keys at `position_ids` ([batch, seq]), each [batch, 1, seq, rotary_ndims].

    Computed in float32 with the original's operations in the original's order (so float32 results match it
    bit for bit), then cast to the activation dtype as the original's `model.half()` does with its tables.
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


class JapaneseStableLMAlphaAttention(nn.Module):
    def __init__(self, config: JapaneseStableLMAlphaConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.head_size = config.head_size
        self.rotary_ndims = config.rotary_ndims
        self.query_key_value = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=False)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, bias=False)

    def forward(
        self,
        hidden_states: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
        attn_mask: torch.Tensor | None,
        cache: Cache | None,
    ) -> torch.Tensor:
        batch, length, _ = hidden_states.shape
        qkv = self.query_key_value(hidden_states).view(batch, length, self.num_heads, 3 * self.head_size)
        qkv = qkv.permute(0, 2, 1, 3)  # [batch, heads, seq, 3 * head_size]
        query, key, value = qkv.split(self.head_size, dim=-1)

        cos, sin, cos_k, sin_k = rotary
        r = self.rotary_ndims
        q_rot, k_rot = query[..., :r], key[..., :r]
        query = torch.cat((q_rot * cos + rotate_half(q_rot) * sin, query[..., r:]), dim=-1)
        key = torch.cat((k_rot * cos_k + rotate_half(k_rot) * sin_k, key[..., r:]), dim=-1)
        value = value.contiguous()

        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)

        out = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=attn_mask,
            is_causal=attn_mask is None and query.shape[-2] > 1,
            scale=1.0 / math.sqrt(self.head_size),
        )
        out = out.permute(0, 2, 1, 3).reshape(batch, length, self.num_heads * self.head_size)
        return self.dense(out)


class JapaneseStableLMAlphaMLP(nn.Module):
    def __init__(self, config: JapaneseStableLMAlphaConfig) -> None:
        super().__init__()
        width = mlp_width(config.hidden_size)
        self.packed_input_proj = nn.Linear(config.hidden_size, 2 * width, bias=False)
        self.out_proj = nn.Linear(width, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ff, gate = self.packed_input_proj(x).chunk(2, dim=-1)
        return self.out_proj(ff * F.silu(gate))


class JapaneseStableLMAlphaLayer(nn.Module):
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
        rotary: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
        attn_mask: torch.Tensor | None,
        cache: Cache | None,
    ) -> torch.Tensor:
        attn = self.attention(self.input_layernorm(hidden_states), rotary, attn_mask, cache)
        mlp = self.mlp(self.post_attention_layernorm(hidden_states))
        return hidden_states + mlp + attn  # the original's order of the sums


class JapaneseStableLMAlphaPreTrainedModel(PreTrainedModel):
    config_class = JapaneseStableLMAlphaConfig
    config: JapaneseStableLMAlphaConfig
    base_model_prefix = "transformer"
    main_input_name = "input_ids"
    _no_split_modules = ["JapaneseStableLMAlphaLayer"]  # noqa: RUF012 - transformers reads these class attributes
    _supports_sdpa = True
    _skip_keys_device_placement = ["cache", "past_key_values"]  # noqa: RUF012 - transformers reads these class attributes
    # Persistent buffers of the original code, present in the Hub shards; our tables are computed per call.
    _keys_to_ignore_on_load_unexpected = [  # noqa: RUF012 - transformers reads these class attributes
        r"rotary_emb\.inv_freq",
        r"rotary_emb\.scale",
        r"attention\.bias",
    ]


class JapaneseStableLMAlphaModel(JapaneseStableLMAlphaPreTrainedModel):
    def __init__(self, config: JapaneseStableLMAlphaConfig) -> None:
        super().__init__(config)
        self.embed_in = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(
            JapaneseStableLMAlphaLayer(config, i) for i in range(config.num_hidden_layers)
        )
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_in

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.embed_in = value  # type: ignore[assignment]

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        cache_position: torch.LongTensor | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPast:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embed_in(input_ids)
        hidden_states = inputs_embeds
        length = hidden_states.shape[1]
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = DynamicCache()
        past = cache.get_seq_length() if cache is not None else 0
        total = past + length
        limit = self.config.max_position_embeddings
        if total > limit:
            raise ContextTooLongError(
                f"Japanese StableLM Alpha reads at most {limit} tokens (prompt plus reply); this step needs {total}"
            )
        device = hidden_states.device
        if attention_mask is not None and attention_mask.dim() != 2:
            raise ValueError(
                "attention_mask must be [batch, past + new tokens] of 1 (attend) and 0 (padding)"
            )
        padded = attention_mask is not None and not bool(attention_mask.all())
        if position_ids is None:
            positions = _positions(attention_mask if padded else None, cache_position, past, length, device)
        else:
            positions = position_ids.view(-1, length).to(device)
            if int(positions.max()) >= limit:
                raise ContextTooLongError(
                    f"Japanese StableLM Alpha has {limit} positions; position id {int(positions.max())} is past them"
                )
        rotary = rotary_tables(positions, self.config, hidden_states.dtype)
        attn_mask = _attention_mask(
            attention_mask if padded else None, past, length, hidden_states.dtype, device
        )

        for layer in self.layers:
            hidden_states = layer(hidden_states, rotary, attn_mask, cache)
        hidden_states = self.final_layer_norm(hidden_states)
        return BaseModelOutputWithPast(last_hidden_state=hidden_states, cache=cache if use_cache else None)


def _positions(
    attention_mask: torch.Tensor | None,
    cache_position: torch.Tensor | None,
    past: int,
    length: int,
    device: torch.device,
) -> torch.Tensor:
    """Position ids as the original's generate() makes them: running count of real tokens (left padding)."""
    if attention_mask is not None:
        positions = attention_mask.long().cumsum(-1) - 1
        positions = positions.masked_fill(attention_mask == 0, 1)
        return positions[:, -length:].to(device)
    if cache_position is not None:
        return cache_position.view(1, -1).to(device)
    return torch.arange(past, past + length, device=device).unsqueeze(0)


def _attention_mask(
    padding: torch.Tensor | None, past: int, length: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor | None:
    """None when SDPA's own causal flag (or no mask, for one new token) is exact; else an additive float mask.

    A float mask with the dtype's minimum (not -inf, not booleans) keeps rows that see only padding finite, as the
    original does.
    """
    if padding is None and (past == 0 or length == 1):
        return None
    total = past + length
    query_pos = torch.arange(past, total, device=device).unsqueeze(-1)
    allowed = torch.arange(total, device=device).unsqueeze(0) <= query_pos  # [length, total]
    allowed = allowed.view(1, 1, length, total)
    if padding is not None:
        if padding.shape[-1] != total:
            raise ValueError(
                f"attention_mask covers {padding.shape[-1]} positions, expected past + new = {total}"
            )
        allowed = allowed & padding.bool().to(device).view(padding.shape[0], 1, 1, total)
    zero = torch.zeros((), dtype=dtype, device=device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)


class JapaneseStableLMAlphaForCausalLM(JapaneseStableLMAlphaPreTrainedModel, GenerationMixin):
    def __init__(self, config: JapaneseStableLMAlphaConfig) -> None:
        super().__init__(config)
        self.transformer = JapaneseStableLMAlphaModel(config)
        self.embed_out = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.transformer.embed_in

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.transformer.embed_in = value  # type: ignore[assignment]

    def get_output_embeddings(self) -> nn.Linear:
        return self.embed_out

    def set_output_embeddings(self, new_embeddings: nn.Module) -> None:
        self.embed_out = new_embeddings  # type: ignore[assignment]

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        cache_position: torch.LongTensor | None = None,
        logits_to_keep: int = 0,
        past_key_values: Cache | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        """`past_key_values` is the pre-5.2x name of `cache`; either works."""
        if past_key_values is not None:
            if cache is not None and cache is not past_key_values:
                raise ValueError("pass the KV cache once, as `cache` (or the older name `past_key_values`)")
            cache = past_key_values
        out = self.transformer(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            cache_position=cache_position,
        )
        hidden = out.last_hidden_state
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:, :]
        logits = self.embed_out(hidden)
        loss = None
        if labels is not None:
            shifted = logits[:, :-1, :].float()
            loss = F.cross_entropy(
                shifted.reshape(-1, shifted.shape[-1]), labels[:, 1:].reshape(-1).to(logits.device)
            )
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=out.cache)
