"""`stablelm-tui serve --engine vllm --adapter DIR` through a real vLLM (the CPU build): the adapter is served
with vLLM's own LoRA support as `<model>+lora`, the same name our local engine gives it, and answers exactly like
our local engine with the adapter on, while `<model>` answers like it with the adapter off.

The adapter is a PEFT LoRA on the 32-wide tiny Alpha (tests/functional/vllm_helpers.py) over the layers `train`
wraps (tui/train/targets.py), with random non-zero lora_B matrices so that it changes every layer's output: an
adapter vLLM ignored, or applied to the wrong layers, would answer differently from the local engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.functional.engine_helpers import Spm, collect, never
from tests.functional.serve_helpers import Served
from tests.functional.vllm_helpers import PRESET, build_h32_model, start_vllm
from tui.engine.local import LocalBackend
from tui.engine.remote import OpenAIBackend, RemoteConfig
from tui.engine.request import GenerationRequest

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.timeout(1500)]

BASE = f"{PRESET}-base"
LORA = f"{BASE}+lora"
# Long enough to fill whole blocks of vLLM's prefix cache: the base model's cached blocks must not serve the
# adapter's request for the same prompt (the keys and values differ with the adapter on).
PROMPT = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。" * 4


@pytest.fixture(scope="module")
def model_dir(demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_h32_model(tmp_path_factory.mktemp("model"), demo_models["base"])


@pytest.fixture(scope="module")
def adapter_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from tui.train.model import add_lora

    model = LocalBackend.load(str(model_dir), Spm(model_dir / "tokenizer.model")).model
    peft_model = add_lora(model, rank=4, alpha=8, dropout=0.0, quantized=False)
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, weight in peft_model.named_parameters():
            if "lora_B" in name:  # PEFT starts B at zero: an adapter that changes nothing yet
                weight.copy_(torch.randn(weight.shape, generator=generator) * 0.5)
    out = tmp_path_factory.mktemp("adapter") / "neko"
    peft_model.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def served(model_dir: Path, adapter_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_vllm(tmp_path_factory.mktemp("vllm-lora"), model_dir, "--adapter", str(adapter_dir))
    try:
        yield server
    finally:
        server.stop(timeout=120)


def vllm_text(served: Served, model: str, request: GenerationRequest, tok: Spm) -> str:
    backend = OpenAIBackend(RemoteConfig(base_url=served.url, model=model, read_timeout_s=120), tok)
    _, fin = collect(backend.stream(request, never()))
    assert fin.error is None and fin.reason == "length", fin.error
    assert fin.stats.prompt_as_text is False  # vLLM took the planned ids as they are
    return fin.text


def test_vllm_lists_the_adapter_as_plus_lora_with_the_model_as_parent(
    served: Served, adapter_dir: Path
) -> None:
    listed = httpx.get(f"{served.url}/v1/models", timeout=10).json()["data"]
    assert [m["id"] for m in listed] == [BASE, LORA]
    assert listed[1]["parent"] == BASE and listed[1]["root"] == str(adapter_dir.resolve())
    assert f"adapter {adapter_dir} served as {LORA} (--remote-model {LORA})" in served.stdout.read_text()


def test_greedy_text_with_and_without_the_adapter_equals_the_local_engine_with_it_on_and_off(
    served: Served, model_dir: Path, adapter_dir: Path
) -> None:
    from tui.engine.adapters import attach_adapter, enable_adapter

    tok = Spm(model_dir / "tokenizer.model")
    request = GenerationRequest(prompt_ids=tok.encode(PROMPT), max_new_tokens=16, do_sample=False)
    # The model first, so that its blocks are in vLLM's prefix cache when the adapter's request comes.
    plain = vllm_text(served, BASE, request, tok)
    tuned = vllm_text(served, LORA, request, tok)
    assert vllm_text(served, BASE, request, tok) == plain

    local = LocalBackend.load(str(model_dir), tok)
    attach_adapter(local.model, adapter_dir, ref=str(model_dir))
    local.reset_cache()
    assert tuned == collect(local.stream(request, never()))[1].text
    assert enable_adapter(local, False)
    assert plain == collect(local.stream(request, never()))[1].text
    assert tuned != plain
