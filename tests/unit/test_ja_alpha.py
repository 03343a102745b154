"""Our native Japanese StableLM Alpha against the ORIGINAL remote code's outputs on a tiny random checkpoint.

tests/fixtures/ja_alpha holds the checkpoint (original Hub layout and names) and what the original
modeling_japanese_stablelm_alpha.py produced on it under transformers 4.30.2 (README.md there says how).
Every test here would fail if a piece of the math (qkv layout, xPos, residual, MLP width, masks, positions, cache)
were wrong: the logits must agree to 1e-4 and every greedy token exactly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, DynamicCache

import tui.models
from tui.models import (
    MODEL_TYPE,
    ContextTooLongError,
    JapaneseStableLMAlphaConfig,
    JapaneseStableLMAlphaForCausalLM,
    load_config,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ja_alpha"
CHECKPOINT = FIXTURE / "checkpoint"
ATOL = 1e-4


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    record = json.loads((FIXTURE / "reference.json").read_text(encoding="utf-8"))
    record["logits"] = load_file(str(FIXTURE / "reference.safetensors"))
    return record


def _load(path: Path = CHECKPOINT, **kwargs: Any) -> Any:
    config = load_config(str(path))
    assert config is not None
    model = AutoModelForCausalLM.from_pretrained(str(path), config=config, trust_remote_code=False, **kwargs)
    return model.eval()


@pytest.fixture(scope="module", params=["sdpa", "eager"])
def model(request: pytest.FixtureRequest) -> Any:
    """Every exactness test runs once per attention kernel: torch's SDPA (the default) and the eager one."""
    loaded = _load(dtype=torch.float32, attn_implementation=request.param)
    assert loaded.config._attn_implementation == request.param
    return loaded


def _close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == theirs.shape
    diff = (ours.float() - theirs.float()).abs().max().item()
    assert diff < ATOL, f"max abs logit difference {diff:.3g} vs the original"


def _greedy_turns(
    model: Any, reference: dict[str, Any], keyword: str, positions: str
) -> tuple[DynamicCache, list[int], list[torch.Tensor], list[list[int]], list[torch.Tensor]]:
    """The fixture's three-turn conversation through one DynamicCache, fed like a chat engine feeds it."""
    inputs = reference["inputs"]
    cache = DynamicCache()
    fed: list[int] = []
    prefills: list[torch.Tensor] = []
    rows: list[torch.Tensor] = []
    replies: list[list[int]] = []
    pending: list[int] = []
    for text in [inputs["prompt"], *inputs["turns"]]:
        ids = pending + text
        reply: list[int] = []
        for k in range(inputs["reply_tokens"]):
            start = cache.get_seq_length()
            kwargs: dict[str, Any] = {keyword: cache, "use_cache": True}
            span = torch.arange(start, start + len(ids))
            if positions == "position_ids":
                kwargs["position_ids"] = span.unsqueeze(0)
            elif positions == "cache_position":
                kwargs["cache_position"] = span
            out = model(input_ids=torch.tensor([ids]), **kwargs)
            fed.extend(ids)
            if k == 0:
                prefills.append(out.logits[0])
            rows.append(out.logits[0, -1])
            reply.append(int(rows[-1].argmax()))
            ids = [reply[-1]]
        pending = ids
        replies.append(reply)
    return cache, fed, prefills, replies, rows


# -- loading -----------------------------------------------------------------------------------------------------


