"""Using a trained adapter: `chat --adapter`, `novel write --adapter` and `serve --adapter` through a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.functional.serve_helpers import Served, start_serve
from tui.cli import build_parser, main
from tui.engine.factory import EngineChoice
from tui.errors import UserError
from tui.novel.files import save_story
from tui.novel.story import Story

pytestmark = [pytest.mark.usefixtures("demo_models"), pytest.mark.slow]
PROMPT = "吾輩は猫である。"


def test_chat_adapter_flag_names_the_start_mode_or_the_mode_before_the_equals_sign() -> None:
    def adapters(*argv: str) -> dict[str, str]:
        return dict(EngineChoice.from_args(build_parser().parse_args(["chat", *argv])).adapters)

    assert adapters("--adapter", "A") == {"instruct": "A"}
    assert adapters("--mode", "base", "--adapter", "A") == {"base": "A"}
    assert adapters("--adapter", "base=B", "--adapter", "instruct=I") == {"base": "B", "instruct": "I"}


def test_chat_with_two_adapters_for_one_model_is_one_sentence_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["chat", "--preset", "demo", "--adapter", "A", "--adapter", "instruct=B"]) == 2
    err = capsys.readouterr().err
    assert "--adapter names two adapters for the instruct model" in err and err.count("\n") == 1


def test_novel_write_with_the_adapter_differs_from_without(
    trained_adapter: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outputs = []
    for flags in ([], ["--adapter", str(trained_adapter["dir"])]):
        story = tmp_path / f"s{len(outputs)}.story.json"
        save_story(story, Story(text=PROMPT))
        argv = ["novel", "write", str(story), "--max-new-tokens", "12", "--greedy", "--device", "cpu"]
        assert main([*argv, *flags]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] and outputs[1] and outputs[0] != outputs[1]


def test_novel_write_refuses_an_adapter_for_a_server(
    trained_adapter: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    story = tmp_path / "s.story.json"
    save_story(story, Story(text=PROMPT))
    argv = ["novel", "write", str(story), "--base-url", "http://127.0.0.1:9", "--adapter", "x"]
    assert main(argv) == 2
    assert "a server loads its adapters itself" in capsys.readouterr().err


@pytest.fixture(scope="module")
def served_with_adapter(
    trained_adapter: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    adapter = str(trained_adapter["dir"])
    server = start_serve(
        tmp_path_factory.mktemp("serve"), "--preset", "demo", "--mode", "base", "--device", "cpu",
        "--adapter", adapter,
    )  # fmt: skip
    yield server
    server.stop()


def complete(served: Served, model: str) -> str:
    body = {"model": model, "prompt": PROMPT, "max_tokens": 12, "temperature": 0}
    reply = httpx.post(f"{served.url}/v1/completions", json=body, timeout=60)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["choices"][0]["text"])


def test_serve_lists_the_adapter_as_a_model_of_its_own(
    served_with_adapter: Served, trained_adapter: dict[str, Any]
) -> None:
    listed = httpx.get(f"{served_with_adapter.url}/v1/models").json()["data"]
    assert [m["id"] for m in listed] == ["demo-base", "demo-base+lora"]
    assert listed[1]["parent"] == "demo-base" and listed[1]["root"] == str(trained_adapter["dir"])
    assert "served as demo-base+lora" in served_with_adapter.stdout.read_text()


def test_serve_answers_with_the_adapter_only_under_its_name_and_switches_in_place(
    served_with_adapter: Served,
) -> None:
    plain = complete(served_with_adapter, "demo-base")
    tuned = complete(served_with_adapter, "demo-base+lora")
    assert plain != tuned
    # Back and forth: each name keeps answering the same (greedy) text, the switch is exact both ways.
    assert complete(served_with_adapter, "demo-base") == plain
    assert complete(served_with_adapter, "demo-base+lora") == tuned


def test_serve_refuses_an_adapter_for_a_model_it_does_not_serve(
    trained_adapter: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--engine", "local", "--preset", "demo", "--mode", "instruct"]
    assert main([*argv, "--adapter", f"base={trained_adapter['dir']}"]) == 2
    assert "the base model is not served (--mode instruct)" in capsys.readouterr().err
    assert main([*argv, "--adapter", str(trained_adapter["dir"])]) == 2
    assert "was trained on demo:base, a different model from demo:instruct" in capsys.readouterr().err
    assert main(["serve", "--engine", "local", "--preset", "demo", "--mode", "both", "--adapter", "D"]) == 2
    assert "say which model it is for: base=D or instruct=D" in capsys.readouterr().err


def test_an_adapter_switched_off_stays_off_when_single_residency_reloads_its_model(
    trained_adapter: dict[str, Any],
) -> None:
    from tui.engine.adapters import active_adapter
    from tui.engine.loading import LoadOptions
    from tui.engine.residency import ModelPair
    from tui.tokenizers import load_tokenizer

    pair = ModelPair(
        {"base": "demo:base", "instruct": "demo:instruct"},
        load_tokenizer("demo:base"),
        options=LoadOptions(device="cpu"),
        residency="single",
        adapters={"base": str(trained_adapter["dir"])},
    )
    assert pair.adapter_on("base") is True and pair.adapter_on("instruct") is None
    assert pair.set_adapter("base", False) and pair.loads == 0  # chosen before the model loads: nothing loads
    assert active_adapter(pair.backend("base").model) is None
    pair.toggle("instruct")
    pair.toggle("base")  # single: read from disk again, with the adapter, and switched off again
    assert pair.loads == 3 and active_adapter(pair.backend("base").model) is None
    assert pair.set_adapter("base", True) and not pair.set_adapter("base", True)
    assert active_adapter(pair.backend("base").model) is not None and pair.loads == 3
    with pytest.raises(UserError, match="the instruct model has no LoRA adapter"):
        pair.set_adapter("instruct", True)
    pair.close()
