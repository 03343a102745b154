"""With no hub in reach, a real preset fails fast with one sentence instead of a minute of retries."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tui.hub import looks_like_hub_id


def test_ja_alpha_without_hub_or_cache_is_one_clear_sentence(tmp_path: Path) -> None:
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE", None)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tui", "generate", "--preset", "ja-alpha", "--prompt", "こんにちは"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "Retrying" not in result.stderr and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "stabilityai/japanese-stablelm-instruct-alpha-7b" in lines[0]
    assert "not in the local Hugging Face cache" in lines[0]
    assert elapsed < 30


def test_hub_ids_and_paths() -> None:
    assert looks_like_hub_id("stabilityai/japanese-stablelm-base-alpha-7b")
    assert not looks_like_hub_id("/models/x")
    assert not looks_like_hub_id("./x/y")
    assert not looks_like_hub_id("a/b/c")