def converted(stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The Hub tensors under our module's names: the packed MLP input cut into (up, gate), the head renamed."""
    weights: dict[str, torch.Tensor] = {}
    for name, tensor in stored.items():
        if "rotary_emb" in name:
            continue
        if name.endswith("mlp.packed_input_proj.weight"):
            up, gate = tensor.chunk(2, dim=0)
            weights[name.replace("packed_input_proj", "up_proj")] = up
            weights[name.replace("packed_input_proj", "gate_proj")] = gate
        else:
            weights[name.replace("embed_out.", "lm_head.")] = tensor
    return weights


def test_hub_layout_loads_as_our_class_with_the_files_weights(model: Any) -> None:
    assert type(model) is JapaneseStableLMAlphaForCausalLM
    weights = converted(load_file(str(CHECKPOINT / "model.safetensors")))
    state = model.state_dict()
    assert set(state) == set(weights), "every checkpoint tensor must land in exactly one parameter"
    for name, tensor in weights.items():
        assert torch.equal(state[name], tensor), name
    # Nothing for meta-device initialisation to leave as garbage: position tables are computed per call.
    assert list(model.buffers()) == []


def test_hub_config_has_no_model_type_and_load_config_recognises_it() -> None:
    raw = json.loads((CHECKPOINT / "config.json").read_text(encoding="utf-8"))
    assert "model_type" not in raw and "auto_map" in raw
    config = load_config(str(CHECKPOINT))
    assert isinstance(config, JapaneseStableLMAlphaConfig)
    assert not hasattr(config, "auto_map"), "the remote-code pointer must not survive into our config"
    # Without our config, transformers asks for remote code: the reason load_config exists.
    with pytest.raises(ValueError, match="trust_remote_code"):
        AutoModelForCausalLM.from_pretrained(str(CHECKPOINT), trust_remote_code=False)


@pytest.mark.parametrize("trust_remote_code", [False, True, None])
def test_auto_classes_pick_ours_over_the_auto_map(tmp_path: Path, trust_remote_code: bool | None) -> None:
    """A config.json with our model_type AND the Hub's auto_map: never the remote code, whatever the flag.

    The directory has no remote .py files, so any attempt to run them would fail the load.
    """
    shutil.copytree(CHECKPOINT, tmp_path / "m")
    raw = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    raw["model_type"] = MODEL_TYPE
    (tmp_path / "m" / "config.json").write_text(json.dumps(raw), encoding="utf-8")
    config = AutoConfig.from_pretrained(str(tmp_path / "m"), trust_remote_code=trust_remote_code)
    assert type(config) is JapaneseStableLMAlphaConfig
    loaded = AutoModelForCausalLM.from_pretrained(str(tmp_path / "m"), trust_remote_code=trust_remote_code)
    assert type(loaded) is JapaneseStableLMAlphaForCausalLM


def test_save_pretrained_round_trip_needs_no_help(
    model: Any, tmp_path: Path, reference: dict[str, Any]
) -> None:
    model.save_pretrained(tmp_path / "saved")
    raw = json.loads((tmp_path / "saved" / "config.json").read_text(encoding="utf-8"))
    assert raw["model_type"] == MODEL_TYPE and "auto_map" not in raw
    # Saved in the original layout again (transformers reverses the conversion): the original code can load it.
    saved = load_file(str(tmp_path / "saved" / "model.safetensors"))
    original = {
        k: v for k, v in load_file(str(CHECKPOINT / "model.safetensors")).items() if "rotary_emb" not in k
    }
    assert set(saved) == set(original)
    assert all(torch.equal(saved[name], tensor) for name, tensor in original.items())
    again = AutoModelForCausalLM.from_pretrained(str(tmp_path / "saved")).eval()
    with torch.no_grad():
        _close(again(torch.tensor([reference["inputs"]["prompt"]])).logits[0], reference["logits"]["single"])


def test_device_map_auto_loads_real_weights(reference: dict[str, Any]) -> None:
    """device_map goes through meta-device initialisation (accelerate, a dependency): the results must still be
    the original's."""
    mapped = _load(dtype=torch.float32, device_map="auto")
    with torch.no_grad():
        _close(mapped(torch.tensor([reference["inputs"]["prompt"]])).logits[0], reference["logits"]["single"])


def test_7b_config_facts() -> None:
    config = JapaneseStableLMAlphaConfig()
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (4096, 32, 32)
    assert (config.vocab_size, config.max_position_embeddings, config.layer_norm_eps) == (65536, 2048, 1e-5)
    assert (config.intermediate_size, config.head_size, config.rotary_ndims) == (11008, 128, 32)
    assert (config.rotary_emb_base, config.rotary_scale_base) == (10000, 512)
    with pytest.raises(ValueError, match="intermediate_size"):
        JapaneseStableLMAlphaConfig(intermediate_size=16384)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="divisible"):
        JapaneseStableLMAlphaConfig(hidden_size=100, num_attention_heads=3)


