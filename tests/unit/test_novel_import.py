"""Importing NovelAI lorebooks and SillyTavern World Info (fixtures written from the documented formats)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.errors import UserError
from tui.novel.imports import describe, merge, parse_lorebook, read_lorebook
from tui.novel.schema import check_story
from tui.novel.story import LoreEntry, Story

FIXTURES = Path(__file__).parents[1] / "fixtures" / "novel"


def test_a_novelai_lorebook_keeps_keys_text_names_flags_and_priority() -> None:
    result = read_lorebook(FIXTURES / "fantasy.lorebook")
    assert result.format == "NovelAI lorebook"
    alice, dragon, world, bob, capital = result.entries
    assert alice == LoreEntry(
        keys=("アリス", "ｱﾘｽ"),
        content="アリス：王都の魔法学院に通う十六歳の少女。銀髪で、氷の魔法が得意。",
        priority=400,
        name="アリス",
    )
    assert dragon.regex and dragon.keys == ("竜|ドラゴン", "wyrm") and dragon.priority == 500
    assert world.always and world.keys == () and world.priority == 800
    assert not bob.enabled
    assert capital.content == "----\n王都の地図：中央に城、東に市場、西に学院。\n", (
        "the prefix is folded into the text"
    )
    check_story(Story(lore=tuple(result.entries)))


def test_a_novelai_import_says_what_had_no_equivalent() -> None:
    result = read_lorebook(FIXTURES / "fantasy.lorebook")
    assert dict(result.unsupported) == {
        "searchRange (the story's scan_tokens applies to every entry)": 1,
        "contextConfig.insertionPosition": 1,
        "contextConfig.reservedTokens": 1,
        "category": 1,
        "keyRelative": 1,
        "loreBiasGroups (phrase bias)": 1,
        "prefix/suffix (folded into the text)": 1,
    }
    assert result.notes == ["1 categories (the entries keep their own settings, not the category's)"]


def test_sillytavern_world_info_maps_order_position_constant_and_disable() -> None:
    result = read_lorebook(FIXTURES / "world_info.json")
    assert result.format == "SillyTavern World Info"
    bob, harbour, storm, captain = result.entries
    assert bob == LoreEntry(
        keys=("ボブ", "ﾎﾞﾌﾞ"), content="ボブ：港町の漁師。口は悪いが面倒見がいい。", priority=100, name="ボブ"
    )
    assert harbour.always and harbour.position == "before_note" and harbour.priority == 250
    assert harbour.regex and harbour.keys == ("港町", "灯台|波止場"), "a plain key next to a regex is escaped"
    assert storm.position == "after_memory" and storm.priority == 50
    assert not captain.enabled and captain.position == "after_note"
    assert dict(result.unsupported) == {
        "position at a chat depth (placed after the memory)": 1,
        "secondary keys (the entry fires on its primary keys alone)": 1,
        "probability (imported entries always fire)": 1,
        "excludeRecursion": 1,
        "scanDepth": 1,
        "caseSensitive (keys here always ignore case and width)": 1,
        "matchWholeWords (keys here match anywhere)": 1,
    }


def test_the_report_names_what_was_kept_and_what_was_not() -> None:
    result = read_lorebook(FIXTURES / "world_info.json")
    lore, duplicates = merge((), result.entries)
    lines = describe(result, len(lore), duplicates, len(lore))
    assert lines[0] == "SillyTavern World Info: 4 entries read, 4 added (4 in the story now)"
    assert lines[1].startswith(
        "kept: keys (plain and /regex/), text, name, enabled, always-on, priority, position"
    )
    assert "  probability (imported entries always fire): 1 entry" in lines


def test_importing_twice_adds_nothing_the_second_time() -> None:
    entries = read_lorebook(FIXTURES / "fantasy.lorebook").entries
    once, _ = merge((), entries)
    twice, duplicates = merge(once, entries)
    assert twice == once and duplicates == len(entries)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "x.json:1:2: not valid JSON"),
        (b'{"entries": 3}', "not a NovelAI lorebook .* or SillyTavern World Info"),
        (
            json.dumps({"entries": [{"keys": ["/(unclosed/"]}]}).encode(),
            "entry 1: key '/\\(unclosed/' is not a regular",
        ),
        (json.dumps({"entries": {"7": {"key": "ボブ"}}}).encode(), "entry 7: keys must be a list of strings"),
        (json.dumps({"entries": [{"text": 5}]}).encode(), "entry 1: 'text' must be a string"),
    ],
    ids=[
        "malformed-json",
        "neither-format",
        "regex-python-cannot-use",
        "keys-not-a-list",
        "text-not-a-string",
    ],
)
def test_bad_lorebooks_are_one_sentence(data: bytes, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_lorebook(data, "x.json")


def test_a_missing_lorebook_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        read_lorebook(tmp_path / "none.lorebook")
