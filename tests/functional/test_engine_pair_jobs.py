"""ModelPair residency/toggle and the summary job runner, on the real demo models."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.engine_helpers import Spm, collect, never
from tui.engine.errors import EngineError
from tui.engine.events import Finished, LoadProgress, StreamEvent, TextChunk
from tui.engine.jobs import SummaryRunner
from tui.engine.local import LocalBackend
from tui.engine.request import GenerationRequest
from tui.engine.residency import ModelPair, choose_residency

GB = 1 << 30


@pytest.mark.parametrize(
    ("size", "free_dev", "free_host", "gpu", "expected"),
    [
        pytest.param(14 * GB, 24 * GB, 50 * GB, True, "both", id="a100-40gb-second-7b-fits"),
        pytest.param(14 * GB, 1 * GB, 50 * GB, True, "swap", id="t4-host-ram-holds-it"),
        pytest.param(14 * GB, 1 * GB, 8 * GB, True, "single", id="no-room-anywhere"),
        pytest.param(1 * GB, 8 * GB, 8 * GB, False, "both", id="cpu-enough-ram"),
        pytest.param(8 * GB, 4 * GB, 4 * GB, False, "single", id="cpu-short-of-ram"),
    ],
)
def test_choose_residency(size: int, free_dev: int, free_host: int, gpu: bool, expected: str) -> None:
    assert choose_residency(size, free_dev, free_host, gpu) == expected


@pytest.fixture(scope="module")
def tok(nerdstash_model: Path) -> Spm:
    return Spm(nerdstash_model)


@pytest.mark.parametrize("residency", ["both", "swap", "single"])
def test_toggle_switches_model_and_reports_cost(
    demo_models: dict[str, Path], tok: Spm, residency: str
) -> None:
    events: list[LoadProgress] = []
    pair = ModelPair(
        {"base": str(demo_models["base"]), "instruct": str(demo_models["instruct"])},
        tok,
        residency=residency,  # type: ignore[arg-type]
        progress=events.append,
    )
    request = GenerationRequest(prompt_ids=tok.encode("こんにちは"), max_new_tokens=12, do_sample=False)
    first = pair.toggle("base")
    assert first.action == "load" and first.seconds > 0
    base_text = collect(pair.backend().stream(request, never()))[1].text
    to_instruct = pair.toggle("instruct")
    instruct_text = collect(pair.backend().stream(request, never()))[1].text
    assert instruct_text != base_text  # two different random models
    back = pair.toggle("base")
    assert collect(pair.backend().stream(request, never()))[1].text == base_text
    expected = {"both": ("load", "switch"), "swap": ("load", "switch"), "single": ("reload", "reload")}
    assert (to_instruct.action, back.action) == expected[residency]
    assert pair.toggle("base").action == "none"
    assert set(pair.loaded()) == ({"base"} if residency == "single" else {"base", "instruct"})
    assert any(e.stage == "ready" for e in events)
    pair.close()


def test_auto_residency_resolves_on_first_toggle(demo_models: dict[str, Path], tok: Spm) -> None:
    pair = ModelPair({"base": str(demo_models["base"]), "instruct": str(demo_models["instruct"])}, tok)
    pair.toggle("instruct")
    assert pair.residency == "auto"
    pair.toggle("base")
    assert pair.residency == "both"  # two tiny models always fit in this machine's RAM
    pair.close()


def test_missing_model_is_one_sentence(tok: Spm, tmp_path: Path) -> None:
    pair = ModelPair({"base": str(tmp_path / "nope"), "instruct": str(tmp_path / "nope")}, tok)
    with pytest.raises(EngineError, match="not found") as info:
        pair.toggle("base")
    assert "\n" not in str(info.value)


class SlowFake:
    """A backend that yields one token per `step` seconds and honours cancel, to time preemption."""

    name = "fake"

    def __init__(self, step: float = 0.01) -> None:
        self.step = step
        self.calls: list[GenerationRequest] = []

    def reusable_prefix(self, prompt_ids: list[int]) -> int:
        return 0

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        self.calls.append(request)
        return self._gen(request, cancel)

    def _gen(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        from tui.engine.events import GenerationStats

        text = ""
        reason = "length"
        for i in range(request.max_new_tokens):
            if cancel.is_set():
                reason = "cancelled"
                break
            time.sleep(self.step)
            text += str(i % 10)
            yield TextChunk(str(i % 10))
        stats = GenerationStats(0.0, len(text), 0.0, len(request.prompt_ids), 0, 0, "fake", "cpu")
        yield Finished(text, reason, stats)  # type: ignore[arg-type]


def test_summary_runner_returns_text_and_preempt_cancels(demo_models: dict[str, Path], tok: Spm) -> None:
    backend = LocalBackend.load(str(demo_models["instruct"]), tok)
    backend_cache_before = backend.cached_ids
    done: list[str] = []
    runner = SummaryRunner(lambda: backend, on_done=lambda t: done.append(t.key))
    task = runner.submit("k1", tok.encode("次の会話を要約してください。"), max_new_tokens=10)
    assert task.wait(30) is not None and task.text
    assert done == ["k1"]
    assert backend.cached_ids == backend_cache_before  # ran on a throwaway cache
    runner.shutdown()

    fake = SlowFake(step=0.01)
    runner = SummaryRunner(lambda: fake)
    long_job = runner.submit("long", [1, 2, 3], max_new_tokens=10_000)
    queued = runner.submit("queued", [4], max_new_tokens=5)
    while not fake.calls:
        time.sleep(0.005)
    started = time.perf_counter()
    runner.preempt()
    assert long_job.done.wait(2) and queued.done.wait(2)
    assert time.perf_counter() - started < 0.5  # within about one step, not after 10,000 tokens
    assert long_job.text is None and queued.text is None
    assert len(fake.calls) == 1  # the queued job never ran
    runner.shutdown()