def test_7b_shapes_on_meta_device() -> None:
    """The real model's parameter shapes, without allocating 7B parameters."""
    with torch.device("meta"):
        big = JapaneseStableLMAlphaForCausalLM(JapaneseStableLMAlphaConfig())
    shapes = {name: tuple(p.shape) for name, p in big.named_parameters()}
    assert shapes["transformer.embed_in.weight"] == (65536, 4096)
    assert shapes["transformer.layers.31.attention.query_key_value.weight"] == (3 * 4096, 4096)
    assert shapes["transformer.layers.0.mlp.gate_proj.weight"] == (11008, 4096)
    assert shapes["transformer.layers.0.mlp.up_proj.weight"] == (11008, 4096)
    assert shapes["transformer.layers.0.mlp.out_proj.weight"] == (4096, 11008)
    assert "transformer.layers.0.input_layernorm.weight" not in shapes
    assert shapes["lm_head.weight"] == (65536, 4096)
    assert sum(p.numel() for p in big.parameters()) == 7_013_146_624


# -- exactness against the original ------------------------------------------------------------------------------


@torch.no_grad()
def test_single_forward_pass(model: Any, reference: dict[str, Any]) -> None:
    out = model(torch.tensor([reference["inputs"]["prompt"]]), use_cache=False)
    _close(out.logits[0], reference["logits"]["single"])


@torch.no_grad()
def test_generate_greedy(model: Any, reference: dict[str, Any]) -> None:
    prompt = torch.tensor([reference["inputs"]["prompt"]])
    out = model.generate(
        prompt,
        max_new_tokens=reference["inputs"]["generate_tokens"],
        do_sample=False,
        output_scores=True,
        return_dict_in_generate=True,
        pad_token_id=0,
        eos_token_id=None,
    )
    assert out.sequences[0, prompt.shape[1] :].tolist() == reference["tokens"]["generate"]
    _close(torch.stack([s[0] for s in out.scores]), reference["logits"]["generate"])


@torch.no_grad()
@pytest.mark.parametrize("keyword", ["cache", "past_key_values"])
@pytest.mark.parametrize("positions", ["implicit", "position_ids", "cache_position"])
def test_multiturn_through_the_cache(
    model: Any, reference: dict[str, Any], keyword: str, positions: str
) -> None:
    cache, fed, prefills, replies, rows = _greedy_turns(model, reference, keyword, positions)
    assert replies == reference["tokens"]["multiturn_replies"]
    assert fed == reference["tokens"]["multiturn_fed"]
    assert cache.get_seq_length() == len(fed)
    for turn, logits in enumerate(prefills):
        _close(logits, reference["logits"][f"multiturn_prefill_{turn}"])
    _close(torch.stack(rows), reference["logits"]["multiturn_steps"])


@torch.no_grad()
def test_crop_to_common_prefix_then_continue(model: Any, reference: dict[str, Any]) -> None:
    cache, fed, *_ = _greedy_turns(model, reference, "cache", "implicit")
    keep = reference["inputs"]["crop_keep"]
    cache.crop(-(len(fed) - keep))  # transformers 5: a negative count removes that many trailing positions
    assert cache.get_seq_length() == keep
    out = model(input_ids=torch.tensor([reference["inputs"]["crop_suffix"]]), cache=cache)
    _close(out.logits[0], reference["logits"]["crop_suffix"])
    reply = [int(out.logits[0, -1].argmax())]
    rows = [out.logits[0, -1]]
    for _ in range(reference["inputs"]["reply_tokens"] - 1):
        out = model(input_ids=torch.tensor([[reply[-1]]]), cache=cache)
        rows.append(out.logits[0, -1])
        reply.append(int(rows[-1].argmax()))
    assert reply == reference["tokens"]["crop_reply"]
    _close(torch.stack(rows), reference["logits"]["crop_steps"])


