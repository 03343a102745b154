"""The tiny-checkpoint builder and the one-sentence load errors of tui.models."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
import torch
from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from tui.engine.errors import explain_load_error
from tui.models import ContextTooLongError, build_tiny_checkpoint, load_config
from tui.models.checkpoint import original_config

FIXTURE_CHECKPOINT = Path(__file__).resolve().parents[1] / "fixtures" / "ja_alpha" / "checkpoint"
INSTRUCT = "stabilityai/japanese-stablelm-instruct-alpha-7b"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- build_tiny_checkpoint ---------------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path: Path) -> None:
    sizes: dict[str, Any] = {
        "vocab_size": 512,
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
    }
    a = build_tiny_checkpoint(tmp_path / "a", seed=7, **sizes)
    b = build_tiny_checkpoint(tmp_path / "b", seed=7, **sizes)
    c = build_tiny_checkpoint(tmp_path / "c", seed=8, **sizes)
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        assert _digest(a / name) == _digest(b / name)
    assert _digest(a / "model.safetensors") != _digest(c / "model.safetensors")


def test_fixture_checkpoint_is_what_the_builder_makes(tmp_path: Path) -> None:
    """The committed fixture can be rebuilt bit for bit (make_reference.py build uses these arguments)."""
    raw = json.loads((FIXTURE_CHECKPOINT / "config.json").read_text(encoding="utf-8"))
    sizes = {k: raw[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")}
    record = json.loads((FIXTURE_CHECKPOINT.parent / "reference.json").read_text(encoding="utf-8"))
    rebuilt = build_tiny_checkpoint(tmp_path / "m", seed=record["seed"], **sizes)
    assert _digest(rebuilt / "model.safetensors") == record["produced_by"]["checkpoint_sha256"]
    assert (rebuilt / "config.json").read_text() == (FIXTURE_CHECKPOINT / "config.json").read_text()


def test_default_demo_size_is_fast_and_loads(tmp_path: Path) -> None:
    started = time.perf_counter()
    out = build_tiny_checkpoint(tmp_path / "demo", seed=1234, dtype=torch.float16)
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, f"building the demo-size checkpoint took {elapsed:.1f} s"
    config = load_config(str(out))
    assert config is not None and config.vocab_size == 65536  # every nerdstash id fits
    model = AutoModelForCausalLM.from_pretrained(str(out), config=config, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(torch.tensor([[3, 1000, 65535]])).logits
    assert logits.shape == (1, 3, 65536) and torch.isfinite(logits).all()
    stored = load_file(str(out / "model.safetensors"))
    assert stored["embed_out.weight"].dtype == torch.float16
    assert stored["transformer.layers.0.attention.rotary_emb.inv_freq"].dtype == torch.float32


def test_builder_rejects_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="hiden_size"):
        build_tiny_checkpoint(tmp_path, seed=1, hiden_size=64)
    with pytest.raises(ValueError, match="multiple"):
        build_tiny_checkpoint(tmp_path, seed=1, hidden_size=66, num_attention_heads=4)
    with pytest.raises(ValueError, match="rotary"):
        original_config(vocab_size=16, hidden_size=16, num_hidden_layers=1, num_attention_heads=4)


# -- explain_load_error ------------------------------------------------------------------------------------------


def _response(status: int, model_id: str = INSTRUCT) -> httpx2.Response:
    return httpx2.Response(
        status, request=httpx2.Request("GET", f"https://huggingface.co/{model_id}/config.json")
    )


def _wrapped(inner: BaseException, outer_text: str) -> OSError:
    """transformers re-raises hub errors as OSError from the original, as it does in cached_files."""
    try:
        raise OSError(outer_text) from inner
    except OSError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(
            GatedRepoError("Access to model is restricted. Please log in.", response=_response(401)),
            f"{INSTRUCT} is gated: accept its terms on https://huggingface.co/{INSTRUCT}, then give this machine",
            id="gated-no-token",
        ),
        pytest.param(
            _wrapped(
                GatedRepoError("you are not in the authorized list", response=_response(403)),
                "You are trying to access a gated repo.",
            ),
            "has not been granted access: accept the terms on https://huggingface.co/",
            id="gated-terms-not-accepted-wrapped",
        ),
        pytest.param(
            GatedRepoError("Your request to access model is awaiting a review", response=_response(403)),
            "awaiting review",
            id="gated-awaiting-review",
        ),
        pytest.param(
            RepositoryNotFoundError("404 Repository Not Found", response=_response(404)),
            f"model {INSTRUCT} not found",
            id="repo-not-found",
        ),
        pytest.param(
            _wrapped(
                LocalEntryNotFoundError("not cached"), "We couldn't connect to 'https://huggingface.co'"
            ),
            "not in the local Hugging Face cache and the hub cannot be reached",
            id="offline-not-cached",
        ),
        pytest.param(
            ContextTooLongError("Japanese StableLM Alpha reads at most 2048 tokens (prompt plus reply)"),
            "at most 2048 tokens",
            id="context-too-long",
        ),
    ],
)
def test_hub_errors_become_one_sentence(exc: BaseException, expected: str) -> None:
    message = explain_load_error(exc, INSTRUCT)
    assert message is not None and expected in message
    assert "\n" not in message


def test_misspelt_alpha_name_lists_the_real_ones() -> None:
    exc = RepositoryNotFoundError(
        "404", response=_response(404, "stabilityai/japanese-stablelm-instruct-alpha")
    )
    message = explain_load_error(exc, "stabilityai/japanese-stablelm-instruct-alpha")
    assert message is not None and "japanese-stablelm-instruct-alpha-7b-v2" in message


def test_unrelated_errors_get_a_general_sentence() -> None:
    message = explain_load_error(ValueError("something else entirely"), INSTRUCT)
    assert message == f"cannot load {INSTRUCT}: ValueError: something else entirely"


def _checkpoint_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE_CHECKPOINT, tmp_path / "m"))


def _load_error(path: Path) -> BaseException:
    config = load_config(str(path))
    with pytest.raises(Exception) as info:
        AutoModelForCausalLM.from_pretrained(str(path), config=config)
    return info.value


def test_missing_weights_file_says_so(tmp_path: Path) -> None:
    path = _checkpoint_copy(tmp_path)
    (path / "model.safetensors").unlink()
    message = explain_load_error(_load_error(path), str(path))
    assert message is not None and "missing a weight file" in message


def test_truncated_weights_file_says_corrupt(tmp_path: Path) -> None:
    path = _checkpoint_copy(tmp_path)
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    message = explain_load_error(_load_error(path), str(path))
    assert message is not None and "corrupt or incomplete" in message


def test_hub_config_handed_to_auto_classes_alone_points_to_load_config() -> None:
    with pytest.raises(ValueError) as info:
        AutoModelForCausalLM.from_pretrained(str(FIXTURE_CHECKPOINT), trust_remote_code=False)
    message = explain_load_error(info.value, "stabilityai/japanese-stablelm-base-alpha-7b")
    assert message is not None and "load_config" in message


def test_load_config_leaves_other_models_alone(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]})
    )
    assert load_config(str(tmp_path)) is None
