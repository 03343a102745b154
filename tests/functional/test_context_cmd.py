"""`stablelm-tui context`: the plan for a conversation file, as JSON and as a table, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.cli import main
from tui.context import Message
from tui.context.jsonl import to_jsonl
from tui.tokenizers import load_tokenizer


def write_conversation(path: Path, turns: int) -> Path:
    messages = [Message("system", "あなたは親切なアシスタントです。", pinned=False)]
    for i in range(turns):
        messages += [Message("user", f"質問{i}です。" * 15), Message("assistant", f"回答{i}です。" * 15)]
    path.write_text(to_jsonl(messages), encoding="utf-8")
    return path


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(["context", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_json_plan_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    convo = write_conversation(tmp_path / "c.jsonl", 3)
    code, plan = run_json(["--conversation", str(convo), "--draft", "次の質問"], capsys)
    assert code == 0
    for key in ("window", "reserve", "budget", "policy", "template", "total_tokens", "segments", "token_ids"):
        assert key in plan
    assert (plan["window"], plan["reserve"], plan["budget"]) == (2048, 256, 1792)
    assert plan["template"] == "ja-alpha-instruct" and plan["policy"] == "rolling"
    assert set(plan["segments"][0]) == {"kind", "message_index", "role", "status", "tokens"}
    assert plan["total_tokens"] == len(plan["token_ids"])
    assert plan["prompt"].endswith("### 指示: \n次の質問\n\n### 応答: ")
    tokenizer = load_tokenizer("demo:base")
    assert tokenizer.decode(plan["token_ids"]) == plan["prompt"]
    assert tokenizer.encode(plan["prompt"]) == plan["token_ids"]


def test_base_mode_window_and_policies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    convo = write_conversation(tmp_path / "c.jsonl", 20)
    code, plan = run_json(
        ["--conversation", str(convo), "--mode", "base", "--window", "1024", "--max-new-tokens", "100"],
        capsys,
    )
    assert code == 0 and plan["template"] == "ja-alpha-base-dialogue" and plan["budget"] == 924
    assert plan["total_tokens"] <= 924 and any(s["status"] == "dropped" for s in plan["segments"])
    code, middle = run_json(["--conversation", str(convo), "--window", "1024", "--policy", "middle"], capsys)
    assert [s["status"] for s in middle["segments"][1:4]] == ["kept", "kept", "kept"]
    code, summarize = run_json(
        ["--conversation", str(convo), "--window", "1024", "--policy", "summarize"], capsys
    )
    assert code == 0 and summarize["summary_jobs"]
    code = main(["context", "--conversation", str(convo), "--window", "1024", "--policy", "stop"])
    captured = capsys.readouterr()
    assert code == 1 and "over by" in captured.err and "tokens" in captured.err


def test_table_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    convo = write_conversation(tmp_path / "c.jsonl", 20)
    assert main(["context", "--conversation", str(convo), "--window", "1024"]) == 0
    out = capsys.readouterr().out
    assert "template ja-alpha-instruct, policy rolling" in out
    assert "dropped" in out and "header" in out and "footer" in out
    assert "[█" in out and "|r" in out  # the bar: used, free, reserve
    assert "- dropped messages 2–" in out  # counted from 1: the system message is 1 and stays
    rows = [line.split() for line in out.splitlines() if line[:4].strip().isdigit()]
    assert rows[0][:2] == ["1", "system"]  # the table numbers messages from 1 too


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"role": "user", "content": "a"}\n{"role": "user", "content": "b"\n', "c.jsonl:2: not valid JSON"),
        (b'{"role": "narrator", "content": "a"}\n', "c.jsonl:1: unknown role 'narrator'"),
        (b'{"role": "user", "content": "\xe3\x81"}\n', "c.jsonl:1: not valid UTF-8"),
        (None, "c.jsonl: no such file"),
    ],
    ids=["malformed", "unknown-role", "invalid-utf8", "missing"],
)
def test_bad_conversation_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    path = tmp_path / "c.jsonl"
    if content is not None:
        path.write_bytes(content)
    assert main(["context", "--conversation", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stablelm-tui: error: ") and message in err


def test_bad_numbers_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    convo = write_conversation(tmp_path / "c.jsonl", 1)
    assert main(["context", "--conversation", str(convo), "--window", "100", "--max-new-tokens", "100"]) == 2
    assert main(["context", "--conversation", str(convo), "--template", "nope"]) == 2
    err = capsys.readouterr().err
    assert "the reply's reserve of 100 tokens (from --max-new-tokens) leaves no room" in err
    assert "unknown template 'nope'" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["--window", "4096"],
            "--window 4096 is beyond the model's 2048-token window (preset 'demo', context_window): "
            "use at most 2048",
            id="window-beyond-the-model",
        ),
        pytest.param(
            ["--preset", "ja-alpha", "--window", "2049"],
            "--window 2049 is beyond the model's 2048-token window (preset 'ja-alpha', context_window): "
            "use at most 2048",
            id="ja-alpha-limit",
        ),
        pytest.param(["--window", "0"], "--window must be positive, got 0", id="window-zero"),
        pytest.param(
            ["--window", "200"],
            "the reply's reserve of 256 tokens (from preset 'demo', instruct.generation.max_new_tokens "
            "(the default)) leaves no room for the prompt in a 200-token window: pass --max-new-tokens below 200",
            id="reserve-from-the-preset",
        ),
        pytest.param(
            ["--window", "200", "--max-new-tokens", "300"],
            "the reply's reserve of 300 tokens (from --max-new-tokens) leaves no room for the prompt in a "
            "200-token window: pass a smaller --max-new-tokens",
            id="reserve-from-the-flag",
        ),
    ],
)
def test_window_and_reserve_are_refused_like_the_settings_dialog_refuses_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    convo = write_conversation(tmp_path / "c.jsonl", 1)
    assert main(["context", "--conversation", str(convo), *argv]) == 2
    assert capsys.readouterr().err == f"stablelm-tui: error: {message}\n"


def test_the_models_whole_window_is_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    convo = write_conversation(tmp_path / "c.jsonl", 1)
    code, plan = run_json(
        ["--conversation", str(convo), "--window", "2048", "--max-new-tokens", "1000"], capsys
    )
    assert code == 0 and (plan["window"], plan["reserve"], plan["budget"]) == (2048, 1000, 1048)
