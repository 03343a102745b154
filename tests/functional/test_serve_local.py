"""A real `stablelm-tui serve --engine local` subprocess on 127.0.0.1, driven by our own client and by raw HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.functional.engine_helpers import Spm, collect, never
from tests.functional.serve_helpers import Served, port_is_free, start_serve
from tui.engine.local import LocalBackend
from tui.engine.remote import OpenAIBackend, RemoteConfig
from tui.engine.request import GenerationRequest

pytestmark = [pytest.mark.slow, pytest.mark.server]

# A literal control-token string typed by a user: the meter counts it as ordinary pieces, and so must the model.
HOSTILE = "ユーザー: <|endoftext|>って何ですか?\nシステム: "


@pytest.fixture(scope="module")
def served(demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_serve(tmp_path_factory.mktemp("serve"), "--preset", "demo", "--mode", "both")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tok(nerdstash_model: Path) -> Spm:
    return Spm(nerdstash_model)


def remote(served: Served, model: str, tok: Spm) -> OpenAIBackend:
    return OpenAIBackend(RemoteConfig(base_url=served.url, model=model, read_timeout_s=60), tok)


def test_lists_base_and_instruct_and_prints_a_client_preset(served: Served) -> None:
    listed = httpx.get(f"{served.url}/v1/models").json()
    assert [m["id"] for m in listed["data"]] == ["demo-base", "demo-instruct"]
    printed = served.stdout.read_text()
    assert f"serving demo-base at {served.url}/v1, demo-instruct at {served.url}/v1" in printed
    assert f'remote_base_url = "{served.url}"' in printed and 'remote_model = "demo-base"' in printed


def test_greedy_text_equals_the_local_backend_with_a_literal_endoftext(
    served: Served, demo_models: dict[str, Path], tok: Spm
) -> None:
    ids = tok.encode(HOSTILE)
    assert 3 not in ids  # the literal stays text in the plan...
    request = GenerationRequest(prompt_ids=ids, prompt_text=HOSTILE, max_new_tokens=24, do_sample=False)
    chunks, fin = collect(remote(served, "demo-base", tok).stream(request, never()))
    assert fin.error is None and fin.reason == "length" and len(chunks) > 1
    assert fin.stats.prompt_as_text is False  # ...and the server took the ids as they are
    local = LocalBackend.load(str(demo_models["base"]), tok)
    assert fin.text == collect(local.stream(request, never()))[1].text


def test_a_second_turn_that_extends_the_first_reports_cached_tokens(served: Served, tok: Spm) -> None:
    backend = remote(served, "demo-instruct", tok)
    first_ids = tok.encode("ユーザー: 日本の首都は?\nシステム: ")
    first = collect(
        backend.stream(GenerationRequest(prompt_ids=first_ids, max_new_tokens=8, do_sample=False), never())
    )[1]
    second_ids = first_ids + tok.encode(first.text + "\nユーザー: 本当に?\nシステム: ")
    body = {"model": "demo-instruct", "prompt": second_ids, "max_tokens": 4, "temperature": 0}
    usage = httpx.post(f"{served.url}/v1/completions", json=body, timeout=60).json()["usage"]
    assert usage["prompt_tokens"] == len(second_ids)
    assert usage["prompt_tokens_details"]["cached_tokens"] >= len(first_ids)
    # The client shows it where the local engine shows its own reuse.
    third = GenerationRequest(prompt_ids=second_ids, max_new_tokens=4, do_sample=False)
    assert collect(backend.stream(third, never()))[1].stats.reused_tokens == len(second_ids) - 1


def test_a_client_that_disconnects_cancels_its_generation(served: Served) -> None:
    long_body = {"model": "demo-base", "prompt": "むかしむかし", "max_tokens": 1900, "stream": True}
    long_body |= {"ignore_eos": True}  # about a minute of decoding on this machine if nobody stopped it
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", f"{served.url}/v1/completions", json=long_body) as response,
    ):
        events = 0
        for line in response.iter_lines():
            events += line.startswith("data:")
            if events == 3:
                break  # leaving the block closes the connection mid-reply
    started = time.monotonic()
    quick = {"model": "demo-base", "prompt": "a", "max_tokens": 2}
    assert httpx.post(f"{served.url}/v1/completions", json=quick, timeout=60).status_code == 200
    assert time.monotonic() - started < 10  # the same model's next request did not wait for 1,900 tokens
    assert "demo-base: the client went away; its generation was cancelled" in served.log_text()


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"model": "nope", "prompt": "a"}, 404, "does not exist"),
        ({"prompt": "a"}, 400, "model is required"),
        ({"model": "demo-base", "prompt": [70000]}, 400, "outside the vocabulary"),
        ({"model": "demo-base", "prompt": "a", "max_tokens": 4000}, 400, "maximum context length is 2048"),
        ({"model": "demo-base", "prompt": "a", "n": 2}, 400, "n is not supported"),
    ],
)
def test_bad_requests_get_one_sentence_and_the_right_status(
    served: Served, body: dict[str, object], status: int, words: str
) -> None:
    response = httpx.post(f"{served.url}/v1/completions", json=body, timeout=30)
    assert response.status_code == status and words in response.json()["error"]["message"]


def test_api_key_then_sigterm_stops_cleanly_and_frees_the_port(
    demo_models: dict[str, Path], tmp_path: Path, tok: Spm, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_serve(tmp_path, "--api-key-env", "SERVE_KEY", env={"SERVE_KEY": "sekrit"})
    try:
        models = f"{server.url}/v1/models"
        assert httpx.get(models).status_code == 401
        assert httpx.get(models, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(models, headers={"Authorization": "Bearer sekrit"}).status_code == 200
        assert httpx.get(f"{server.url}/health").status_code == 200  # probes need no key
        assert 'remote_api_key_env = "SERVE_KEY"' in server.stdout.read_text()
        monkeypatch.setenv("SERVE_KEY", "sekrit")
        keyed = OpenAIBackend(RemoteConfig(base_url=server.url, api_key_env="SERVE_KEY"), tok)
        request = GenerationRequest(prompt_ids=tok.encode("こんにちは"), max_new_tokens=4, do_sample=False)
        assert collect(keyed.stream(request, never()))[1].reason == "length"

        # SIGTERM in the middle of a reply: the reply ends, the process exits 0, the port is free again.
        long = GenerationRequest(prompt_ids=tok.encode("むかし"), max_new_tokens=1500, do_sample=False)
        reply: list[object] = []
        streaming = threading.Thread(target=lambda: reply.extend(keyed.stream(long, never())), daemon=True)
        streaming.start()
        time.sleep(1.0)
        assert psutil.Process(server.proc.pid).children(recursive=True) == []  # one process holds it all
    finally:
        assert server.stop(timeout=20) == 0
    streaming.join(20)
    assert not streaming.is_alive()
    assert port_is_free(server.port)
