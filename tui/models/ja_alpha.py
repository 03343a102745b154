"""Japanese StableLM Alpha (`JapaneseStableLMAlphaForCausalLM`) as a native transformers 5 model.

The Hub repositories ship this architecture as `trust_remote_code` written for transformers 4.30, which does not
run on transformers 5 (it calls `get_head_mask`, keeps a tuple KV cache, and its cos/sin/mask buffers are left
uninitialised by meta-device loading). This package re-implements the same math, verified against the original
code on a tiny random checkpoint (tests/fixtures/ja_alpha, tests/unit/test_ja_alpha.py):

- fused `query_key_value` laid out per head as [heads, 3 * head_size] (q, k, v of one head are adjacent);
- rotary embedding on the first `rotary_pct` of each head, rotate-half layout, with xPos scaling: frequency i gets
  s_i = (2i + 0.4 d) / (1.4 d) for d rotary dims; queries are multiplied by s^((m - C) / scale_base) and keys by
  s^(-(n - C) / scale_base), C = max_position_embeddings // 2;
- always a parallel residual: x + attn(LN1(x)) + mlp(LN2(x)), LN1 without parameters, LN2 with weight and bias;
- a gated SiLU MLP whose width is derived from hidden_size (8/3 rounded up to a multiple of 256), whatever the
  config says.

The module follows transformers' attention interface (tui/models/ja_alpha_layers.py), so the attention kernel is
chosen by `attn_implementation` ("sdpa" by default, "eager", or an engine's own, as vLLM's Transformers backend
sets). Two names differ from the checkpoints, converted at load time (tui/models/conversion.py): the packed MLP
input `packed_input_proj` becomes `gate_proj` + `up_proj`, and the head `embed_out` becomes `lm_head`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from tui.models.compat import cache_of, causal_mask, with_cache
from tui.models.ja_alpha_config import (
    ARCHITECTURE,
    MLP_MULTIPLE_OF,
    MODEL_TYPE,
    JapaneseStableLMAlphaConfig,
    mlp_width,
)
from tui.models.ja_alpha_layers import JapaneseStableLMAlphaLayer, rotary_tables

__all__ = [
    "ARCHITECTURE",
    "MLP_MULTIPLE_OF",
    "MODEL_TYPE",
    "ContextTooLongError",
    "JapaneseStableLMAlphaConfig",
    "JapaneseStableLMAlphaForCausalLM",
    "JapaneseStableLMAlphaModel",
    "mlp_width",
    "rotary_tables",
]


class ContextTooLongError(ValueError):
    """Prompt plus reply went past the positions the model was trained on (2048 for the 7B models)."""


class JapaneseStableLMAlphaPreTrainedModel(PreTrainedModel):
    config_class = JapaneseStableLMAlphaConfig
    config: JapaneseStableLMAlphaConfig
    base_model_prefix = "transformer"
    main_input_name = "input_ids"
    _no_split_modules = ["JapaneseStableLMAlphaLayer"]  # noqa: RUF012 - transformers reads these class attributes
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_attention_backend = True
    """vLLM and SGLang run this class through their Transformers backend only when this is set."""
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
        self.gradient_checkpointing = False
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
        past_key_values: Cache | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPast:
        """`past_key_values` is the name transformers before 5.2x gives `cache`; either works."""
        cache = _one_cache(cache, past_key_values)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embed_in(input_ids)
        hidden_states = inputs_embeds
        length = hidden_states.shape[1]
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if self.gradient_checkpointing and self.training:
            use_cache = False  # the backward pass replays each layer: a cache would be written twice
        if use_cache and cache is None:
            cache = DynamicCache()
        if not use_cache:
            cache = None
        past = cache.get_seq_length() if cache is not None else 0
        limit = self.config.max_position_embeddings
        checking = (
            not torch.compiler.is_compiling()
        )  # engines that compile the model check lengths themselves
        if checking and past + length > limit:
            raise ContextTooLongError(
                f"Japanese StableLM Alpha reads at most {limit} tokens (prompt plus reply); "
                f"this step needs {past + length}"
            )
        device = hidden_states.device
        if attention_mask is not None and attention_mask.dim() != 2:
            raise ValueError(
                "attention_mask must be [batch, past + new tokens] of 1 (attend) and 0 (padding)"
            )
        padded = attention_mask is not None and (not checking or not bool(attention_mask.all()))
        steps = torch.arange(past, past + length, device=device) if cache_position is None else cache_position
        if position_ids is None:
            positions = _positions(attention_mask if padded else None, steps, length)
        else:
            positions = position_ids.view(-1, length).to(device)
            if checking and int(positions.max()) >= limit:
                raise ContextTooLongError(
                    f"Japanese StableLM Alpha has {limit} positions; position id {int(positions.max())} is "
                    "past them"
                )
        # One new token without padding sees every cached position: nothing to mask, so no per-token mask work.
        one_step = length == 1 and not padded
        mask = (
            None
            if one_step
            else causal_mask(self.config, hidden_states, attention_mask, cache, positions, steps)
        )
        position_embeddings = rotary_tables(positions, self.config, hidden_states.dtype)
        for layer in self.layers:
            hidden_states = layer(
                hidden_states,
                attention_mask=mask,
                position_embeddings=position_embeddings,
                layer_past=cache,
                position_ids=positions,
                **kwargs,
            )
        hidden_states = self.final_layer_norm(hidden_states)
        return with_cache(BaseModelOutputWithPast, cache, last_hidden_state=hidden_states)


def _one_cache(cache: Cache | None, past_key_values: Cache | None) -> Cache | None:
    if past_key_values is None:
        return cache
    if cache is not None and cache is not past_key_values:
        raise ValueError("pass the KV cache once, as `cache` (or the older name `past_key_values`)")
    return past_key_values


def _positions(
    attention_mask: torch.Tensor | None, cache_position: torch.Tensor, length: int
) -> torch.Tensor:
    """Position ids as the original's generate() makes them: running count of real tokens (left padding)."""
    if attention_mask is not None:
        positions = attention_mask.long().cumsum(-1) - 1
        positions = positions.masked_fill(attention_mask == 0, 1)
        return positions[:, -length:].to(cache_position.device)
    return cache_position.view(1, -1)


