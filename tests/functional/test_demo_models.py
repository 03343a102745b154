"""The demo models are real Hugging Face model directories with the real nerdstash v1 tokenizer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tui.demo import NERDSTASH_V1_SHA256, ensure_demo_models
from tui.paths import sha256_file


def test_demo_model_command_is_idempotent_and_prints_json_last(demo_models: dict[str, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tui", "demo-model", "--json"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "already built" in result.stdout
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last == {"base": str(demo_models["base"]), "instruct": str(demo_models["instruct"])}


def test_build_into_a_fresh_dir_then_reuse(tmp_path: Path) -> None:
    first = ensure_demo_models(tmp_path / "models")
    assert first.built
    stamp = (first.base / "model.safetensors").stat().st_mtime_ns
    second = ensure_demo_models(tmp_path / "models")
    assert not second.built
    assert (second.base / "model.safetensors").stat().st_mtime_ns == stamp


def test_loads_with_auto_model_and_differs_between_modes(demo_models: dict[str, Path]) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from tui.models import JapaneseStableLMAlphaForCausalLM

    ids = torch.tensor([[100, 200, 300, 400]])
    logits = {}
    for mode, path in demo_models.items():
        model = AutoModelForCausalLM.from_pretrained(path)
        assert isinstance(model, JapaneseStableLMAlphaForCausalLM)
        assert model.config.max_position_embeddings == 2048
        assert model.config.eos_token_id == 3
        with torch.no_grad():
            logits[mode] = model(ids).logits
    assert logits["base"].shape == (1, 4, 65536)
    assert not torch.allclose(logits["base"], logits["instruct"])


@pytest.mark.parametrize("text", ["こんにちは、世界。", "Hello  world\n", "ｶﾀｶﾅ 123 🍣"])
def test_tokenizer_is_the_real_nerdstash_v1(demo_models: dict[str, Path], text: str) -> None:
    import sentencepiece as spm

    from tui.demo import nerdstash_v1_model

    for path in demo_models.values():
        assert sha256_file(path / "tokenizer.model") == NERDSTASH_V1_SHA256
    ours = spm.SentencePieceProcessor(model_file=str(demo_models["base"] / "tokenizer.model"))
    reference = spm.SentencePieceProcessor(model_file=str(nerdstash_v1_model()))
    assert ours.get_piece_size() == 65535
    assert ours.id_to_piece(3) == "<|endoftext|>"
    assert ours.encode(text) == reference.encode(text)


PLAIN_LOAD = """
import sys
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], trust_remote_code=sys.argv[2] == "trust")
print(type(model).__module__, type(model).__name__)
"""


def test_plain_transformers_loads_the_demo_through_the_installed_package(
    demo_models: dict[str, Path],
) -> None:
    """No `import tui.models` in the script: the directory's one-import module finds the installed classes."""
    from tui.demo import SHIM_MODULE

    for path in demo_models.values():
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        assert all(ref.startswith(f"{SHIM_MODULE}.") for ref in config["auto_map"].values())
        assert (path / f"{SHIM_MODULE}.py").is_file()
        result = subprocess.run(
            [sys.executable, "-c", PLAIN_LOAD, str(path), "trust"],
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.split() == ["tui.models.ja_alpha", "JapaneseStableLMAlphaForCausalLM"]


def test_plain_transformers_without_trust_says_what_to_pass(demo_models: dict[str, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PLAIN_LOAD, str(demo_models["base"]), "no"],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "trust_remote_code=True" in result.stderr


def _greedy(path: Path, prompt: list[int], steps: int = 12) -> list[int]:
    import torch
    from transformers import AutoModelForCausalLM

    import tui.models  # noqa: F401 - registers the architecture

    model = AutoModelForCausalLM.from_pretrained(path).eval()
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), max_new_tokens=steps, do_sample=False, eos_token_id=None)
    return [int(t) for t in out[0, len(prompt) :]]


def test_base_and_instruct_are_visibly_different_models(demo_models: dict[str, Path]) -> None:
    from tui.tokenizers import load_tokenizer

    configs = {mode: json.loads((p / "config.json").read_text()) for mode, p in demo_models.items()}
    assert configs["base"]["hidden_size"] != configs["instruct"]["hidden_size"]
    tok = load_tokenizer(str(demo_models["base"]))
    prompt = tok.encode("ユーザー: こんにちは。今日は何をしましょうか？\nシステム: ")
    base, instruct = _greedy(demo_models["base"], prompt), _greedy(demo_models["instruct"], prompt)
    assert sum(a != b for a, b in zip(base, instruct, strict=True)) >= 6
    other = _greedy(demo_models["instruct"], tok.encode("ユーザー: 猫について教えてください。\nシステム: "))
    assert other != instruct, "the instruct demo's reply must depend on the prompt"


def test_without_stablelm_tui_installed_the_demo_says_what_to_install(
    demo_models: dict[str, Path], tmp_path: Path
) -> None:
    """`python -S` has no site-packages: the module cannot import tui, as on a machine without stablelm-tui."""
    from tui.demo import SHIM_MODULE

    shim = demo_models["base"] / f"{SHIM_MODULE}.py"
    result = subprocess.run(
        [sys.executable, "-S", "-c", f"import runpy; runpy.run_path({str(shim)!r})"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "pip install stablelm-tui" in result.stderr
