"""Training data files become the exact token ids the app sends, with only the model's own words learned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.context import plan_context
from tui.context.jsonl import to_jsonl
from tui.context.model import Message
from tui.errors import UserError
from tui.templates import load_template
from tui.tokenizers import load_tokenizer
from tui.train.data import read_file, read_files
from tui.train.sequences import Document

pytestmark = pytest.mark.usefixtures("demo_models")
EOS = 3
CONVERSATION = [
    Message("system", "丁寧に答えてください。"),
    Message("user", "日本の首都は？"),
    Message("assistant", "東京です。大きな都市です。"),
    Message("user", "人口は？"),
    Message("assistant", "約1400万人です。"),
]


@pytest.fixture
def tokenizer():  # type: ignore[no-untyped-def]
    return load_tokenizer("demo:base")


def read(path: Path, tokenizer, template: str = "ja-alpha-instruct") -> list[Document]:  # type: ignore[no-untyped-def]
    docs, _summary = read_file(str(path), tokenizer=tokenizer, template=load_template(template), eos_id=EOS)
    return docs


def learned_text(doc: Document, tokenizer) -> list[str]:  # type: ignore[no-untyped-def]
    """The learned ids as runs of text (eos shown as <eos>)."""
    runs: list[list[int]] = []
    previous = False
    for token, learned in zip(doc.ids, doc.loss, strict=True):
        if learned:
            if not previous:
                runs.append([])
            runs[-1].append(token)
        previous = learned
    return ["".join("<eos>" if t == EOS else tokenizer.decode([t]) for t in run) for run in runs]


@pytest.mark.parametrize(
    ("template", "stop"), [("ja-alpha-instruct", "\n\n###"), ("ja-alpha-base-dialogue", "\nユーザー：")]
)
def test_a_conversation_learns_each_reply_then_what_ends_it_in_that_format(
    tmp_path: Path, tokenizer, template: str, stop: str
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "chat.jsonl"
    path.write_text(to_jsonl(CONVERSATION), encoding="utf-8")
    [doc] = read(path, tokenizer, template)
    assert learned_text(doc, tokenizer) == ["東京です。大きな都市です。" + stop, "約1400万人です。<eos>"]


def test_a_one_reply_conversation_is_exactly_the_prompt_the_app_sends_then_the_reply(
    tmp_path: Path, tokenizer
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "chat.jsonl"
    path.write_text(to_jsonl(CONVERSATION[:3]), encoding="utf-8")
    [doc] = read(path, tokenizer)
    template = load_template("ja-alpha-instruct")
    plan = plan_context(CONVERSATION[:2], tokenizer=tokenizer, template=template, window=2048, reserve=256)
    reply = tokenizer.encode("東京です。大きな都市です。")
    assert list(doc.prefix + doc.ids) == [*plan.token_ids, *reply, EOS]


def test_earlier_replies_are_encoded_as_the_model_wrote_them_after_the_cue(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    # The app re-encodes an earlier reply as one piece ("応答: 東京" may merge the space into the next
    # token); the model wrote it after the cue's own ids, and that is what it learns to write again.
    path = tmp_path / "chat.jsonl"
    path.write_text(to_jsonl(CONVERSATION), encoding="utf-8")
    [doc] = read(path, tokenizer)
    template = load_template("ja-alpha-instruct")
    encode = tokenizer.encode
    expected = [
        *encode(template.header() + template.message("system", CONVERSATION[0].content)),
        *encode(template.message("user", "日本の首都は？")),
        *encode(template.footer()),
        *encode("東京です。大きな都市です。"),
        *encode(template.message("user", "人口は？")),
        *encode(template.footer()),
        *encode("約1400万人です。"),
        EOS,
    ]
    assert list(doc.prefix + doc.ids) == expected


def test_the_system_message_is_context_in_every_piece(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "chat.jsonl"
    path.write_text(to_jsonl(CONVERSATION), encoding="utf-8")
    [doc] = read(path, tokenizer)
    assert "丁寧に答えてください。" in tokenizer.decode(list(doc.prefix))
    assert not any(doc.loss[: len(tokenizer.encode("\n\n### 指示: \n日本の首都は？"))])


def test_a_story_learns_its_text_with_its_memory_as_context(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.story.json"
    story = {"text": "雨が降っていた。\n彼女は傘を忘れた。", "memory": "舞台は東京。", "lore": []}
    path.write_text(json.dumps(story, ensure_ascii=False), encoding="utf-8")
    [doc] = read(path, tokenizer)
    assert doc.kind == "story"
    assert tokenizer.decode(list(doc.prefix)) == "舞台は東京。\n"
    assert tokenizer.decode(list(doc.ids)) == story["text"] and all(doc.loss)
    assert doc.strong_cuts  # after the newline


def test_plain_text_is_continuation_with_every_token_learned(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "notes.txt"
    path.write_text("一行目。\n二行目！\n", encoding="utf-8")
    [doc] = read(path, tokenizer)
    assert doc.prefix == () and all(doc.loss)
    assert tokenizer.decode(list(doc.ids)) == "一行目。\n二行目！\n"
    assert doc.sentence_cuts >= doc.strong_cuts


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("model.bin", b"\x00\x01binary", "not a known training format"),
        ("data.json", b'{"a": 1}', "not a known training format"),
        ("bad.story.json", b'{"memory": "x"}', "not a story file"),
        ("broken.story.json", b"{", "not valid JSON"),
        ("rows.jsonl", b'{"text": "hello"}\n', "not a conversation export"),
        ("latin1.txt", "caf\u00e9".encode("latin-1"), "not valid UTF-8"),
    ],
)
def test_a_file_in_no_known_format_names_itself(
    tmp_path: Path, tokenizer, name: str, content: bytes, message: str
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as caught:
        read(path, tokenizer)
    assert name in str(caught.value)


def test_nothing_to_learn_is_one_sentence(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    questions = tmp_path / "questions.jsonl"
    questions.write_text(to_jsonl([Message("user", "こんにちは")]), encoding="utf-8")
    with pytest.raises(UserError, match="nothing to learn from"):
        read_files(
            [str(empty), str(questions)], tokenizer=tokenizer, template=load_template("plain"), eos_id=EOS
        )


def test_missing_files_and_folders_are_named(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UserError, match="no such file"):
        read(tmp_path / "nope.txt", tokenizer)
    with pytest.raises(UserError, match="is a directory"):
        read(tmp_path, tokenizer)
