"""`stablelm-tui generate` end to end on the demo preset (local) and against a local fake server (openai)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.engine_helpers import collect, never
from tests.functional.test_remote_faults import PIECES, Server
from tui.cli import main

pytestmark = pytest.mark.usefixtures("demo_models")


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["generate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_same_seed_same_text_and_stats_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("--prompt", "日本の首都は?", "--seed", "5", "--max-new-tokens", "24", "--stats")
    code, out1, err1 = run(capsys, *argv)
    assert code == 0 and out1
    code, out2, _ = run(capsys, *argv)
    assert out2 == out1
    _code, out3, _ = run(capsys, *argv[:3], "6", *argv[4:])
    assert out3 != out1
    lines = err1.strip().splitlines()
    assert len(lines) == 1
    stats = json.loads(lines[0])
    assert list(stats) == [
        "ttft_s",
        "new_tokens",
        "tokens_per_s",
        "prefill_tokens",
        "reused_tokens",
        "model",
        "device",
    ]
    assert stats["new_tokens"] == 24 and stats["reused_tokens"] == 0
    assert stats["model"] == "demo:instruct" and stats["device"] == "cpu"


@pytest.mark.slow
def test_greedy_and_temperature_zero_ignore_the_seed(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("--prompt", "日本の首都は?", "--max-new-tokens", "16")
    code, greedy, _ = run(capsys, *argv, "--greedy", "--seed", "1")
    assert code == 0 and greedy
    assert run(capsys, *argv, "--greedy", "--seed", "2")[1] == greedy
    assert run(capsys, *argv, "--temperature", "0", "--seed", "3")[1] == greedy


def test_uses_the_same_planner_and_template_as_the_tui(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The command's output is exactly the engine's reply to the plan `context --json` shows."""
    conversation = tmp_path / "c.jsonl"
    lines = [
        {"role": "system", "content": "あなたは親切なアシスタントです。"},
        {"role": "user", "content": "おすすめの本は?"},
        {"role": "assistant", "content": "どんな本が好きですか?"},
        {"role": "user", "content": "推理小説です。"},
    ]
    conversation.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    code, out, err = run(
        capsys,
        "--conversation",
        str(conversation),
        "--mode",
        "base",
        "--seed",
        "3",
        "--max-new-tokens",
        "16",
        "--stats",
    )
    assert code == 0
    assert (
        main(
            [
                "context",
                "--conversation",
                str(conversation),
                "--mode",
                "base",
                "--max-new-tokens",
                "16",
                "--json",
            ]
        )
        == 0
    )
    plan = json.loads(capsys.readouterr().out)
    assert json.loads(err)["prefill_tokens"] == len(plan["token_ids"])

    from tests.functional.engine_helpers import Spm
    from tui.demo import resolve_model_ref
    from tui.engine.local import LocalBackend
    from tui.engine.request import GenerationRequest
    from tui.presets import load_settings

    preset = load_settings().preset("demo")
    model = resolve_model_ref("demo:base")
    backend = LocalBackend.load(model, Spm(Path(model) / "tokenizer.model"))
    gen = preset.base.generation
    request = GenerationRequest(
        prompt_ids=plan["token_ids"],
        max_new_tokens=16,
        temperature=gen.temperature,
        top_p=gen.top_p,
        seed=3,
        eos_token_id=3,
        stop_strings=tuple(plan.get("stop", ())),
    )
    assert out == collect(backend.stream(request, never()))[1].text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--prompt", "x", "--max-new-tokens", "0"],
            "the reply's reserve must be at least 1 token, got 0 (from --max-new-tokens)",
        ),
        (
            ["--prompt", "x", "--max-new-tokens", "2048"],
            "the reply's reserve of 2048 tokens (from --max-new-tokens) leaves no room for the prompt in a "
            "2048-token window: pass a smaller --max-new-tokens",
        ),
        (["--prompt", "x", "--top-p", "2"], "top_p must be in"),
        (["--conversation", "/nonexistent.jsonl"], "no such file"),
        (["--prompt", "x", "--backend", "openai"], "needs --base-url"),
    ],
)
def test_bad_input_is_a_user_error(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("stablelm-tui: error: ") and message in err and "Traceback" not in err


def test_openai_backend_streams_from_the_server(capsys: pytest.CaptureFixture[str], server: Server) -> None:
    code, out, err = run(capsys, "--prompt", "やあ", "--base-url", server.url, "--stats")
    assert code == 0 and out == "".join(PIECES)
    assert json.loads(err)["device"] == server.url
    from tui.presets import load_settings
    from tui.tokenizers import tokenizer_for_preset

    sent = server.bodies[-1]["prompt"]
    assert isinstance(sent, list) and all(isinstance(i, int) for i in sent)  # token ids, not text
    text = tokenizer_for_preset(load_settings().preset("demo")).decode(sent)
    assert "やあ" in text and text != "やあ"  # the template's rendering, not the bare message


def test_openai_failure_keeps_partial_output_and_says_why(
    capsys: pytest.CaptureFixture[str], server: Server
) -> None:
    server.mode = "die"
    code, out, err = run(capsys, "--prompt", "やあ", "--base-url", server.url)
    assert code == 1 and out == "こんにち"
    assert (
        err.strip().startswith("stablelm-tui: error: the connection to")
        and len(err.strip().splitlines()) == 1
    )


@pytest.mark.slow
def test_stdout_is_flushed_per_chunk(server: Server) -> None:
    """While the server pauses mid-reply, the chunks already received are on our stdout."""
    server.mode = "slow"  # 2 chunks, then 1.5 s of silence, then the connection ends
    env = dict(os.environ)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui",
            "generate",
            "--prompt",
            "x",
            "--base-url",
            server.url,
            "--timeout",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    got = b""
    deadline = time.monotonic() + 60
    while len(got.decode("utf-8", "ignore")) < 4 and time.monotonic() < deadline:
        got += os.read(proc.stdout.fileno(), 64)
    assert got.decode() == "こんにち"
    assert proc.poll() is None  # still waiting for the server: the text came out before the end
    proc.wait(30)
