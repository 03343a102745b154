"""Bad input on the command line is one sentence and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tui.store import SessionStore


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("chat", "--device", "cuda"), "no CUDA GPU is available", id="chat-no-gpu"),
        pytest.param(("chat", "--device", "foo"), "unknown device 'foo'", id="chat-bad-device"),
        pytest.param(
            ("chat", "--device", "cpu", "--quantize", "int8"),
            "int8 quantization needs a CUDA GPU; on cpu run the model in full precision (--quantize none)",
            id="chat-quantize-on-cpu",
        ),
        # The same fault exits the same way from every command (one error root, mapped once in cli.main).
        pytest.param(
            ("generate", "--prompt", "x", "--device", "foo"), "unknown device 'foo'", id="generate-bad-device"
        ),
    ],
)
def test_device_errors(demo_models: dict[str, Path], args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_demo_model_into_an_unwritable_place(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = cli("demo-model", "--out", str(blocker / "models"))
    assert result.returncode == 2
    assert "cannot write the demo models" in result.stderr and "Traceback" not in result.stderr


def test_export_to_a_missing_folder() -> None:
    store = SessionStore()
    cid = store.create_conversation()
    store.add_message(cid, "user", "x")
    store.close()
    result = cli("sessions", "export", str(cid), "-o", "/nonexistent/dir/x.jsonl")
    assert result.returncode == 2
    assert "cannot write /nonexistent/dir/x.jsonl" in result.stderr and "Traceback" not in result.stderr


def test_resuming_a_conversation_whose_saved_settings_have_an_unknown_key(
    demo_models: dict[str, Path],
) -> None:
    store = SessionStore()
    cid = store.create_conversation(settings={"preset": "demo", "mode": "instruct", "windw": 512})
    store.add_message(cid, "user", "x")
    store.close()
    result = cli("chat", "--resume", str(cid))
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"stablelm-tui: error: {store.path}: conversation {cid}'s settings: unknown key 'windw' "
        "(did you mean 'window'?)\n"
    )
