"""A killed training run resumes where it was; bad input is one sentence and exit 2, with nothing half-done left."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.functional.train_helpers import FAST, write_text_data
from tui.cli import main

pytestmark = pytest.mark.usefixtures("demo_models")
TRAIN = ("train", "--preset", "demo", "--device", "cpu")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main([*TRAIN, *argv])
    return code, capsys.readouterr().err


def work_dir(out: Path) -> Path:
    return out.with_name(out.name + ".incomplete")


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    data = write_text_data(tmp_path)
    out = tmp_path / "adapter"
    argv = [sys.executable, "-m", "tui", *TRAIN, "--data", str(data), "--out", str(out), *FAST]
    argv += ["--steps", "30", "--save-every", "4", "--eval-every", "30"]
    checkpoints = work_dir(out) / "checkpoints"
    with (tmp_path / "first.log").open("w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 240
            while not (
                checkpoints.is_dir() and any(p.name.startswith("step-") for p in checkpoints.iterdir())
            ):
                assert proc.poll() is None, (tmp_path / "first.log").read_text()
                assert time.monotonic() < deadline, "no checkpoint within 240 s"
                time.sleep(0.05)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not out.exists()
    saved = sorted(
        int(p.name.removeprefix("step-")) for p in checkpoints.iterdir() if p.name.startswith("step-")
    )
    last = saved[-1]
    assert 4 <= last < 30

    # Changed settings are refused rather than mixed into the interrupted run.
    changed = subprocess.run([*argv, "--resume", "--rank", "8"], capture_output=True, text=True, timeout=300)
    assert changed.returncode == 2
    assert "differs from the interrupted one in alpha, rank" in changed.stderr

    resumed = subprocess.run([*argv, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at step {last} from" in resumed.stderr
    steps = [int(m) for m in re.findall(r"^step (\d+)/30 ", resumed.stderr, flags=re.MULTILINE)]
    assert steps == list(range(last + 1, 31))  # the counter continues: never step 1 again
    card = json.loads((out / "training_card.json").read_text(encoding="utf-8"))
    assert card["results"]["steps"] == 30
    assert card["results"]["resumed_from_steps"] == [last]
    assert not work_dir(out).exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"\n \n", "nothing to learn from"),
        ("weights.bin", b"\x00\x00\x00binary", "not a known training format"),
        ("settings.json", b'{"lr": 1}', "not a known training format"),
    ],
)
def test_bad_data_is_one_sentence_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    code, err = run(capsys, "--data", str(tmp_path / name), "--out", str(tmp_path / "out"))
    assert code == 2
    assert err.startswith("stablelm-tui: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists() and not work_dir(tmp_path / "out").exists()


def test_bad_flags_are_one_sentence_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(write_text_data(tmp_path))
    out = tmp_path / "out"
    cases = [
        (("--max-tokens", "10"), "--max-tokens must be between 32 and the window 2048"),
        (("--rank", "0"), "--rank must be positive"),
        (("--lr", "nan"), "--lr must be a positive number"),
        (("--quantize", "int4", *FAST), "needs a CUDA GPU"),
    ]
    for flags, message in cases:
        code, err = run(capsys, "--data", data, "--out", str(out), *flags)
        assert code == 2 and message in err, (flags, err)
    assert not out.exists() and not work_dir(out).exists()
    with pytest.raises(SystemExit) as caught:
        main([*TRAIN, "--data", data, "--out", str(out), "--steps", "3", "--epochs", "1"])
    assert caught.value.code == 2


def test_an_existing_adapter_or_an_interrupted_run_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(write_text_data(tmp_path))
    out = tmp_path / "out"
    out.mkdir()
    code, err = run(capsys, "--data", data, "--out", str(out))
    assert code == 2 and "already exists" in err
    out.rmdir()
    work_dir(out).mkdir()
    code, err = run(capsys, "--data", data, "--out", str(out))
    assert code == 2 and "add --resume to continue it" in err


@pytest.mark.slow
def test_out_of_memory_says_what_to_lower_and_leaves_no_adapter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    import tui.train.loop

    real = tui.train.loop.sequence_loss

    def out_of_memory_when_training(*args: object) -> object:
        if torch.is_grad_enabled():
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(tui.train.loop, "sequence_loss", out_of_memory_when_training)
    out = tmp_path / "out"
    code, err = run(
        capsys, "--data", str(write_text_data(tmp_path)), "--out", str(out), *FAST, "--steps", "4"
    )
    assert code == 2
    assert "out of GPU memory at step 1" in err and "lower --max-tokens" in err and "--quantize int4" in err
    assert not out.exists()
