"""Tiny random Japanese StableLM Alpha checkpoints in the original Hub layout.

The directory looks like a Hub snapshot of `stabilityai/japanese-stablelm-*-alpha-7b`: a config.json with the
original keys (an `auto_map` to remote code, no `model_type`), a generation_config.json and one safetensors file
whose tensor names are the original parameter names, including the two persistent buffers per layer
(`rotary_emb.inv_freq`, `rotary_emb.scale`) that the original code saves. The same directory therefore loads in
the original remote code (tests/fixtures/ja_alpha/make_reference.py) and in `tui.models` without conversion.

Only torch and safetensors are used here, no transformers: building one is a matter of milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from tui.models.ja_alpha import ARCHITECTURE, mlp_width

# What the Hub's config.json points at; we never run it, but a faithful copy must name it.
REMOTE_AUTO_MAP = {
    "AutoConfig": "configuration_japanese_stablelm_alpha.JapaneseStableLMAlphaConfig",
    "AutoModelForCausalLM": "modeling_japanese_stablelm_alpha.JapaneseStableLMAlphaForCausalLM",
}

# The 7B models (base, instruct, instruct v2); tiny checkpoints change only the sizes.
SEVEN_B_SIZES = {"vocab_size": 65536, "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32}
TINY_SIZES = {"vocab_size": 65536, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}


def original_config(
    vocab_size: int,
    hidden_size: int,
    num_hidden_layers: int,
    num_attention_heads: int,
    dtype: str = "float32",
) -> dict[str, Any]:
    """config.json as the original configuration class saves it (keys that differ from transformers' defaults)."""
    if hidden_size % num_attention_heads:
        raise ValueError(
            f"hidden_size {hidden_size} must be a multiple of num_attention_heads {num_attention_heads}"
        )
    if int(hidden_size // num_attention_heads * 0.25) < 2:
        raise ValueError("each head needs at least 8 dims so that rotary_pct 0.25 leaves a rotary pair")
    return {
        "architectures": [ARCHITECTURE],
        "auto_map": dict(REMOTE_AUTO_MAP),
        "bos_token_id": 3,
        "classifier_dropout": 0.1,
        "eos_token_id": 3,
        "hidden_act": "silu",
        "hidden_size": hidden_size,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 2048,
        "num_attention_heads": num_attention_heads,
        "num_hidden_layers": num_hidden_layers,
        "rotary_emb_base": 10000,
        "rotary_pct": 0.25,
        "rotary_scale_base": 512,
        "tie_word_embeddings": False,
        "torch_dtype": dtype,
        "transformers_version": "4.30.2",
        "use_bias_in_mlp": False,
        "use_cache": True,
        "use_parallel_residual": True,
        "vocab_size": vocab_size,
    }


def random_state_dict(config: dict[str, Any], seed: int) -> dict[str, torch.Tensor]:
    """Original tensor names and shapes, random values from `seed` (same seed, same bytes, on any machine).

    Scales keep activations O(1) through the layers so greedy choices are far from ties: tests compare greedy
    tokens exactly, and a random model with 0.02-std weights would have nearly flat logits.
    """
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    vocab = int(config["vocab_size"])
    width = mlp_width(hidden)
    rotary = int(hidden // heads * float(config["rotary_pct"]))
    gen = torch.Generator().manual_seed(seed)

    def normal(*shape: int, std: float) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * std

    def linear(out_features: int, in_features: int) -> torch.Tensor:
        return normal(out_features, in_features, std=in_features**-0.5)

    steps = torch.arange(0, rotary, 2, dtype=torch.float32)
    tensors: dict[str, torch.Tensor] = {"transformer.embed_in.weight": normal(vocab, hidden, std=1.0)}
    for i in range(int(config["num_hidden_layers"])):
        p = f"transformer.layers.{i}."
        tensors[p + "post_attention_layernorm.weight"] = 1.0 + normal(hidden, std=0.1)
        tensors[p + "post_attention_layernorm.bias"] = normal(hidden, std=0.1)
        tensors[p + "attention.query_key_value.weight"] = linear(3 * hidden, hidden)
        tensors[p + "attention.dense.weight"] = linear(hidden, hidden)
        tensors[p + "mlp.packed_input_proj.weight"] = linear(2 * width, hidden)
        tensors[p + "mlp.out_proj.weight"] = linear(hidden, width)
        # Persistent buffers in the original shards; values as the original computes them.
        tensors[p + "attention.rotary_emb.inv_freq"] = 1.0 / (
            int(config["rotary_emb_base"]) ** (steps / rotary)
        )
        tensors[p + "attention.rotary_emb.scale"] = (steps + 0.4 * rotary) / (1.4 * rotary)
    tensors["transformer.final_layer_norm.weight"] = 1.0 + normal(hidden, std=0.1)
    tensors["transformer.final_layer_norm.bias"] = normal(hidden, std=0.1)
    tensors["embed_out.weight"] = linear(vocab, hidden)
    return tensors


def build_tiny_checkpoint(
    out_dir: str | Path, seed: int, *, dtype: torch.dtype = torch.float32, **sizes: int
) -> Path:
    """Write a random Japanese StableLM Alpha model in the original layout to `out_dir`; return the directory.

    `sizes` override TINY_SIZES (vocab_size, hidden_size, num_hidden_layers, num_attention_heads). The default
    keeps the real 65536-token vocabulary so the nerdstash tokenizer's ids all fit (about 35 MB in float32,
    17 MB with dtype=torch.float16). Deterministic: the same seed and sizes give the same bytes.
    """
    unknown = set(sizes) - set(TINY_SIZES)
    if unknown:
        raise TypeError(f"unknown size argument(s): {', '.join(sorted(unknown))}")
    dims = {**TINY_SIZES, **sizes}
    dtype_name = str(dtype).removeprefix("torch.")
    config = original_config(dtype=dtype_name, **dims)
    tensors = {
        name: t if "rotary_emb" in name else t.to(dtype)
        for name, t in random_state_dict(config, seed).items()
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    generation = {
        "_from_model_config": True,
        "bos_token_id": 3,
        "eos_token_id": 3,
        "transformers_version": "4.30.2",
    }
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n", encoding="utf-8")
    save_file(
        {k: v.contiguous() for k, v in tensors.items()},
        str(out / "model.safetensors"),
        metadata={"format": "pt"},
    )
    return out
