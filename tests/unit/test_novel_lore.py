"""Lore key matching: width, case and (optionally) kana folding, plain and regex keys, no word boundaries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tui.novel.assemble import NovelPlanner
from tui.novel.lore import Joined, compile_lore, entries_fired_by, scan
from tui.novel.normalize import fold, fold_with_map
from tui.novel.story import LoreEntry, Story
from tui.tokenizers import SentencePieceTokenizer


@dataclass(frozen=True)
class Case:
    key: str
    text: str
    fires: bool
    regex: bool = False
    fold_kana: bool = False


CASES = {
    "plain key in the text": Case("アリス", "そこにアリスがいた。", True),
    "half-width key finds full-width text": Case("ｱﾘｽ", "そこにアリスがいた。", True),
    "full-width key finds half-width text": Case("アリス", "そこにｱﾘｽがいた。", True),
    "half-width voiced marks join their kana": Case("ガラス", "ｶﾞﾗｽの靴", True),
    "full-width latin and case fold": Case("alice", "ＡＬＩＣＥ was here", True),
    "case folds both ways": Case("ALICE", "alice", True),
    "hiragana does not find katakana by default": Case("ありす", "アリスがいた", False),
    "hiragana finds katakana with fold_kana": Case("ありす", "アリスがいた", True, fold_kana=True),
    "katakana finds hiragana with fold_kana": Case("アリス", "ありすがいた", True, fold_kana=True),
    "half-width finds hiragana with fold_kana": Case("ｱﾘｽ", "ありすがいた", True, fold_kana=True),
    "no word boundaries in Japanese": Case("王", "魔王が笑った", True),
    "no word boundaries in latin either": Case("cat", "concatenate", True),
    "a different word does not fire": Case("ボブ", "アリスがいた", False),
    "regex alternatives": Case("竜|ドラゴン", "巨大なドラゴンだ", True, regex=True),
    "regex is matched on folded text": Case("ﾄﾞﾗｺﾞﾝ", "ドラゴン", True, regex=True),
    "regex character classes": Case(r"第[0-9]+章", "第12章の始まり", True, regex=True),
    "regex that matches nothing": Case(r"^終わり$", "終わりではない", False, regex=True),
    "an empty regex match is no evidence": Case("x*", "アリス", False, regex=True),
    "regex special characters are plain in a plain key": Case("a.c", "abc", False),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_key_matching(case: Case) -> None:
    entries = compile_lore((LoreEntry(keys=(case.key,), content="x", regex=case.regex),), case.fold_kana)
    found = scan(entries, fold(case.text, kana=case.fold_kana))
    assert (0 in found) is case.fires


def test_the_key_matching_closest_to_the_end_is_reported() -> None:
    entries = compile_lore((LoreEntry(keys=("アリス", "ボブ"), content="x"),), False)
    text = fold("アリスとボブ。そしてアリス。", kana=False)
    assert scan(entries, text)[0].key == "アリス"
    assert scan(entries, text)[0].offset == text.rindex("アリス")


def test_a_regex_never_matches_across_two_joined_texts() -> None:
    entries = compile_lore((LoreEntry(keys=("魔.*法",), content="x", regex=True),), False)
    joined = Joined(["魔王", "法律"])
    assert scan(entries, joined.text) == {}
    joined = Joined(["王", "魔と法"])
    assert joined.which(scan(entries, joined.text)[0].offset) == 1


def test_fold_maps_each_folded_character_back_to_its_source() -> None:
    text = "abｶﾞﾗｽ㍻x"
    folded, origin = fold_with_map(text, kana=False)
    assert folded == "abガラス平成x"
    assert origin is not None
    assert [text[i] for i in origin] == ["a", "b", "ｶ", "ﾗ", "ｽ", "㍻", "㍻", "x"]
    assert fold_with_map("普通の文章です。", kana=True) == ("普通の文章です。", None)


@pytest.fixture(scope="module")
def planner(nerdstash_model: Path) -> NovelPlanner:
    return NovelPlanner(SentencePieceTokenizer(nerdstash_model))


def reasons(planner: NovelPlanner, story: Story) -> dict[int, tuple[str, str]]:
    plan = planner.plan(story, window=2048, reserve=128)
    return {p.entry: (p.status, p.reason) for p in plan.pieces if p.entry is not None}


def test_a_key_only_before_the_scan_window_does_not_fire(planner: NovelPlanner) -> None:
    text = "アリスが来た。\n" + "風が吹いた。\n" * 200
    lore = (LoreEntry(keys=("アリス",), content="アリス：少女。"),)
    assert reasons(planner, Story(text=text, lore=lore, scan_tokens=50))[0] == (
        "skipped",
        "no key in the last 50 tokens or the 脚注",
    )
    status, reason = reasons(planner, Story(text=text, lore=lore, scan_tokens=100_000))[0]
    assert status == "included" and reason == "key 'アリス' at story token 1"


def test_the_note_is_always_scanned(planner: NovelPlanner) -> None:
    text = "アリスが来た。\n" + "風が吹いた。\n" * 200
    story = Story(
        text=text,
        note="[アリスの視点]",
        lore=(LoreEntry(keys=("アリス",), content="少女。"),),
        scan_tokens=10,
    )
    assert reasons(planner, story)[0] == ("included", "key 'アリス' in the 脚注")


def test_disabled_empty_and_keyless_entries_are_skipped_with_their_reason(planner: NovelPlanner) -> None:
    lore = (
        LoreEntry(keys=("アリス",), content="少女。", enabled=False),
        LoreEntry(keys=("アリス",), content=""),
        LoreEntry(content="鍵なし。"),
        LoreEntry(content="世界。", always=True, enabled=False),
        LoreEntry(content="", always=True),
    )
    got = reasons(planner, Story(text="アリスが来た。", lore=lore))
    assert got == {
        0: ("skipped", "disabled"),
        1: ("skipped", "empty content"),
        2: ("skipped", "no keys"),
        3: ("skipped", "disabled"),
        4: ("skipped", "empty content"),
    }


def test_entries_fire_entries_up_to_the_recursion_depth(planner: NovelPlanner) -> None:
    lore = (
        LoreEntry(keys=("アリス",), content="アリスはボブの姉。", name="Alice"),
        LoreEntry(keys=("ボブ",), content="ボブはキャロルの弟子。"),
        LoreEntry(keys=("キャロル",), content="キャロルは魔女。"),
    )
    story = Story(text="アリスが来た。", lore=lore, recursion_depth=1)
    got = reasons(planner, story)
    assert got[0] == ("included", "key 'アリス' at story token 1")
    assert got[1] == ("included", "key 'ボブ' in entry #1 (Alice)")
    assert got[2][0] == "skipped", "depth 1: an entry fired by an entry fires nothing"
    deeper = reasons(planner, Story(text="アリスが来た。", lore=lore, recursion_depth=2))
    assert deeper[2] == ("included", "key 'キャロル' in entry #2")
    assert reasons(planner, Story(text="アリスが来た。", lore=lore, recursion_depth=0))[1][0] == "skipped"


def test_always_on_content_fires_other_entries(planner: NovelPlanner) -> None:
    lore = (
        LoreEntry(content="舞台は王都。", always=True),
        LoreEntry(keys=("王都",), content="王都：大きな街。"),
    )
    assert reasons(planner, Story(text="朝が来た。", lore=lore))[1] == ("included", "key '王都' in entry #1")


def test_the_lorebook_test_field_fires_entries_as_the_planner_matches_them() -> None:
    lore = (
        LoreEntry(keys=("アリス",), content="少女。", name="Alice"),
        LoreEntry(keys=("城",), content="古い城。", enabled=False),
        LoreEntry(keys=(r"ボ+ブ",), content="男。", regex=True),
    )
    fired = entries_fired_by(lore, "ｱﾘｽは城でボーブではなくボボブに会った", fold_kana=False)
    assert [(index, match.key) for index, match in fired] == [(0, "アリス"), (1, "城"), (2, "ボ+ブ")]
    assert entries_fired_by(lore, "ありす", fold_kana=False) == []
    assert [i for i, _ in entries_fired_by(lore, "ありす", fold_kana=True)] == [0]
