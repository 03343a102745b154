"""The preset field `adapter` (per mode) names a LoRA adapter folder; anything but a string is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.errors import UserError
from tui.presets import load_settings


def config(tmp_path: Path, value: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[presets.mine]\nextends = "demo"\n[presets.mine.base]\nadapter = {value}\n', encoding="utf-8"
    )
    return path


def test_a_mode_may_name_an_adapter_and_the_other_mode_keeps_none(tmp_path: Path) -> None:
    preset = load_settings(config(tmp_path, '"/data/adapters/novel"')).preset("mine")
    assert preset.base.adapter == "/data/adapters/novel"
    assert preset.instruct.adapter is None
    assert load_settings(config(tmp_path, '"/x"')).preset("demo").base.adapter is None


def test_an_adapter_that_is_not_a_string_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"preset 'mine': field 'base.adapter' must be str, got 3"):
        load_settings(config(tmp_path, "3"))