class JapaneseStableLMAlphaForCausalLM(JapaneseStableLMAlphaPreTrainedModel, GenerationMixin):
    _tp_plan = {"lm_head": "colwise_rep"}  # noqa: RUF012 - transformers reads these class attributes
    _pp_plan = {"lm_head": (["hidden_states"], ["logits"])}  # type: ignore[dict-item]  # noqa: RUF012 - read by transformers

    def __init__(self, config: JapaneseStableLMAlphaConfig) -> None:
        super().__init__(config)
        self.transformer = JapaneseStableLMAlphaModel(config)
        # `embed_out` in the checkpoints: renamed at load time, the name vLLM's Transformers backend builds.
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.transformer.embed_in

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.transformer.embed_in = value  # type: ignore[assignment]

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings: nn.Module) -> None:
        self.lm_head = new_embeddings

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
        """`past_key_values` is the name transformers before 5.2x gives `cache`; either works."""
        out = self.transformer(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=_one_cache(cache, past_key_values),
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            cache_position=cache_position,
            **kwargs,
        )
        hidden = out.last_hidden_state
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:, :]
        logits = self.lm_head(hidden)
        loss = None
        if labels is not None:
            shifted = logits[:, :-1, :].float()
            loss = F.cross_entropy(
                shifted.reshape(-1, shifted.shape[-1]), labels[:, 1:].reshape(-1).to(logits.device)
            )
        return with_cache(CausalLMOutputWithPast, cache_of(out), loss=loss, logits=logits)
