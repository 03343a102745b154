"""LocalBackend on the real demo model: streaming, sampling parity with transformers, stop, cancel, KV reuse."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.engine_helpers import Spm, collect, never
from tui.engine.detokenizer import REPLACEMENT
from tui.engine.events import Finished, StreamEvent
from tui.engine.local import LocalBackend
from tui.engine.request import GenerationRequest
from tui.errors import UserError

PROMPT = "ユーザー: 今日の天気を教えてください。\nシステム: "


@pytest.fixture(scope="module")
def tok(nerdstash_model: Path) -> Spm:
    return Spm(nerdstash_model)


@pytest.fixture(scope="module")
def backend(demo_models: dict[str, Path], tok: Spm) -> LocalBackend:
    return LocalBackend.load(str(demo_models["base"]), tok)


def req(tok: Spm, **kw: Any) -> GenerationRequest:
    base: dict[str, Any] = {
        "prompt_ids": tok.encode(PROMPT),
        "max_new_tokens": 40,
        "seed": 7,
        "eos_token_id": 3,
        "top_p": 0.95,
    }
    base.update(kw)
    return GenerationRequest(**base)


def test_stream_equals_decode_of_the_reply_ids(backend: LocalBackend, tok: Spm) -> None:
    chunks, fin = collect(backend.stream(req(tok, max_new_tokens=80), never()))
    assert fin.reason == "length"
    assert len(fin.token_ids) == fin.stats.new_tokens == 80
    assert "".join(chunks) == fin.text == tok.decode(fin.token_ids)
    # The random model emits many byte-fallback pieces; a chunk may show U+FFFD only where decode does.
    whole = tok.decode(fin.token_ids)
    assert sum(c.count(REPLACEMENT) for c in chunks) == whole.count(REPLACEMENT)
    assert not any(
        c.endswith(REPLACEMENT) and c is not chunks[-1] for c in chunks if REPLACEMENT not in whole
    )


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"do_sample": False}, id="greedy"),
        pytest.param({"do_sample": False, "repetition_penalty": 1.3}, id="greedy-penalty"),
        pytest.param({"temperature": 0.7, "top_p": 0.9}, id="top-p"),
        pytest.param({"temperature": 1.3, "top_k": 50, "top_p": 0.8, "repetition_penalty": 1.1}, id="all"),
    ],
)
def test_same_tokens_as_transformers_generate(
    backend: LocalBackend, tok: Spm, settings: dict[str, Any]
) -> None:
    """Our loop (own sampling, own cache handling) picks exactly the ids model.generate picks with the same seed."""
    import torch

    request = req(tok, max_new_tokens=30, **settings)
    backend.reset_cache()
    _chunks, fin = collect(backend.stream(request, never()))
    torch.manual_seed(request.seed or 0)
    hf_kwargs = {k: v for k, v in settings.items() if k != "do_sample"}
    out = backend.model.generate(
        torch.tensor([request.prompt_ids]),
        max_new_tokens=30,
        min_new_tokens=30,
        do_sample=settings.get("do_sample", True),
        top_p=settings.get("top_p", 0.95),
        top_k=settings.get("top_k", 0),
        eos_token_id=3,
        pad_token_id=3,
        **{k: v for k, v in hf_kwargs.items() if k not in ("top_p", "top_k")},
    )
    assert list(fin.token_ids) == out[0, len(request.prompt_ids) :].tolist()


def test_same_seed_same_text_other_seed_other_text(backend: LocalBackend, tok: Spm) -> None:
    a = collect(backend.stream(req(tok, seed=11), never()))[1].text
    backend.reset_cache()
    b = collect(backend.stream(req(tok, seed=11), never()))[1].text
    c = collect(backend.stream(req(tok, seed=12), never()))[1].text
    assert a == b
    assert a != c


def test_temperature_zero_means_greedy_whatever_do_sample_says(backend: LocalBackend, tok: Spm) -> None:
    greedy = collect(backend.stream(req(tok, do_sample=False, seed=1), never()))[1]
    for seed in (1, 2):
        zero = collect(backend.stream(req(tok, temperature=0.0, seed=seed), never()))[1]
        assert zero.token_ids == greedy.token_ids


def test_stop_string_cuts_exactly_and_is_not_shown(backend: LocalBackend, tok: Spm) -> None:
    free = collect(backend.stream(req(tok, do_sample=False), never()))[1].text
    stop = free[12:15]
    assert len(stop) == 3
    chunks, fin = collect(
        backend.stream(req(tok, do_sample=False, stop_strings=(stop, "never-there")), never())
    )
    assert fin.reason == "stop"
    assert fin.text == "".join(chunks) == free[: free.index(stop)]


def test_eos_ends_the_reply_without_showing_it(backend: LocalBackend, tok: Spm) -> None:
    free = collect(backend.stream(req(tok, do_sample=False), never()))[1]
    eos = free.token_ids[9]
    first = free.token_ids.index(eos)
    _chunks, fin = collect(backend.stream(req(tok, do_sample=False, eos_token_id=eos), never()))
    assert fin.reason == "eos"
    assert fin.token_ids == free.token_ids[:first]
    assert fin.text == tok.decode(free.token_ids[:first])


def test_cancel_stops_within_one_step_and_keeps_the_partial(backend: LocalBackend, tok: Spm) -> None:
    free = collect(backend.stream(req(tok, do_sample=False, max_new_tokens=60), never()))
    shown_before_cancel = "".join(free[0][:5])
    # The token count at which the 5th chunk appeared in the uncancelled run.
    at_cancel = next(
        k for k in range(61) if len(tok.decode(free[1].token_ids[:k])) >= len(shown_before_cancel)
    )
    cancel = threading.Event()
    seen: list[str] = []
    for event in backend.stream(req(tok, do_sample=False, max_new_tokens=60), cancel):
        if isinstance(event, Finished):
            fin = event
            break
        seen.append(event.text)
        if len(seen) == 5:
            cancel.set()
    assert fin.reason == "cancelled"
    # Cancel is checked before every sampled token: not one token after the chunk that was showing.
    assert fin.stats.new_tokens == at_cancel
    assert fin.text == "".join(seen) == shown_before_cancel
    assert not fin.text.endswith(REPLACEMENT)


def test_cancel_from_another_thread_returns_quickly(backend: LocalBackend, tok: Spm) -> None:
    cancel = threading.Event()
    timer = threading.Timer(0.05, cancel.set)

    def start_on_first_chunk(events: Iterator[StreamEvent]) -> Iterator[StreamEvent]:
        # Timed from the first text, not the call: on a loaded machine the prefill alone may take 50 ms.
        for event in events:
            if not timer.is_alive() and not cancel.is_set():
                timer.start()  # once: after it fires, cancel is set
            yield event

    _chunks, fin = collect(start_on_first_chunk(backend.stream(req(tok, max_new_tokens=100_000), cancel)))
    timer.join()
    assert fin.reason == "cancelled"
    assert 0 < fin.stats.new_tokens < 100_000


def test_second_turn_prefills_only_new_tokens_and_matches_a_cold_run(backend: LocalBackend, tok: Spm) -> None:
    backend.reset_cache()
    turn1 = req(tok, max_new_tokens=20)
    fin1 = collect(backend.stream(turn1, never()))[1]
    assert fin1.stats.reused_tokens == 0
    assert fin1.stats.prefill_tokens == len(turn1.prompt_ids)
    user2 = tok.encode("\nユーザー: ありがとう。明日は?\nシステム: ")
    prompt2 = turn1.prompt_ids + list(fin1.token_ids) + user2
    turn2 = dataclasses.replace(turn1, prompt_ids=prompt2, seed=99)
    assert fin1.reason == "length"
    # The cache holds prompt 1 and every reply token, the last one (cut off by the limit) included.
    assert backend.cached_ids == turn1.prompt_ids + list(fin1.token_ids)
    assert backend.reusable_prefix(prompt2) == len(prompt2) - len(user2)
    warm = collect(backend.stream(turn2, never()))[1]
    assert warm.stats.prefill_tokens == len(user2)
    assert warm.stats.reused_tokens == len(prompt2) - len(user2)
    backend.reset_cache()
    cold = collect(backend.stream(turn2, never()))[1]
    assert cold.stats.reused_tokens == 0
    assert cold.token_ids == warm.token_ids
    assert cold.text == warm.text


def test_edited_history_crops_the_cache_to_the_common_prefix(backend: LocalBackend, tok: Spm) -> None:
    backend.reset_cache()
    long = tok.encode("一二三四五六七八九十" * 3)
    collect(backend.stream(req(tok, prompt_ids=long, max_new_tokens=3), never()))
    edited = long[:10] + tok.encode("別の話")
    _chunks, fin = collect(backend.stream(req(tok, prompt_ids=edited, max_new_tokens=3), never()))
    assert fin.stats.reused_tokens == 10
    assert backend.cached_ids[: len(edited)] == edited


def test_throwaway_cache_leaves_the_conversation_cache_alone(backend: LocalBackend, tok: Spm) -> None:
    backend.reset_cache()
    collect(backend.stream(req(tok, max_new_tokens=5), never()))
    before = backend.cached_ids
    collect(backend.stream(req(tok, prompt_ids=tok.encode("要約して"), reuse_cache=False), never()))
    assert backend.cached_ids == before


def test_fault_mid_generation_keeps_the_partial_and_frees_the_cache(
    backend: LocalBackend, tok: Spm, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    import tui.engine.local as local

    real = local.decode_one_token
    calls = {"n": 0}

    def flaky(model: Any, token: Any, cache: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 6:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, token, cache)

    monkeypatch.setattr(local, "decode_one_token", flaky)
    chunks, fin = collect(backend.stream(req(tok), never()))
    assert fin.reason == "error"
    assert fin.error is not None and "out of memory" in fin.error and "quantiz" in fin.error
    assert fin.stats.new_tokens == 6
    assert fin.text == "".join(chunks)
    assert backend.reusable_prefix(req(tok).prompt_ids) == 0
    monkeypatch.setattr(local, "decode_one_token", real)
    assert collect(backend.stream(req(tok), never()))[1].reason == "length"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"prompt_ids": []}, "empty"),
        ({"temperature": -0.5}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
    ],
)
def test_bad_settings_are_user_errors_before_any_work(
    backend: LocalBackend, tok: Spm, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        backend.stream(req(tok, **change), never())


def test_stats_are_filled(backend: LocalBackend, tok: Spm) -> None:
    fin = collect(backend.stream(req(tok), never()))[1]
    s = fin.stats
    assert s.ttft_s > 0 and s.tokens_per_s > 0 and s.peak_memory_bytes > 0
    assert s.device == "cpu"
    assert set(s.as_dict()) >= {"ttft_s", "new_tokens", "tokens_per_s", "prefill_tokens", "reused_tokens"}
