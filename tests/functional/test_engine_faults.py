"""Load faults become one clear sentence (EngineError), checked against the real failures where we can cause them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tui.engine.errors import EngineError, explain_generation_error, explain_load_error
from tui.engine.loading import LoadOptions, load_model


def one_sentence(message: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert len(message) < 300


def test_corrupt_shard(demo_models: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(demo_models["base"], broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(EngineError, match="corrupt or incomplete") as info:
        load_model(str(broken), LoadOptions())
    one_sentence(str(info.value))


def test_garbage_header(demo_models: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "garbage"
    shutil.copytree(demo_models["base"], broken)
    (broken / "model.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(EngineError, match="corrupt or incomplete"):
        load_model(str(broken), LoadOptions())


def test_hub_model_without_network_or_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(
        EngineError, match="not in the local Hugging Face cache and the hub cannot be reached"
    ) as info:
        load_model("stabilityai/japanese-stablelm-base-alpha-7b", LoadOptions(local_files_only=True))
    one_sentence(str(info.value))


def test_not_a_model_directory(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"no config\.json"):
        load_model(str(tmp_path), LoadOptions())


def test_quantization_needs_a_gpu_here(demo_models: dict[str, Path]) -> None:
    with pytest.raises(EngineError, match="int8 quantization needs a CUDA GPU"):
        load_model(str(demo_models["base"]), LoadOptions(device="cpu", quantization="int8"))


def test_gated_repo_error_names_the_fix() -> None:
    import httpx
    from huggingface_hub.errors import GatedRepoError

    response = httpx.Response(403, request=httpx.Request("GET", "https://huggingface.co/stabilityai/x"))
    raw = GatedRepoError("Access to model stabilityai/x is restricted.", response=response)  # type: ignore[arg-type]
    # transformers re-raises it as an OSError with this wording
    wrapped = OSError("You are trying to access a gated repo.\nMake sure to have access to it at ...")
    for exc in (raw, wrapped):
        message = explain_load_error(exc, "stabilityai/x")
        assert "gated" in message and "license" in message and "HF_TOKEN" in message


def test_out_of_memory_says_what_to_change() -> None:
    import torch

    for message in (
        explain_load_error(torch.OutOfMemoryError("CUDA out of memory"), "m"),
        explain_generation_error(torch.OutOfMemoryError("CUDA out of memory")),
    ):
        assert "memory" in message and "window" in message and "quantiz" in message and "residency" in message
        one_sentence(message)
