"""The benchmark scripts run (tiny sizes): they are meant to be rerun by anyone, so they must not rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_gpu_benchmark_script_runs_tiny_on_cpu() -> None:
    out = run("bench/bench_gpu.py", "--tiny", "--new-tokens", "8", "--repeats", "1")
    for expected in (
        "built base: JapaneseStableLMAlphaForCausalLM",
        "decode:",
        "stream/generate =",
        "TTFT 2047-token prompt",
        "residency both",
        "residency swap",
    ):
        assert expected in out


def test_streaming_benchmark_runs(demo_models: dict[str, Path]) -> None:
    out = run("bench/bench_streaming.py", "--tokens", "16", "--repeats", "1")
    assert "ratio stream/generate" in out and "identical token ids  : True" in out


def test_prefix_reuse_benchmark_runs(demo_models: dict[str, Path]) -> None:
    out = run("bench/bench_prefix_reuse.py", "--turns", "3", "--reply", "8")
    assert "TTFT turn 3 / turn 1" in out
