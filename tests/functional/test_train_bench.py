"""The training benchmark runs (tiny, on CPU): it is meant to be rerun on a lent GPU, so it must not rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_training_benchmark_runs_tiny_on_cpu() -> None:
    done = subprocess.run(
        [sys.executable, "bench/bench_train.py", "--tiny", "--steps", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "device: cpu; 128 tokens per step" in done.stdout
    assert "lora-16bit:" in done.stdout and "tokens/s" in done.stdout
