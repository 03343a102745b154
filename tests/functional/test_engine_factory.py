"""One backend factory and one request builder for `chat` and `generate` (tui.engine.factory, tui.chat.requests)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pytest

from tui.chat.requests import build_request, max_new_tokens_for
from tui.chat.settings import ChatSettings
from tui.context import plan_context
from tui.engine.errors import EngineError
from tui.engine.factory import EngineChoice, open_host
from tui.errors import UserError
from tui.presets import load_settings
from tui.templates import load_template
from tui.tokenizers import tokenizer_for_preset


@pytest.fixture(autouse=True)
def _demo(demo_models: dict[str, Path]) -> None:
    """The demo preset's tokenizer lives in the demo model directory."""


def test_a_preset_that_names_a_server_opens_a_remote_host_for_both_commands() -> None:
    preset = load_settings().preset("demo")
    served = replace(preset, remote_base_url="http://127.0.0.1:9")
    host = open_host(served, EngineChoice.from_args(argparse.Namespace()))
    assert (host.backend_name, host.device()) == ("openai", "http://127.0.0.1:9")
    local = open_host(served, EngineChoice(backend="local", device="cpu"))
    assert (local.backend_name, local.device()) == ("local", "cpu")


def test_openai_without_a_url_is_a_user_error() -> None:
    with pytest.raises(UserError, match="--backend openai needs --base-url URL"):
        open_host(load_settings().preset("demo"), EngineChoice(backend="openai"))


def test_quantization_without_a_gpu_is_refused_before_anything_loads() -> None:
    preset = load_settings().preset("demo")
    with pytest.raises(EngineError) as caught:
        open_host(preset, EngineChoice(device="cpu", quantize="int8"))
    assert str(caught.value) == (
        "int8 quantization needs a CUDA GPU; on cpu run the model in full precision (--quantize none)"
    )
    # The preset's quantization is the default; `--quantize none` overrides it.
    quantized = replace(preset, quantize="int4")
    with pytest.raises(EngineError, match="int4 quantization needs a CUDA GPU"):
        open_host(quantized, EngineChoice(device="cpu"))
    host = open_host(quantized, EngineChoice(device="cpu", quantize="none"))
    assert host.backend_name == "local" and not host.is_resident("base")


def test_residency_comes_from_the_preset_unless_chosen() -> None:
    preset = load_settings().preset("demo")
    swap = replace(preset, residency="swap")
    assert open_host(swap, EngineChoice(device="cpu")).pair.residency == "swap"  # type: ignore[attr-defined]
    single = open_host(swap, EngineChoice(device="cpu", residency="single"))
    assert single.pair.residency == "single"  # type: ignore[attr-defined]


def test_the_request_takes_the_settings_over_the_preset_and_each_stop_once() -> None:
    preset = load_settings().preset("demo")
    tokenizer = tokenizer_for_preset(preset)
    settings = ChatSettings(temperature=0.3, max_new_tokens=12, seed=7)
    plan = plan_context(
        [],
        tokenizer=tokenizer,
        template=load_template(preset.instruct.template),
        window=preset.context_window,
        reserve=max_new_tokens_for(preset, "instruct", settings),
        draft="こんにちは",
    )
    request = build_request(preset, "instruct", settings, plan, tokenizer)
    gen = preset.instruct.generation
    assert request.prompt_ids == plan.token_ids and request.prompt_text == plan.prompt
    assert (request.max_new_tokens, request.temperature, request.top_p, request.seed) == (
        12,
        0.3,
        gen.top_p,
        7,
    )
    assert request.stop_strings == tuple(dict.fromkeys((*plan.stop, *preset.instruct.stop)))
    assert request.eos_token_id == preset.eos_token_id
    assert max_new_tokens_for(preset, "base", ChatSettings()) == preset.base.generation.max_new_tokens


def test_a_missing_quantization_library_names_the_extra_that_installs_it() -> None:
    from types import SimpleNamespace

    from tui.engine.loading import quantization_library

    gpu = SimpleNamespace(type="cuda")
    with pytest.raises(EngineError) as caught:
        quantization_library("int4", gpu, installed=lambda module: False)
    assert str(caught.value) == (
        'int4 quantization needs torchao, which the quant extra installs: pip install "stablelm-tui[quant]"'
    )
    assert quantization_library("int8", gpu, installed=lambda module: True) == "torchao"
    assert (
        quantization_library("int8", gpu, installed=lambda module: module == "bitsandbytes") == "bitsandbytes"
    )
