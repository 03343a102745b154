"""`stablelm-tui tokens`: counts through the real nerdstash tokenizer, JSON shape, pieces, bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sentencepiece

from tui.cli import main

TEXT = "日本語の文章です。\nHello  world 123 😀 ｶﾀｶﾅ <|endoftext|>\x07\n"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_json_counts_match_sentencepiece(
    sample: Path, nerdstash_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "--preset", "demo", "--json", str(sample)]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = len(sentencepiece.SentencePieceProcessor(model_file=str(nerdstash_model)).encode(TEXT))
    (entry,) = data["inputs"]
    assert data["window"] == 2048 and data["tokenizer"].startswith("spm:")
    assert entry["tokens"] == expected
    assert entry["characters"] == len(TEXT)
    assert entry["chars_per_token"] == round(len(TEXT) / expected, 3)
    assert entry["copies_fit"] == 2048 // expected
    assert entry["window_share"] == round(expected / 2048, 4)


def test_tokenizer_path_window_and_pieces(
    sample: Path, nerdstash_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "tokens",
        "--tokenizer",
        str(nerdstash_model),
        "--window",
        "100",
        "--pieces",
        "--json",
        str(sample),
    ]
    assert main(args) == 0
    (entry,) = json.loads(capsys.readouterr().out)["inputs"]
    assert "".join(entry["pieces"]) == TEXT  # boundaries only, nothing lost
    assert len(entry["token_ids"]) == entry["tokens"]
    assert 3 not in entry["token_ids"]  # the literal "<|endoftext|>" stays text
    assert "<|endoftext|>" not in entry["pieces"]  # ... split into ordinary pieces
    assert entry["copies_fit"] == 100 // entry["tokens"]


def test_plain_output_and_stdin(
    sample: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("こんにちは".encode())))
    assert main(["tokens", "--pieces", str(sample), "-"]) == 0
    out = capsys.readouterr().out
    assert f"{sample}: {len(TEXT)} characters" in out and "of a 2048-token window" in out
    assert "stdin: 5 characters" in out
    assert "日本語│" in out and "␇" in out  # boundaries shown, control characters made visible


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b"ok\n\xff\xfe"), ":2: not valid UTF-8"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
    ids=["missing", "invalid-utf8", "directory"],
)
def test_bad_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: object, message: str
) -> None:
    path = tmp_path / "input.txt"
    setup(path)  # type: ignore[operator]
    assert main(["tokens", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stablelm-tui: error: ") and message in err and "Traceback" not in err


def test_unknown_tokenizer_and_bad_window(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "--tokenizer", "/no/such/tokenizer.model", str(sample)]) == 2
    assert main(["tokens", "--window", "0", str(sample)]) == 2
    assert "--window must be positive" in capsys.readouterr().err


def test_a_window_beyond_the_presets_model_is_refused(
    sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "--preset", "ja-alpha", "--window", "4096", str(sample)]) == 2
    assert capsys.readouterr().err == (
        "stablelm-tui: error: --window 4096 is beyond the model's 2048-token window "
        "(preset 'ja-alpha', context_window): use at most 2048\n"
    )
    assert main(["tokens", "--preset", "ja-alpha", "--window", "2048", "--json", str(sample)]) == 0
    assert json.loads(capsys.readouterr().out)["window"] == 2048


def test_console_script_end_to_end(sample: Path) -> None:
    exe = Path(sys.executable).with_name("stablelm-tui")
    result = subprocess.run(
        [str(exe), "tokens", "--json", str(sample)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["inputs"][0]["characters"] == len(TEXT)
