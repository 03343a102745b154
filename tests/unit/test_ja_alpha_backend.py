"""What engines that run our class through transformers' attention interface rely on (vLLM, SGLang, transformers TP).

The tensor-parallel test shards one decoder layer by the config's `base_model_tp_plan` into two "ranks" by hand
(colwise: output rows split; rowwise: input columns split, partial outputs summed) and requires the same result as
the whole layer; the packed MLP input of the checkpoints, split the same way, would not give it.
"""

from __future__ import annotations

import copy
import fnmatch
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from transformers import AutoModel, AutoModelForCausalLM
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from tui.models import JapaneseStableLMAlphaConfig, JapaneseStableLMAlphaModel, load_config
from tui.models.ja_alpha_layers import eager_attention_forward, rotary_tables

CHECKPOINT = Path(__file__).resolve().parents[1] / "fixtures" / "ja_alpha" / "checkpoint"
RANKS = 2


@pytest.fixture(scope="module")
def model() -> Any:
    config = load_config(str(CHECKPOINT))
    return AutoModelForCausalLM.from_pretrained(str(CHECKPOINT), config=config, dtype=torch.float32).eval()


def test_model_classes_declare_the_attention_backend_and_the_base_model_is_an_auto_model() -> None:
    config = JapaneseStableLMAlphaConfig(
        hidden_size=64, num_attention_heads=4, num_hidden_layers=1, vocab_size=32
    )
    base = AutoModel.from_config(config)
    assert type(base) is JapaneseStableLMAlphaModel
    assert JapaneseStableLMAlphaModel._supports_attention_backend is True
    for i, layer in enumerate(base.layers):
        assert type(layer.attention.layer_idx) is int and layer.attention.layer_idx == i
        assert type(layer.attention.scaling) is float and layer.attention.scaling == 16**-0.5
        assert layer.attention.is_causal is True


@torch.no_grad()
def test_the_configured_attention_function_is_called_once_per_layer_with_kwargs(model: Any) -> None:
    """An engine's own kernel registered under a name: called with q/k/v [batch, heads, seq, dim], the mask,
    a float `scaling` and whatever keyword the caller passed at the top."""
    calls: list[dict[str, Any]] = []

    def engine_attention(
        module: nn.Module, query: Any, key: Any, value: Any, mask: Any, **kwargs: Any
    ) -> Any:
        calls.append({"layer": module.layer_idx, "shape": tuple(query.shape), **kwargs})
        return eager_attention_forward(module, query, key, value, mask, **kwargs)

    ALL_ATTENTION_FUNCTIONS["tui_test_engine"] = engine_attention
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    expected = model(ids).logits
    engine = copy.deepcopy(model)
    engine.config._attn_implementation = "tui_test_engine"
    got = engine(ids, engine_token="passed through").logits
    assert torch.allclose(got, expected, atol=1e-5)
    config = model.config
    assert [c["layer"] for c in calls] == list(range(config.num_hidden_layers))
    assert {c["shape"] for c in calls} == {(1, config.num_attention_heads, 5, config.head_size)}
    assert all(c["engine_token"] == "passed through" and isinstance(c["scaling"], float) for c in calls)


def _plan_style(name: str, plan: dict[str, str]) -> str | None:
    return next((style for pattern, style in plan.items() if fnmatch.fnmatch(name, pattern)), None)


def _rank_layer(layer: nn.Module, rank: int, prefix: str, plan: dict[str, str]) -> nn.Module:
    """The part of `layer` that one of RANKS tensor-parallel ranks holds under `plan`."""
    local = copy.deepcopy(layer)
    for name, module in local.named_modules():
        style = _plan_style(f"{prefix}.{name}", plan)
        if not isinstance(module, nn.Linear) or style is None:
            continue
        dim = 0 if style == "colwise" else 1
        module.weight = nn.Parameter(module.weight.chunk(RANKS, dim=dim)[rank].clone())
    return local


@torch.no_grad()
def test_tensor_parallel_plan_shards_a_layer_without_changing_it(model: Any) -> None:
    config, base = model.config, model.transformer
    plan = config.base_model_tp_plan
    assert _plan_style("layers.0.attention.query_key_value", plan) == "colwise"
    assert _plan_style("layers.0.mlp.out_proj", plan) == "rowwise"
    hidden = torch.randn(1, 6, config.hidden_size, generator=torch.Generator().manual_seed(0))
    rotary = rotary_tables(torch.arange(6).unsqueeze(0), config, hidden.dtype)
    layer = base.layers[1]
    whole = layer(hidden, attention_mask=None, position_embeddings=rotary)
    partial_sum = hidden.clone()
    for rank in range(RANKS):
        local = _rank_layer(layer, rank, "layers.1", plan)
        attn, _ = local.attention(local.input_layernorm(hidden), rotary, None)
        partial_sum += attn + local.mlp(local.post_attention_layernorm(hidden))
    assert torch.allclose(partial_sum, whole, atol=1e-5)


@torch.no_grad()
def test_a_colwise_split_of_the_packed_mlp_input_would_be_wrong(model: Any) -> None:
    """Why the checkpoint's packed (up, gate) rows are cut into two linears: rank 0 would get only up rows."""
    mlp = model.transformer.layers[0].mlp
    packed = torch.cat((mlp.up_proj.weight, mlp.gate_proj.weight))
    x = torch.randn(3, packed.shape[1], generator=torch.Generator().manual_seed(1))
    whole = mlp(x)
    out_halves = mlp.out_proj.weight.chunk(RANKS, dim=1)
    naive = sum(
        nn.functional.linear(
            (lambda ff_gate: ff_gate[0] * nn.functional.silu(ff_gate[1]))(
                nn.functional.linear(x, rows).chunk(2, dim=-1)
            ),
            out_rows,
        )
        for rows, out_rows in zip(packed.chunk(RANKS), out_halves, strict=True)
    )
    assert not torch.allclose(naive, whole, atol=1e-3)


def test_gradient_checkpointing_gives_the_same_gradients(model: Any) -> None:
    ids = torch.tensor([[11, 12, 13, 14, 15, 16]])
    grads = []
    for checkpointing in (False, True):
        trained = copy.deepcopy(model).train()
        if checkpointing:
            trained.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            assert all(layer.gradient_checkpointing for layer in trained.transformer.layers)
        trained(ids, labels=ids).loss.backward()
        grads.append(trained.transformer.layers[0].mlp.gate_proj.weight.grad)
    assert grads[1] is not None and torch.allclose(grads[0], grads[1], atol=1e-6)