@torch.no_grad()
def test_far_positions_up_to_the_2048_limit(model: Any, reference: dict[str, Any]) -> None:
    inputs = reference["inputs"]
    vocab = reference["sizes"]["vocab_size"]
    cache = DynamicCache()
    model(input_ids=torch.tensor([[(i * 37 + 11) % vocab for i in range(inputs["far_start"])]]), cache=cache)
    out = model(input_ids=torch.tensor([inputs["far_ids"]]), cache=cache, logits_to_keep=0)
    _close(out.logits[0], reference["logits"]["far"])
    reply = [int(out.logits[0, -1].argmax())]
    while cache.get_seq_length() < 2048:
        out = model(input_ids=torch.tensor([[reply[-1]]]), cache=cache, logits_to_keep=1)
        reply.append(int(out.logits[0, -1].argmax()))
    assert reply == reference["tokens"]["far_reply"]
    with pytest.raises(ContextTooLongError, match="at most 2048 tokens"):
        model(input_ids=torch.tensor([[reply[-1]]]), cache=cache)


@torch.no_grad()
def test_left_padded_batch_generate(model: Any, reference: dict[str, Any]) -> None:
    inputs = reference["inputs"]
    out = model.generate(
        torch.tensor(inputs["padded"]),
        attention_mask=torch.tensor(inputs["padded_mask"]),
        max_new_tokens=inputs["reply_tokens"],
        do_sample=False,
        output_scores=True,
        return_dict_in_generate=True,
        pad_token_id=0,
        eos_token_id=None,
    )
    assert out.sequences[:, len(inputs["padded"][0]) :].tolist() == reference["tokens"]["padded"]
    _close(torch.stack(out.scores, dim=1), reference["logits"]["padded"])


@torch.no_grad()
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_stays_close(reference: dict[str, Any], dtype: torch.dtype) -> None:
    half = _load(dtype=dtype)
    assert half.lm_head.weight.dtype == dtype
    logits = half(torch.tensor([reference["inputs"]["prompt"]])).logits[0].float()
    expected = reference["logits"]["single"]
    assert (logits - expected).abs().max().item() < 0.25
    assert torch.isfinite(logits).all()


def test_prompt_longer_than_the_model_says_so(model: Any) -> None:
    with pytest.raises(ContextTooLongError, match="2049"):
        model(input_ids=torch.zeros((1, 2049), dtype=torch.long))
    with pytest.raises(ContextTooLongError, match="position id 2048"):
        model(input_ids=torch.zeros((1, 1), dtype=torch.long), position_ids=torch.tensor([[2048]]))


def test_package_import_registers_the_architecture() -> None:
    assert type(AutoConfig.for_model(MODEL_TYPE)) is JapaneseStableLMAlphaConfig
    assert tui.models.JapaneseStableLMAlphaForCausalLM is JapaneseStableLMAlphaForCausalLM


@torch.no_grad()
def test_engine_prefill_and_decode_functions_drive_it(model: Any, reference: dict[str, Any]) -> None:
    """The engine's own step functions (keyword `cache`, logits_to_keep=1) reproduce the original's first turn."""
    from tui.engine.generation import decode_one_token, prefill

    cache = DynamicCache(config=model.config)  # as tui.engine.local makes it
    row = prefill(model, torch.tensor([reference["inputs"]["prompt"]]), cache)
    reply = [int(row.argmax())]
    for _ in range(reference["inputs"]["reply_tokens"] - 1):
        reply.append(int(decode_one_token(model, torch.tensor(reply[-1]), cache).argmax()))
    assert reply == reference["tokens"]["multiturn_replies"][0]
