"""The command line: instant help, no heavy imports at start-up, one-line errors with exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.cli import main


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_help_is_fast_and_imports_no_heavy_module() -> None:
    probe = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from tui.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'textual', 'sentencepiece', 'jinja2', 'openai', 'aiohttp', 'httpx') if m in sys.modules)\n"
        "print('HEAVY', heavy, time.perf_counter() - t)\n"
    )
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - started
    line = next(line for line in result.stdout.splitlines() if line.startswith("HEAVY"))
    assert line.startswith("HEAVY []"), line
    assert elapsed < 0.5 * 4, f"--help took {elapsed:.2f} s including interpreter start"


def test_every_command_has_help() -> None:
    from tui.cli import COMMAND_MODULES, build_parser

    parser = build_parser()
    text = parser.format_help()
    for name in COMMAND_MODULES:
        assert name.replace("_", "-") in text


def test_unknown_preset_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "--preset", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stablelm-tui: error: unknown preset 'nope'")
    assert err.count("\n") == 1


def test_unreadable_config_is_one_line_exit_2(isolated_dirs: Path) -> None:
    config = isolated_dirs / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_bytes(b"\xff\xfe not toml")
    result = run_cli("presets")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(config) in result.stderr
    assert result.stderr.count("\n") == 1


def test_missing_field_in_preset_file_names_file_and_field(isolated_dirs: Path) -> None:
    config = isolated_dirs / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[presets.broken]\nextends = "ja-alpha"\n[presets.b2]\n')
    result = run_cli("presets")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{config}: preset 'b2': missing field 'tokenizer'" in result.stderr
    # `generation` belongs under base/instruct: at the preset's top level it is a mistake, never ignored.
    config.write_text('[presets.broken]\nextends = "ja-alpha"\n[presets.broken.generation]\n')
    result = run_cli("presets")
    assert result.returncode == 2
    assert f"{config}: preset 'broken': unknown key 'generation'" in result.stderr
