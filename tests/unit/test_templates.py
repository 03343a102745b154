"""Prompt templates: the model card's exact format, one span per message, errors with file and line, reload."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tui import templates
from tui.templates import (
    TemplateError,
    TemplateReloader,
    available_templates,
    build_summary_prompt,
    load_template,
)
from tui.tokenizers import SentencePieceTokenizer

CARD_LINE = (
    "以下は、タスクを説明する指示と、文脈のある入力の組み合わせです。要求を適切に満たす応答を書きなさい。"
)


def card_build_prompt(user_query: str, inputs: str = "", sep: str = "\n\n### ") -> str:
    """The prompt builder from the Japanese StableLM Instruct Alpha model card, transcribed as the oracle."""
    p = CARD_LINE
    roles = ["指示", "応答"]
    msgs = [": \n" + user_query, ": "]
    if inputs:
        roles.insert(1, "入力")
        msgs.insert(1, ": \n" + inputs)
    for role, msg in zip(roles, msgs, strict=True):
        p += sep + role + msg
    return p


def test_shipped_templates_are_found() -> None:
    assert {"ja-alpha-instruct", "ja-alpha-base-dialogue", "plain"} <= set(available_templates())


def test_ja_alpha_instruct_is_exactly_the_card_format() -> None:
    t = load_template("ja-alpha-instruct")
    query = "与えられたことわざの意味を小学生でも分かるように教えてください。"
    assert t.render([("user", query)]) == card_build_prompt(query)
    assert t.render([("user", query)]).endswith("### 応答: ")  # trailing space, no newline
    assert t.stop == ("\n\n###",)


def test_ja_alpha_instruct_multi_turn() -> None:
    t = load_template("ja-alpha-instruct")
    prompt = t.render([("user", "一つ目"), ("assistant", "答え"), ("user", "二つ目")])
    assert prompt == (
        CARD_LINE + "\n\n### 指示: \n一つ目\n\n### 応答: 答え\n\n### 指示: \n二つ目\n\n### 応答: "
    )


def test_base_dialogue_and_plain() -> None:
    dialogue = load_template("ja-alpha-base-dialogue")
    prompt = dialogue.render([("user", "こんにちは"), ("assistant", "どうも")])
    assert prompt.endswith("\nユーザー：こんにちは\nアシスタント：どうも\nアシスタント：")
    assert "\nユーザー：" in dialogue.stop
    plain = load_template("plain")
    assert plain.render([("user", "昔々"), ("assistant", "あるところに")]) == "昔々あるところに"
    assert plain.stop == ()


@pytest.mark.parametrize("name", ["ja-alpha-instruct", "ja-alpha-base-dialogue", "plain"])
def test_piecewise_ids_equal_whole_prompt_ids(name: str, nerdstash_model: Path) -> None:
    """With nerdstash v1 each shipped template's pieces encode to exactly the ids of the whole prompt."""
    tok = SentencePieceTokenizer(nerdstash_model)
    t = load_template(name)
    convo = [("system", "丁寧に答えて。"), ("user", " 先頭に空白\n改行"), ("assistant", "はい。  二つの空白")]
    pieces = [t.header(), *(t.message(r, c) for r, c in convo), t.footer()]
    ids = [i for piece in pieces for i in tok.encode(piece)]
    if name != "plain":  # plain joins raw text, so a merge across two messages is possible there
        assert ids == tok.encode("".join(pieces))
    assert tok.decode(ids) == "".join(pieces)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


GOOD = (
    '{%- set stop = ["\\nEND"] -%}\n'
    "{%- macro header() -%}H{%- endmacro -%}\n"
    "{%- macro message(role, content) -%}{{ '\\n' ~ role ~ ': ' ~ content }}{%- endmacro -%}\n"
    "{%- macro footer() -%}{{ '\\nassistant: ' }}{%- endmacro -%}\n"
)


def test_user_template_by_path(tmp_path: Path) -> None:
    t = load_template(str(write(tmp_path / "mine.j2", GOOD)))
    assert t.render([("user", "hi")]) == "H\nuser: hi\nassistant: "
    assert t.stop == ("\nEND",)


def test_user_templates_dir_overrides_by_name() -> None:
    from tui.paths import config_dir

    write(config_dir() / "templates" / "plain.j2", GOOD)
    write(config_dir() / "templates" / "extra.j2", GOOD)
    assert load_template("plain").header() == "H"
    assert "extra" in available_templates()


