"""prepare_serving_dir: a plain transformers model directory for external engines, built beside the demo model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tui.errors import UserError
from tui.presets import load_settings
from tui.serving.model_dir import prepare_serving_dir
from tui.tokenizers import HFJsonTokenizer, SentencePieceTokenizer

TEXTS = ["  two leading spaces", "<|endoftext|> typed", "改行\n\nと　全角ｽﾍﾟｰｽ 😀", " " * 30]


@pytest.fixture(scope="module")
def served_dirs(demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serving")
    preset = load_settings().preset("demo")
    return {mode: prepare_serving_dir(preset, mode, root=root) for mode in ("base", "instruct")}


def test_config_names_our_architecture_and_no_remote_code(served_dirs: dict[str, Path]) -> None:
    config = json.loads((served_dirs["base"] / "config.json").read_text())
    assert config["model_type"] == "japanese_stablelm_alpha"
    assert config["architectures"] == ["JapaneseStableLMAlphaForCausalLM"]
    assert "auto_map" not in config


def test_weights_hold_the_split_mlp_that_vllm_can_load(
    served_dirs: dict[str, Path], demo_models: dict[str, Path]
) -> None:
    from safetensors.torch import load_file

    for mode, directory in served_dirs.items():
        original = load_file(str(demo_models[mode] / "model.safetensors"))
        served = load_file(str(directory / "model.safetensors"))
        packed = original["transformer.layers.0.mlp.packed_input_proj.weight"]
        assert not any("packed_input_proj" in name for name in served)
        assert served["transformer.layers.0.mlp.up_proj.weight"].equal(packed.chunk(2)[0])
        assert served["transformer.layers.0.mlp.gate_proj.weight"].equal(packed.chunk(2)[1])
        assert served["embed_out.weight"].equal(original["embed_out.weight"])
        assert (directory / "generation_config.json").is_symlink()


def test_transformers_tokenizer_gives_the_sentencepiece_ids(
    served_dirs: dict[str, Path], nerdstash_model: Path
) -> None:
    from transformers import AutoTokenizer

    spm = SentencePieceTokenizer(nerdstash_model)
    ours = HFJsonTokenizer(served_dirs["base"] / "tokenizer.json", "<|endoftext|>")
    theirs = AutoTokenizer.from_pretrained(served_dirs["base"])
    assert theirs.eos_token_id == 3
    for text in TEXTS:
        ids = spm.encode(text)
        assert ours.encode(text) == ids
        # A server that tokenizes text (the fallback for servers that refuse id prompts) gets the same ids.
        assert theirs(text, add_special_tokens=True)["input_ids"] == ids
        assert theirs.decode(ids) == spm.decode(ids)
    assert theirs.decode([*spm.encode("end"), 3], skip_special_tokens=True) == "end"


def test_the_directory_loads_as_our_model_by_name(served_dirs: dict[str, Path]) -> None:
    from transformers import AutoModelForCausalLM

    import tui.models

    model = AutoModelForCausalLM.from_pretrained(served_dirs["instruct"])
    assert isinstance(model, tui.models.JapaneseStableLMAlphaForCausalLM)


def test_preparing_again_keeps_the_converted_tokenizer(served_dirs: dict[str, Path]) -> None:
    tokenizer_json = served_dirs["base"] / "tokenizer.json"
    before = tokenizer_json.stat().st_mtime_ns
    again = prepare_serving_dir(load_settings().preset("demo"), "base", root=served_dirs["base"].parent)
    assert again == served_dirs["base"]
    assert tokenizer_json.stat().st_mtime_ns == before


def test_a_missing_model_directory_is_refused_in_one_sentence(tmp_path: Path) -> None:
    preset = load_settings().preset("demo")
    missing = replace(preset, base=replace(preset.base, model=str(tmp_path / "nope")))
    with pytest.raises(UserError, match="no such directory"):
        prepare_serving_dir(missing, "base", root=tmp_path)
