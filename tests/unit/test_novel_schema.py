"""The `*.story.json` format: strict reading with one-sentence errors, readable round-trip writing, private atomic files."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.errors import UserError
from tui.novel.files import MAX_STORY_BYTES, private_dir, read_story, save_story
from tui.novel.schema import check_story, dump_story, parse_story
from tui.novel.story import Continuation, LoreEntry, Sampler, Story

FULL = Story(
    text="昔々、ある村に\nアリスという少女がいた。",
    memory="剣と魔法の世界。",
    note="[文体：三人称]",
    note_depth=2,
    scan_tokens=256,
    lore_budget=300,
    recursion_depth=1,
    fold_kana=True,
    banned=("魔王",),
    stop=("\n\n",),
    max_new_tokens=64,
    lore=(
        LoreEntry(keys=("アリス", "ｱﾘｽ"), content="アリス：十二歳。", name="Alice", priority=3),
        LoreEntry(keys=(r"竜|ドラゴン",), content="竜は山に住む。", regex=True, position="before_note"),
        LoreEntry(content="世界：剣と魔法。", always=True, enabled=False),
    ),
    history=(
        Continuation(
            start=7,
            text="アリス",
            token_ids=(5, 6, 7),
            seed=42,
            sampler=Sampler(64, True, 1.0, 0.95, 0, 1.0),
            model="demo:base",
            finish="length",
            state="applied",
            prompt_tokens=12,
            prompt_sha256="ab" * 32,
            created="2026-12-01T00:00:00+00:00",
        ),
    ),
)


def parse(document: object) -> Story:
    return parse_story(json.dumps(document).encode(), "s.story.json")


def test_a_story_round_trips_exactly() -> None:
    assert parse_story(dump_story(FULL), "x") == FULL


def test_an_empty_object_is_an_empty_story_with_the_documented_defaults() -> None:
    story = parse({})
    assert story == Story()
    assert (story.note_depth, story.scan_tokens, story.lore_budget) == (3, 1024, 512)


def test_written_files_keep_ids_and_keys_on_one_line_and_the_text_near_the_end() -> None:
    text = dump_story(FULL).decode()
    assert '"token_ids": [5, 6, 7]' in text
    assert '"keys": ["アリス", "ｱﾘｽ"]' in text
    assert "アリスという少女" in text, "written as UTF-8, not \\u escapes"
    keys = list(json.loads(text))
    assert keys[-2:] == ["text", "history"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"txt": "a"}, "unknown field 'txt'"),
        ({"lore": [{"keyz": ["a"]}]}, "lore entry 1: unknown field 'keyz'"),
        (
            {"lore": [{}, {"keys": "アリス"}]},
            "lore entry 2: field 'keys' must be a list of non-empty strings",
        ),
        ({"lore": [{"keys": ["("], "regex": True}]}, "lore entry 1, key 1 \\('\\('\\): not a valid regular"),
        ({"lore": [{"position": "middle"}]}, "field 'position' must be one of before_memory"),
        ({"lore": [{"enabled": 1}]}, "field 'enabled' must be true or false"),
        ({"note_depth": -1}, "field 'note_depth' must be an integer between 0"),
        ({"scan_tokens": "1024"}, "field 'scan_tokens' must be an integer"),
        ({"max_new_tokens": 0}, "field 'max_new_tokens' must be an integer between 1"),
        ({"banned": ["", "x"]}, "field 'banned' must be a list of non-empty strings"),
        ({"text": "\ud800"}, "unpaired UTF-16 surrogate"),
        ({"version": 2}, "story format version 2; this stablelm-tui reads version 1"),
        ({"history": [{"start": 0}]}, "history item 1, sampler: missing field 'max_new_tokens'"),
        ([], "a story file is a JSON object"),
    ],
    ids=[
        "unknown-top-level-field",
        "unknown-lore-field",
        "keys-not-a-list",
        "regex-that-does-not-compile",
        "unknown-position",
        "flag-written-as-number",
        "negative-note-depth",
        "number-written-as-string",
        "zero-reply-length",
        "empty-banned-word",
        "lone-surrogate",
        "newer-format",
        "incomplete-history-item",
        "not-an-object",
    ],
)
def test_bad_fields_are_one_sentence_naming_the_field(document: object, message: str) -> None:
    with pytest.raises(UserError, match=message) as caught:
        parse(document)
    assert str(caught.value).startswith("s.story.json: ")
    assert "\n" not in str(caught.value)


def test_malformed_json_names_the_line_and_column() -> None:
    with pytest.raises(UserError, match=r"^s\.story\.json:3:13: not valid JSON"):
        parse_story(b'{\n  "text": "a",\n  "memory": ,\n}', "s.story.json")


def test_invalid_utf8_names_the_line() -> None:
    with pytest.raises(UserError, match=r"^s:2: not valid UTF-8"):
        parse_story(b'{"text":\n "\xff"}', "s")


def test_a_story_built_in_code_is_checked_like_a_file() -> None:
    with pytest.raises(UserError, match="lore entry 1, key 1"):
        check_story(Story(lore=(LoreEntry(keys=("[",), regex=True),)))


def test_files_are_written_private_and_atomically(tmp_path: Path) -> None:
    folder = private_dir(tmp_path / "a" / "b")  # tui.paths.private_dir: the folder itself is 0700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    path = folder / "s.story.json"
    save_story(path, FULL)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_story(path) == FULL
    assert sorted(os.listdir(folder)) == ["s.story.json"], "no temporary file left behind"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.story.json"
    save_story(path, FULL)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("tui.novel.files.os.fsync", disk_full)
    with pytest.raises(UserError, match=r"cannot save .*No space left on device"):
        save_story(path, Story(text="new"))
    assert read_story(path) == FULL
    assert sorted(os.listdir(tmp_path)) == ["s.story.json"]


def test_missing_directory_and_oversized_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no such story file .*novel new"):
        read_story(tmp_path / "missing.story.json")
    with pytest.raises(UserError, match="is a directory"):
        read_story(tmp_path)
    big = tmp_path / "big.story.json"
    big.write_bytes(b'{"text": "' + b"a" * MAX_STORY_BYTES + b'"}')
    with pytest.raises(UserError, match="over the 4 MB limit"):
        read_story(big)


FIELDS = [
    "text",
    "memory",
    "note",
    "note_depth",
    "lore",
    "keys",
    "regex",
    "history",
    "sampler",
    "token_ids",
    "x",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(document=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6))
def test_any_json_is_a_story_or_one_user_error(document: dict[str, object]) -> None:
    try:
        story = parse_story(json.dumps(document).encode(), "f")
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("f")
    else:
        assert parse_story(dump_story(story), "f") == story


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=64))
def test_any_bytes_are_a_story_or_one_user_error(data: bytes) -> None:
    with contextlib.suppress(UserError):  # anything else fails the test
        parse_story(data, "f")
