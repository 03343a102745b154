"""`stablelm-tui compare` on the demo models: every variant answers every prompt, with the numbers to judge them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.functional.train_helpers import SENTENCES
from tui.cli import main
from tui.compare.report import cells

pytestmark = pytest.mark.usefixtures("demo_models")
PROMPTS = ["吾輩は猫である。", "日本の首都はどこですか？"]


def prompts_file(folder: Path) -> Path:
    path = folder / "prompts.txt"
    path.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    return path


def reference_file(folder: Path) -> Path:
    """Held-out text like the training data, in another order."""
    path = folder / "reference.txt"
    path.write_text("".join(reversed(SENTENCES)) * 3, encoding="utf-8")
    return path


def compare(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["compare", "--preset", "demo", "--device", "cpu", "--max-new-tokens", "8", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_compare_json_has_every_variant_and_prompt_with_finite_perplexities(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    trained_adapter: dict[str, Any],
) -> None:
    variants = f"base,base+{trained_adapter['dir']},instruct"
    code, out, err = compare(
        capsys,
        "--prompts",
        str(prompts_file(tmp_path)),
        "--variants",
        variants,
        "--reference",
        str(reference_file(tmp_path)),
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    labels = [v["label"] for v in report["variants"]]
    assert labels == ["base", "base+adapter", "instruct"]
    pairs = {(r["variant"], r["prompt"]) for r in report["replies"]}
    assert pairs == {(label, i) for label in labels for i in range(len(PROMPTS))}
    perplexity = {v["label"]: v["perplexity"] for v in report["variants"]}
    assert all(math.isfinite(p) and p > 1 for p in perplexity.values())
    # Trained on text like the reference, the adapter makes it far less surprising than the same base alone.
    assert perplexity["base+adapter"] < perplexity["base"] / 2
    for variant in report["variants"]:
        assert variant["reference_tokens"] > 0
        assert 0 <= variant["stop_rate"] <= 1 and 0 < variant["mean_reply_tokens"] <= 8
    assert all(
        r["finish"] in ("eos", "stop", "length") and r["stopped"] == (r["finish"] != "length")
        for r in report["replies"]
    )


@pytest.mark.slow
def test_compare_text_shows_the_table_and_replies_side_by_side_in_80_columns(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    trained_adapter: dict[str, Any],
) -> None:
    code, out, _err = compare(
        capsys,
        "--prompts",
        str(prompts_file(tmp_path)),
        "--variants",
        f"base,base+{trained_adapter['dir']}",
        "--template",
        "plain",
        "ja-alpha-base-dialogue",
        "--seed",
        "7",
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["variant", "perplexity", "stops", "tokens/reply"]
    assert [line.split()[0] for line in lines[1:5]] == [
        "base@plain",
        "base@ja-alpha-base-dialogue",
        "base+adapter@plain",
        "base+adapter@ja-alpha-base-dialogue",
    ]
    assert "perplexity: n/a (give --reference FILE" in out
    assert out.count("prompt 1: 吾輩は猫である。") == 1
    assert [line for line in lines if cells(line) > 80] == []


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ("base,chat", "variant 'chat': start it with base or instruct"),
        ("base+", "name the adapter folder after the +"),
        ("base+/no/such/adapter", "no such directory"),
        ("base,base", "names base twice"),
    ],
)
def test_bad_variants_are_one_sentence_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], variants: str, message: str
) -> None:
    code, _out, err = compare(capsys, "--prompts", str(prompts_file(tmp_path)), "--variants", variants)
    assert code == 2 and message in err and err.count("\n") == 1


def test_an_adapter_of_another_model_is_refused_before_anything_loads(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    trained_adapter: dict[str, Any],
) -> None:
    code, _out, err = compare(
        capsys, "--prompts", str(prompts_file(tmp_path)), "--variants", f"instruct+{trained_adapter['dir']}"
    )
    assert code == 2 and "was trained on demo:base, a different model from demo:instruct" in err


def test_a_missing_or_empty_prompts_file_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compare(capsys, "--prompts", str(tmp_path / "none.txt"))[0] == 2
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    code, _out, err = compare(capsys, "--prompts", str(tmp_path / "empty.txt"))
    assert code == 2 and "no prompts in it" in err
    (tmp_path / "bad.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    code, _out, err = compare(capsys, "--prompts", str(tmp_path / "bad.jsonl"))
    assert code == 2 and 'expected an object like {"prompt": "..."}' in err
