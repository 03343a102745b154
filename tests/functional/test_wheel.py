"""An installed wheel (not only an editable checkout) carries the templates and the built-in presets."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_contains_templates_and_presets(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    wheel = next(tmp_path.glob("stablelm_tui-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = sorted(p.name for p in (REPO / "prompt_template").glob("*.j2"))
    assert templates, "the repo has no templates"
    for name in templates:
        assert f"tui/_data/prompt_template/{name}" in names
    assert "tui/presets.toml" in names
    assert any(n.endswith("entry_points.txt") for n in names)
