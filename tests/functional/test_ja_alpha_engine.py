"""A checkpoint laid out exactly like the Hub's Japanese StableLM Alpha (no model_type, an auto_map to remote
code) runs through the engine, `generate` and the ja-alpha preset's settings with our native module, never the
repository's code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tui.engine import Finished, GenerationRequest
from tui.engine.loading import LoadOptions, load_model
from tui.engine.local import LocalBackend
from tui.models import JapaneseStableLMAlphaForCausalLM, build_tiny_checkpoint
from tui.tokenizers import load_tokenizer


@pytest.fixture(scope="module")
def hub_layout_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = build_tiny_checkpoint(tmp_path_factory.mktemp("ja-alpha-hub") / "model", seed=7)
    config = json.loads((out / "config.json").read_text())
    assert "model_type" not in config and "auto_map" in config  # as on the Hub
    return out


def test_engine_loads_the_hub_layout_with_our_class(hub_layout_model: Path) -> None:
    model = load_model(str(hub_layout_model), LoadOptions(device="cpu"))
    assert isinstance(model, JapaneseStableLMAlphaForCausalLM)


def test_streaming_greedy_equals_generate(hub_layout_model: Path, nerdstash_model: Path) -> None:
    import torch

    tokenizer = load_tokenizer(str(nerdstash_model))
    backend = LocalBackend.load(str(hub_layout_model), tokenizer, LoadOptions(device="cpu"))
    prompt = tokenizer.encode(
        "以下は、タスクを説明する指示です。\n\n### 指示: \n日本の首都は？\n\n### 応答: "
    )
    request = GenerationRequest(prompt_ids=prompt, max_new_tokens=12, do_sample=False, eos_token_id=None)
    finished = [e for e in backend.stream(request, threading.Event()) if isinstance(e, Finished)][-1]
    with torch.no_grad():
        reference = backend.model.generate(
            torch.tensor([prompt]), max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=3
        )[0, len(prompt) :].tolist()
    assert list(finished.token_ids) == reference


def test_generate_with_a_ja_alpha_preset_on_a_local_copy(
    hub_layout_model: Path, demo_models: dict[str, Path], isolated_dirs: Path
) -> None:
    config = isolated_dirs / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        '[presets.local-alpha]\nextends = "ja-alpha"\ntokenizer = "demo:base"\n'
        f'[presets.local-alpha.base]\nmodel = "{hub_layout_model}"\n'
        f'[presets.local-alpha.instruct]\nmodel = "{hub_layout_model}"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "tui", "generate", "--preset", "local-alpha", "--prompt", "こんにちは",
         "--max-new-tokens", "8", "--seed", "1", "--stats"],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stderr.strip().splitlines()[-1])
    assert stats["new_tokens"] >= 1
    assert "trust_remote_code" not in result.stderr


def test_cpu_threads_option_leaves_cores_to_the_app(demo_models: dict[str, Path]) -> None:
    probe = (
        "import torch\nfrom tui.engine.loading import LoadOptions, load_model\n"
        f"load_model({str(demo_models['base'])!r}, LoadOptions(device='cpu', cpu_threads=1))\n"
        "print('THREADS', torch.get_num_threads())\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert "THREADS 1" in result.stdout, result.stderr
