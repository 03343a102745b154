"""Serving weights: files with the packed MLP input are rewritten split (once), the others linked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tui.errors import UserError
from tui.serving.weights import INDEX, place_weights

PACKED = "transformer.layers.0.mlp.packed_input_proj.weight"


def two_shards(source: Path) -> dict[str, torch.Tensor]:
    source.mkdir()
    first = {PACKED: torch.arange(24.0).view(6, 4), "transformer.embed_in.weight": torch.ones(3, 4)}
    second = {"embed_out.weight": torch.full((3, 4), 2.0)}
    save_file(first, str(source / "model-00001-of-00002.safetensors"))
    save_file(second, str(source / "model-00002-of-00002.safetensors"))
    return first | second


def test_the_shard_with_the_packed_mlp_is_split_and_the_other_linked(tmp_path: Path) -> None:
    tensors = two_shards(tmp_path / "src")
    target = tmp_path / "served"
    target.mkdir()
    place_weights(tmp_path / "src", target)
    first, second = target / "model-00001-of-00002.safetensors", target / "model-00002-of-00002.safetensors"
    assert not first.is_symlink() and second.is_symlink()
    split = load_file(str(first))
    assert split["transformer.layers.0.mlp.up_proj.weight"].equal(tensors[PACKED][:3])
    assert split["transformer.layers.0.mlp.gate_proj.weight"].equal(tensors[PACKED][3:])
    assert PACKED not in split
    weight_map = json.loads((target / INDEX).read_text())["weight_map"]
    assert weight_map["embed_out.weight"] == second.name
    assert weight_map["transformer.layers.0.mlp.gate_proj.weight"] == first.name


def test_an_unchanged_source_is_not_rewritten_again(tmp_path: Path) -> None:
    two_shards(tmp_path / "src")
    target = tmp_path / "served"
    target.mkdir()
    place_weights(tmp_path / "src", target)
    rewritten = target / "model-00001-of-00002.safetensors"
    before = rewritten.stat().st_mtime_ns
    place_weights(tmp_path / "src", target)
    assert rewritten.stat().st_mtime_ns == before


def test_bin_checkpoints_become_split_safetensors(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    torch.save(
        {PACKED: torch.arange(8.0).view(4, 2), "embed_out.weight": torch.ones(2, 2)},
        source / "pytorch_model.bin",
    )
    target = tmp_path / "served"
    target.mkdir()
    place_weights(source, target)
    split = load_file(str(target / "pytorch_model.safetensors"))
    assert set(split) == {
        "transformer.layers.0.mlp.up_proj.weight",
        "transformer.layers.0.mlp.gate_proj.weight",
        "embed_out.weight",
    }
    assert not (target / INDEX).exists()


def test_a_directory_without_weights_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no weight files"):
        place_weights(tmp_path, tmp_path)
