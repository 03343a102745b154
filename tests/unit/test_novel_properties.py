"""Property tests: random stories, lore, budgets and settings against the novel planner's invariants.

- total_tokens == len(token_ids) == the sum over included/partial pieces; decode(token_ids) == prompt; total <= budget
- memory, 脚注 and always-on lore are never dropped silently: included, or the plan is an error naming them
- the story is cut from its start, at a sentence end when one is within reach, and the rest is sent whole
- the 脚注 sits `note_depth` lines before the end (at the start of what is sent when the story is shorter)
- re-planning after an edit gives exactly what a fresh planner gives
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tui.novel.assemble import NovelPlanner
from tui.novel.chunks import ChunkCache
from tui.novel.ledger import NovelPlan, check_invariants
from tui.novel.normalize import is_sentence_start
from tui.novel.story import POSITIONS, LoreEntry, Story
from tui.novel.storytext import StoryText
from tui.tokenizers import SentencePieceTokenizer

WORDS = [
    "アリス",
    "ボブ",
    "ｱﾘｽ",
    "ありす",
    "魔法",
    "王都",
    "竜",
    "森",
    "歩いた",
    "空は青い",
    "abc",
    " ",
    "😀",
    "ｶﾞﾗｽ",
]
ENDS = ["。", "！", "？", "」", "』", "\n", "、", "。」", "！？"]
fragment = st.one_of(st.sampled_from(WORDS), st.sampled_from(ENDS), st.sampled_from(["「", "『", "（", "）"]))
lines_st = st.tuples(
    st.lists(st.lists(fragment, max_size=12).map("".join), max_size=30), st.sampled_from(["", "\n"])
).map(lambda lines_end: "\n".join(lines_end[0]) + lines_end[1])
text_st = st.one_of(
    lines_st,
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=80),
)
short_text = st.lists(st.sampled_from(WORDS + ENDS), max_size=8).map("".join)
entry_st = st.builds(
    LoreEntry,
    keys=st.lists(st.sampled_from(WORDS[:9]), max_size=3).map(tuple),
    content=short_text,
    regex=st.just(False),
    always=st.booleans(),
    enabled=st.booleans(),
    priority=st.integers(-3, 3),
    position=st.sampled_from(POSITIONS),
    name=st.sampled_from(["", "名前"]),
)
story_st = st.builds(
    Story,
    text=text_st,
    memory=st.one_of(st.just(""), short_text),
    note=st.one_of(st.just(""), short_text.map(lambda t: t or "[注]")),
    note_depth=st.integers(0, 6),
    scan_tokens=st.integers(0, 80),
    lore_budget=st.integers(0, 60),
    recursion_depth=st.integers(0, 3),
    fold_kana=st.booleans(),
    lore=st.lists(entry_st, max_size=8).map(tuple),
)
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def tok(nerdstash_model: Path) -> SentencePieceTokenizer:
    return SentencePieceTokenizer(nerdstash_model)


@pytest.fixture(scope="module")
def planner(tok: SentencePieceTokenizer) -> NovelPlanner:
    return NovelPlanner(tok)


def story_text_sent(plan: NovelPlan) -> tuple[str, str]:
    """The story text sent before and after the 脚注 (all of it in `before` when it is not split)."""
    pieces = [p for p in plan.pieces if p.sent and p.kind in ("story", "note")]
    before, after, seen_note = [], [], False
    for piece in pieces:
        if piece.kind == "note":
            seen_note = True
        elif seen_note:
            after.append(piece.text)
        else:
            before.append(piece.text)
    return "".join(before), "".join(after)


@SETTINGS
@given(story=story_st, window=st.integers(8, 400), reserve_share=st.floats(0, 0.9))
def test_every_plan_keeps_the_ledger_invariants(
    planner: NovelPlanner, tok: SentencePieceTokenizer, story: Story, window: int, reserve_share: float
) -> None:
    reserve = min(window - 1, int(window * reserve_share))
    plan = planner.plan(story, window=window, reserve=reserve)
    check_invariants(plan, tok.decode)
    norm = tok.normalize(story.text)

    # Never dropped silently; every piece says why it is where it is.
    for piece in plan.pieces:
        assert piece.reason, piece
        never_dropped = piece.kind in ("memory", "note") or (
            piece.kind == "lore" and piece.entry is not None and story.lore[piece.entry].always
        )
        if never_dropped and piece.text and piece.status != "skipped":
            assert piece.status == "included" or (piece.status == "dropped" and not plan.ok)
        if piece.status == "skipped" and piece.kind in ("memory", "note"):
            assert not piece.text
    fired = sum(
        p.tokens for p in plan.pieces if p.kind == "lore" and p.sent and not story.lore[p.entry or 0].always
    )
    assert fired <= story.lore_budget

    # The story: a suffix of the text, cut at its start only.
    head, tail = story_text_sent(plan)
    kept = norm[plan.story_cut :]
    story_pieces = [p for p in plan.pieces if p.kind == "story"]
    if plan.ok:
        assert head + tail == kept
    if any(p.status == "partial" for p in story_pieces):
        assert plan.story_cut > 0
        if any("at a sentence end" in p.reason for p in story_pieces):
            assert is_sentence_start(norm, plan.story_cut)


LINE = st.lists(st.sampled_from([*WORDS, "。", "！", "」"]), min_size=1, max_size=6).map("".join)


@SETTINGS
@given(
    lines=st.lists(LINE, max_size=20),
    final_newline=st.booleans(),
    depth=st.integers(0, 6),
    window=st.integers(20, 300),
)
def test_the_note_sits_depth_lines_before_the_end(
    planner: NovelPlanner,
    tok: SentencePieceTokenizer,
    lines: list[str],
    final_newline: bool,
    depth: int,
    window: int,
) -> None:
    text = "\n".join(lines) + ("\n" if final_newline and lines else "")
    plan = planner.plan(Story(text=text, note="[注]", note_depth=depth), window=window, reserve=10)
    check_invariants(plan, tok.decode)
    assume(plan.ok)
    head, tail = story_text_sent(plan)
    assert head + tail == text[plan.story_cut :]
    # Just after the depth-th newline from the end; at the start of what is sent if there are fewer.
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    if depth == 0:
        expected = len(text)
    elif len(newlines) >= depth:
        expected = newlines[-depth] + 1
    else:
        expected = 0
    assert len(head) == max(expected, plan.story_cut) - plan.story_cut
    if depth == 0 and text and not text.endswith("\n"):
        assert plan.prompt.endswith("\n[注]\n"), "at the very end the 脚注 still gets a line of its own"


SENTENCES = st.lists(
    st.sampled_from(
        [
            "アリスは走った。",
            "「待って！」",
            "空は青い。",
            "竜が鳴いた？",
            "森を抜けた。\n",
            "『本』を読んだ。",
        ]
    ),
    min_size=30,
    max_size=80,
).map("".join)


@SETTINGS
@given(text=SENTENCES, budget=st.integers(40, 200))
def test_a_story_of_short_sentences_is_always_cut_at_a_sentence_end(
    planner: NovelPlanner, tok: SentencePieceTokenizer, text: str, budget: int
) -> None:
    assume(len(tok.encode(text)) > budget)
    plan = planner.plan(Story(text=text), window=budget + 10, reserve=10)
    check_invariants(plan, tok.decode)
    assert plan.story_cut > 0 and is_sentence_start(text, plan.story_cut)
    assert plan.prompt == text[plan.story_cut :]
    assert plan.total_tokens > budget - 40, "the cut stays near the tightest one"


@SETTINGS
@given(
    first=text_st, edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 5), short_text), max_size=6)
)
def test_incremental_chunks_equal_a_fresh_split(
    tok: SentencePieceTokenizer, first: str, edits: list[tuple[int, int, str]]
) -> None:
    cache = ChunkCache(tok)
    body = StoryText(first, cache)
    text = first
    for at, cut, insert in edits:
        at = at % (len(text) + 1)
        text = text[:at] + insert + text[at + cut :]
        body = StoryText(text, cache, body)
        fresh = StoryText(text, ChunkCache(tok))
        assert [c.text for c in body.chunks] == [c.text for c in fresh.chunks]
        assert (body.text, body.char_starts, body.token_starts) == (
            fresh.text,
            fresh.char_starts,
            fresh.token_starts,
        )


@SETTINGS
@given(story=story_st, extra=short_text)
def test_a_planner_that_saw_other_stories_plans_like_a_fresh_one(
    planner: NovelPlanner, tok: SentencePieceTokenizer, story: Story, extra: str
) -> None:
    edited = dataclasses.replace(story, text=story.text + extra)
    planner.plan(story, window=300, reserve=40)
    assert planner.plan(edited, window=300, reserve=40) == NovelPlanner(tok).plan(
        edited, window=300, reserve=40
    )
