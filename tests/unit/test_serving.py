"""The server's pure parts: reading an OpenAI completion request, its responses, and the printed client preset."""

from __future__ import annotations

from typing import Any

import pytest

from tui.engine.events import Finished, GenerationStats
from tui.paths import config_file
from tui.presets import load_settings
from tui.serving.completions import (
    ApiError,
    ServedModel,
    completion_body,
    parse_completion,
    usage_chunk_body,
)
from tui.serving.snippet import preset_snippet

BASE = ServedModel("demo-base", "base", "demo:base", window=64, vocab_size=100, eos_token_id=3)
INSTRUCT = ServedModel(
    "demo-instruct", "instruct", "demo:instruct", window=64, vocab_size=100, eos_token_id=3
)
MODELS = {m.name: m for m in (BASE, INSTRUCT)}


def encode(text: str) -> list[int]:
    return [10 + ord(c) % 80 for c in text]


def parse(**body: Any) -> Any:
    return parse_completion({"model": "demo-base"} | body, MODELS, encode)


@pytest.mark.parametrize(
    ("prompt", "ids"),
    [
        pytest.param("ab", encode("ab"), id="text"),
        pytest.param([5, 6, 7], [5, 6, 7], id="token-ids"),
        pytest.param(["ab"], encode("ab"), id="batch-of-one-text"),
        pytest.param([[5, 6]], [5, 6], id="batch-of-one-ids"),
    ],
)
def test_prompt_as_text_or_token_ids(prompt: Any, ids: list[int]) -> None:
    assert parse(prompt=prompt).request.prompt_ids == ids


def test_the_request_names_the_model_and_its_settings() -> None:
    call = parse_completion(
        {
            "model": "demo-instruct",
            "prompt": [5],
            "max_tokens": 7,
            "temperature": 0,
            "top_p": 0.5,
            "top_k": -1,
            "seed": 4,
            "repetition_penalty": 1.2,
            "stop": "x",
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        MODELS,
        encode,
    )
    request = call.request
    assert call.model is INSTRUCT and call.stream and call.include_usage
    assert request.greedy and request.max_new_tokens == 7 and request.top_k == 0 and request.seed == 4
    assert (request.top_p, request.repetition_penalty, request.stop_strings) == (0.5, 1.2, ("x",))
    assert request.eos_token_id == 3


def test_defaults_follow_the_openai_api() -> None:
    call = parse(prompt="a")
    assert call.request.max_new_tokens == 16 and not call.stream and not call.request.greedy
    assert parse(prompt="a", max_tokens=None).request.max_new_tokens == 63  # the rest of the window
    assert parse(prompt="a", ignore_eos=True).request.eos_token_id is None


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        pytest.param({"model": "x", "prompt": "a"}, 404, "does not exist", id="unknown-model"),
        pytest.param({"prompt": "a"}, 400, "model is required", id="which-model"),
        pytest.param({"model": "demo-base", "prompt": ""}, 400, "empty", id="empty"),
        pytest.param({"model": "demo-base", "prompt": [1, 100]}, 400, "id 100 is outside", id="bad-id"),
        pytest.param({"model": "demo-base", "prompt": ["a", "b"]}, 400, "one prompt per request", id="batch"),
        pytest.param({"model": "demo-base", "prompt": {"a": 1}}, 400, "string or a list", id="shape"),
        pytest.param(
            {"model": "demo-base", "prompt": "a", "max_tokens": 64}, 400, "maximum context", id="long"
        ),
        pytest.param({"model": "demo-base", "prompt": "a", "max_tokens": 0}, 400, "at least 1", id="zero"),
        pytest.param({"model": "demo-base", "prompt": "a", "temperature": -1}, 400, "temperature", id="temp"),
        pytest.param({"model": "demo-base", "prompt": "a", "top_p": "x"}, 400, "top_p must be", id="type"),
        pytest.param(
            {"model": "demo-base", "prompt": "a", "logprobs": 2}, 400, "logprobs is not", id="logprobs"
        ),
        pytest.param({"model": "demo-base", "prompt": "a", "stop": [""]}, 400, "stop must be", id="stop"),
    ],
)
def test_refusals_carry_the_status_and_one_sentence(body: Any, status: int, words: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_completion(body, MODELS, encode)
    assert caught.value.status == status and words in caught.value.message
    assert caught.value.body()["error"]["code"] == status


def test_usage_reports_kv_reuse_as_cached_tokens_and_counts_eos_like_vllm() -> None:
    call = parse(prompt=[5, 6, 7, 8])
    stats = GenerationStats(0.1, 2, 10.0, 1, 3, 0, "demo:base", "cpu")
    finished = Finished("ab", "eos", stats, token_ids=(20, 21))
    body = completion_body(call, finished)
    assert body["choices"][0]["finish_reason"] == "stop" and body["choices"][0]["text"] == "ab"
    assert body["usage"] == {
        "prompt_tokens": 4,
        "completion_tokens": 3,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 3},
    }
    assert usage_chunk_body("id", 0, call, finished)["choices"] == []


def _load_snippet(text: str) -> Any:
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    return load_settings().preset("demo-server")


def test_the_printed_preset_loads_and_points_each_mode_at_its_model() -> None:
    demo = load_settings().preset("demo")
    one_server = {"base": "http://h:8000", "instruct": "http://h:8000"}
    served = _load_snippet(preset_snippet(demo, one_server, "KEY_VAR"))  # type: ignore[arg-type]
    assert served.remote_for("base") == ("http://h:8000", "demo-base")
    assert served.remote_for("instruct") == ("http://h:8000", "demo-instruct")
    assert served.remote_api_key_env == "KEY_VAR" and served.base.model == "demo:base"
    two_servers = {"base": "http://h:8000", "instruct": "http://h:8001"}
    served = _load_snippet(preset_snippet(demo, two_servers, None))  # type: ignore[arg-type]
    assert served.remote_for("instruct") == ("http://h:8001", "demo-instruct")
    served = _load_snippet(preset_snippet(demo, {"instruct": "http://h:8000"}, None))
    assert served.remote_for("base") == ("http://h:8000", "demo-instruct")  # one model answers both modes
