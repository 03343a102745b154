"""The novel planner on hand-made stories: layout, 脚注 placement, budgets, trimming, plan errors, the JSON."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tui.novel.assemble import NovelPlanner
from tui.novel.ledger import NovelPlan, NovelPlanError, check_invariants
from tui.novel.story import LoreEntry, Story
from tui.tokenizers import SentencePieceTokenizer

LINES = "".join(f"{i}行目の文章です。\n" for i in range(1, 11))


@pytest.fixture(scope="module")
def tok(nerdstash_model: Path) -> SentencePieceTokenizer:
    return SentencePieceTokenizer(nerdstash_model)


@pytest.fixture
def planner(tok: SentencePieceTokenizer) -> NovelPlanner:
    return NovelPlanner(tok)


def plan_of(planner: NovelPlanner, story: Story, window: int = 2048, reserve: int = 128) -> NovelPlan:
    plan = planner.plan(story, window=window, reserve=reserve)
    check_invariants(plan, planner.tokenizer.decode)
    return plan


def test_the_layout_puts_the_stable_pieces_first(planner: NovelPlanner) -> None:
    lore = (
        LoreEntry(keys=("行目",), content="fired-after-memory"),
        LoreEntry(content="always-after-memory", always=True),
        LoreEntry(content="always-before-memory", always=True, position="before_memory"),
        LoreEntry(keys=("行目",), content="fired-before-note", position="before_note"),
        LoreEntry(keys=("行目",), content="fired-after-note", position="after_note"),
    )
    story = Story(text=LINES, memory="MEMORY", note="NOTE", lore=lore)
    plan = plan_of(planner, story)
    assert plan.prompt == (
        "always-before-memory\nMEMORY\nalways-after-memory\nfired-after-memory\n"
        + "".join(f"{i}行目の文章です。\n" for i in range(1, 9))
        + "fired-before-note\nNOTE\nfired-after-note\n"
        + "9行目の文章です。\n10行目の文章です。\n"
    )
    assert [(p.kind, p.entry) for p in plan.pieces] == [
        ("lore", 2), ("memory", None), ("lore", 1), ("lore", 0), ("story", None),
        ("lore", 3), ("note", None), ("lore", 4), ("story", None),
    ]  # fmt: skip
    stable = planner.tokenizer.encode("always-before-memory\nMEMORY\nalways-after-memory\n")
    assert plan.stable_tokens == len(stable)
    assert list(plan.token_ids[: plan.stable_tokens]) == stable


@pytest.mark.parametrize(
    ("text", "depth", "before_note"),
    [
        ("A\nB\nC\nD", 3, "A\n"),
        ("A\nB\nC\nD\n", 3, "A\nB\n"),
        ("A\nB\nC\nD", 1, "A\nB\nC\n"),
        ("A\nB", 3, ""),
        ("A\nB\nC\nD", 0, "A\nB\nC\nD\n"),
    ],
    ids=[
        "three-lines-before-the-end",
        "a-final-newline-counts",
        "one-line",
        "fewer-lines-than-depth",
        "depth-0-at-the-end",
    ],
)
def test_the_note_goes_depth_lines_before_the_end(
    planner: NovelPlanner, text: str, depth: int, before_note: str
) -> None:
    plan = plan_of(planner, Story(text=text, note="[NOTE]", note_depth=depth))
    assert plan.prompt.index("[NOTE]\n") == len(before_note)
    assert plan.prompt.replace("[NOTE]\n", "", 1) == text + (
        "\n" if depth == 0 and not text.endswith("\n") else ""
    )


def test_the_note_reason_says_where_it_went(planner: NovelPlanner) -> None:
    def note_reason(story: Story, window: int = 2048) -> str:
        return next(p.reason for p in plan_of(planner, story, window, 8).pieces if p.kind == "note")

    assert note_reason(Story(text=LINES, note="N")) == "3 lines before the end"
    assert (
        note_reason(Story(text="A\nB", note="N")) == "at the start of the story (it has fewer than 3 lines)"
    )
    assert note_reason(Story(text=LINES, note="N", note_depth=0)) == "at the end of the story"
    assert "was cut" in note_reason(Story(text=LINES, note="N", note_depth=9), window=40)


def test_always_on_lore_that_cannot_fit_is_a_plan_error_not_a_silent_drop(planner: NovelPlanner) -> None:
    big = "とても長い設定。" * 40
    story = Story(text=LINES, memory="メモリ", lore=(LoreEntry(content=big, always=True, name="world"),))
    plan = plan_of(planner, story, window=100, reserve=20)
    piece = next(p for p in plan.pieces if p.entry == 0)
    assert piece.status == "dropped" and piece.reason.startswith("does not fit: needs")
    assert not plan.ok
    assert plan.error is not None and "entry #1 (world)" in plan.error and "80-token budget" in plan.error
    with pytest.raises(NovelPlanError, match="never dropped"):
        plan.require_ok()


def test_fired_lore_is_chosen_by_priority_within_the_lore_budget(planner: NovelPlanner) -> None:
    content = "説明文。" * 5
    cost = len(planner.tokenizer.encode(content + "\n"))
    lore = tuple(LoreEntry(keys=("行目",), content=content + str(i), priority=i) for i in range(4))
    costs = [len(planner.tokenizer.encode(e.content + "\n")) for e in lore]
    story = Story(text=LINES, lore=lore, lore_budget=costs[3] + costs[2] + cost // 2)
    plan = plan_of(planner, story)
    status = {p.entry: p.status for p in plan.pieces if p.entry is not None}
    assert status == {0: "dropped", 1: "dropped", 2: "included", 3: "included"}
    dropped = next(p for p in plan.pieces if p.entry == 1)
    assert dropped.reason.startswith("key '行目' at story token") and "lore budget full" in dropped.reason


def test_the_story_is_cut_from_its_start_at_a_sentence_end(planner: NovelPlanner) -> None:
    text = "".join(f"第{i}文。「台詞{i}」と言った！" for i in range(60))
    plan = plan_of(planner, Story(text=text), window=200, reserve=50)
    story = next(p for p in plan.pieces if p.kind == "story")
    assert story.status == "partial" and "at a sentence end" in story.reason
    assert plan.story_cut > 0 and text[plan.story_cut - 1] in "。！？」』\n"
    assert plan.prompt == text[plan.story_cut :]
    assert plan.total_tokens <= 150 and plan.total_tokens > 150 - 30, "the cut is near the tightest one"


def test_a_story_with_no_room_at_all_is_a_plan_error(planner: NovelPlanner) -> None:
    memory = "メモリの内容。" * 10
    window = len(planner.tokenizer.encode(memory + "\n")) + 4
    plan = plan_of(planner, Story(text=LINES, memory=memory), window=window, reserve=4)
    story = next(p for p in plan.pieces if p.kind == "story")
    assert story.status == "dropped" and not plan.ok
    assert plan.error is not None and plan.error.startswith("no room for the story")


def test_line_chunks_give_the_same_ids_as_encoding_the_whole_story(
    planner: NovelPlanner, tok: SentencePieceTokenizer
) -> None:
    text = "「おはよう」とアリスは言った。\nボブは黙っていた。\n\n  空は青い。abc def\n最後の行"
    plan = plan_of(planner, Story(text=text))
    assert list(plan.token_ids) == tok.encode(text)
    assert plan.story_tokens == len(tok.encode(text))


def test_editing_one_line_re_encodes_only_that_line(planner: NovelPlanner) -> None:
    story = Story(text=LINES * 20)
    plan_of(planner, story)
    misses = planner.cache.misses
    edited = dataclasses.replace(story, text=story.text[:-5] + "追加" + story.text[-5:])
    plan = plan_of(planner, edited)
    assert planner.cache.misses == misses + 1
    assert plan.token_ids == NovelPlanner(planner.tokenizer).plan(edited, window=2048, reserve=128).token_ids


def test_the_json_has_exactly_the_documented_fields(planner: NovelPlanner) -> None:
    plan = plan_of(planner, Story(text=LINES, memory="M", lore=(LoreEntry(keys=("x",), content="y"),)))
    data = plan.to_dict()
    assert list(data) == ["window", "reserve", "budget", "total_tokens", "token_ids", "prompt", "pieces"]
    assert all(list(p) == ["kind", "entry", "status", "reason", "tokens"] for p in data["pieces"])
    assert (data["window"], data["reserve"], data["budget"]) == (2048, 128, 1920)


def test_window_and_reserve_are_checked(planner: NovelPlanner) -> None:
    with pytest.raises(ValueError, match="reserve"):
        planner.plan(Story(), window=100, reserve=100)
    with pytest.raises(ValueError, match="window"):
        planner.plan(Story(), window=0, reserve=0)
