"""trust_remote_code needs the preset flag AND a confirmation of this exact code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tui.errors import UserError
from tui.trust import check_remote_code, code_fingerprint, record_trust


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "modeling_x.py").write_text("print('remote code')\n")
    return tmp_path


def test_no_code_or_no_preset_flag_means_no_remote_code(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert check_remote_code("org/x", model_dir, preset_allows=False) is False
    assert check_remote_code("org/x", tmp_path_factory.mktemp("empty"), preset_allows=True) is False


def test_unconfirmed_code_is_refused_with_instructions(model_dir: Path) -> None:
    with pytest.raises(UserError, match=r"stablelm-tui trust org/x"):
        check_remote_code("org/x", model_dir, preset_allows=True)


def test_confirmation_is_tied_to_the_code(model_dir: Path) -> None:
    record_trust("org/x", code_fingerprint(model_dir))
    assert check_remote_code("org/x", model_dir, preset_allows=True) is True
    (model_dir / "modeling_x.py").write_text("print('changed')\n")
    with pytest.raises(UserError, match="was not confirmed"):
        check_remote_code("org/x", model_dir, preset_allows=True)


def test_trust_command_asks_and_records(model_dir: Path) -> None:
    cmd = [sys.executable, "-m", "tui", "trust", "org/x", "--dir", str(model_dir)]
    refused = subprocess.run(cmd, input="no\n", capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    with pytest.raises(UserError):
        check_remote_code("org/x", model_dir, preset_allows=True)
    accepted = subprocess.run(cmd, input="yes\n", capture_output=True, text=True, timeout=60)
    assert accepted.returncode == 0, accepted.stderr
    assert "modeling_x.py" in accepted.stdout
    assert check_remote_code("org/x", model_dir, preset_allows=True) is True


def test_chat_and_generate_refuse_unconfirmed_code_then_run_once_confirmed(
    isolated_dirs: Path, demo_models: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    model = tmp_path / "coded-model"
    shutil.copytree(demo_models["instruct"], model)
    (model / "helper_code.py").write_text("# code shipped with the model\n")
    config = isolated_dirs / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[presets.coded]\nextends = "demo"\ntrust_remote_code = true\n[presets.coded.instruct]\nmodel = "{model}"\n'
    )
    for command in (["chat", "--preset", "coded"], ["generate", "--preset", "coded", "--prompt", "hi"]):
        refused = subprocess.run(
            [sys.executable, "-m", "tui", *command], capture_output=True, text=True, timeout=120
        )
        assert refused.returncode == 2, refused.stderr
        assert f"`stablelm-tui trust {model}` once" in refused.stderr
    confirm = [sys.executable, "-m", "tui", "trust", str(model), "--yes"]
    assert subprocess.run(confirm, capture_output=True, timeout=60).returncode == 0
    generate = [
        sys.executable,
        "-m",
        "tui",
        "generate",
        "--preset",
        "coded",
        "--prompt",
        "hi",
        "--max-new-tokens",
        "4",
    ]
    ran = subprocess.run(generate, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