def test_packaged_data_dir_is_searched_before_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_package = tmp_path / "site" / "tui"
    write(fake_package / "_data" / "prompt_template" / "plain.j2", GOOD)
    monkeypatch.setattr(templates, "_PACKAGE_DIR", fake_package)
    dirs = templates.template_dirs()
    assert dirs[1] == fake_package / "_data" / "prompt_template"
    assert load_template("plain").header() == "H"


def test_unknown_template_lists_known() -> None:
    with pytest.raises(TemplateError, match=r"unknown template 'nope'.*ja-alpha-instruct"):
        load_template("nope")
    with pytest.raises(TemplateError, match="does not exist"):
        load_template("/no/such/file.j2")


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.j2", GOOD + "{% if %}\n")
    with pytest.raises(TemplateError) as info:
        load_template(str(path))
    assert f"{path}:5:" in str(info.value)


def test_undefined_variable_names_file_and_line(tmp_path: Path) -> None:
    text = GOOD.replace("{{ '\\nassistant: ' }}", "{{ cue_word }}")
    path = write(tmp_path / "undef.j2", text)
    with pytest.raises(TemplateError) as info:
        load_template(str(path))
    assert f"{path}:4:" in str(info.value) and "cue_word" in str(info.value)


def test_undefined_in_a_rarely_used_branch_is_caught_at_load(tmp_path: Path) -> None:
    text = GOOD.replace(
        "{{ '\\n' ~ role ~ ': ' ~ content }}",
        "{% if role == 'system' %}{{ sys_prefix }}{% endif %}{{ content }}",
    )
    with pytest.raises(TemplateError, match="sys_prefix"):
        load_template(str(write(tmp_path / "branch.j2", text)))


def test_missing_macro_and_bad_stop(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"missing macro.*footer"):
        load_template(str(write(tmp_path / "nofooter.j2", GOOD.split("{%- macro footer")[0])))
    with pytest.raises(TemplateError, match="stop"):
        load_template(str(write(tmp_path / "stop.j2", GOOD.replace('["\\nEND"]', '"oops"'))))


def test_sandbox_blocks_attribute_escapes(tmp_path: Path) -> None:
    text = GOOD.replace("{%- macro header() -%}H", "{%- macro header() -%}{{ ''.__class__.__mro__ }}")
    with pytest.raises(TemplateError, match="unsafe"):
        load_template(str(write(tmp_path / "escape.j2", text)))


def test_reloader_picks_up_edits_and_keeps_last_good(tmp_path: Path) -> None:
    path = write(tmp_path / "live.j2", GOOD)
    reloader = TemplateReloader(str(path))
    assert reloader.current().header() == "H"

    def rewrite(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        stamp = path.stat().st_mtime_ns + 1_000_000_000  # a new mtime even on coarse filesystems
        os.utime(path, ns=(stamp, stamp))

    rewrite(GOOD.replace("H{%", "H2{%"))
    assert reloader.current().header() == "H2" and reloader.error is None
    rewrite(GOOD + "{% endif %}\n")
    assert reloader.current().header() == "H2"
    assert reloader.error is not None and str(path) in reloader.error and "last good" in reloader.error
    rewrite(GOOD)
    assert reloader.current().header() == "H" and reloader.error is None


def test_model_chat_template(tmp_path: Path) -> None:
    chatml = (
        "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    config = {"chat_template": chatml, "eos_token": "<|im_end|>", "bos_token": "<s>"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    t = load_template(f"hf:{tmp_path}")
    assert t.header() == "<s>"
    assert t.message("user", "hi") == "<|im_start|>user\nhi<|im_end|>\n"
    assert t.message("assistant", "yo") == "<|im_start|>assistant\nyo<|im_end|>\n"
    assert t.footer() == "<|im_start|>assistant\n"
    assert t.stop == ("<|im_end|>",)


def test_base_model_without_chat_template(demo_models: dict[str, Path]) -> None:
    with pytest.raises(TemplateError, match="no chat template"):
        load_template(f"hf:{demo_models['base']}")


def test_summary_prompt() -> None:
    prompt = build_summary_prompt("ユーザー: 旅行の計画\nアシスタント: 京都はどうですか", 150)
    assert prompt.startswith(CARD_LINE)
    assert "150文字以内" in prompt and "京都はどうですか" in prompt
    assert prompt.endswith("### 応答: ")
