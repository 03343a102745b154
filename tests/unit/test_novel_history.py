"""Continue, retry, undo and redo on a story's history (pure functions; the model runs in the functional tests)."""

from __future__ import annotations

import dataclasses

import pytest

from tui.errors import UserError
from tui.novel import history
from tui.novel.story import Sampler, Story

SAMPLER = Sampler(16, True, 1.0, 0.95, 0, 1.0)


def write(story: Story, text: str, seed: int = 1) -> Story:
    """What a session does for one continuation: begin it, stream its text, finish it."""
    item = history.new_continuation(story, [1, 2, 3], seed=seed, sampler=SAMPLER, model="m")
    story = history.begin(story, item)
    story = dataclasses.replace(story, text=story.text + text)
    return history.update_last(story, item, text=text, token_ids=[7] * len(text), finish="length")


def states(story: Story) -> list[str]:
    return [item.state for item in story.history]


def test_continuations_append_and_undo_redo_walk_back_and_forth() -> None:
    story = write(write(write(Story(text="始まり。"), "A"), "B"), "C")
    assert story.text == "始まり。ABC" and states(story) == ["applied"] * 3
    story = history.undo(story)
    story = history.undo(story)
    assert story.text == "始まり。A" and states(story) == ["applied", "undone", "undone"]
    story = history.redo(story)
    assert story.text == "始まり。AB"
    story = history.redo(story)
    assert story.text == "始まり。ABC" and states(story) == ["applied"] * 3
    with pytest.raises(UserError, match="nothing to redo"):
        history.redo(story)


def test_a_new_continuation_after_undo_discards_what_was_undone() -> None:
    story = history.undo(write(write(Story(text="x"), "A"), "B"))
    story = write(story, "D")
    assert states(story) == ["applied", "discarded", "applied"]
    assert history.redoable(story) is None
    story = history.undo(story)
    assert story.text == "xA" and history.redoable(story) == 2


def test_retry_replaces_the_last_continuation_and_cannot_be_redone() -> None:
    story = history.take_back(write(Story(text="x"), "A"), "replaced")
    story = write(story, "B", seed=2)
    assert story.text == "xB" and states(story) == ["replaced", "applied"]
    assert [item.seed for item in story.history] == [1, 2], "both kept, reproducible"


def test_undo_refuses_when_the_story_was_edited_after_the_continuation() -> None:
    story = write(Story(text="x"), "A")
    edited = dataclasses.replace(story, text=story.text + "手で書いた")
    with pytest.raises(UserError, match="edited after its last continuation"):
        history.undo(edited)
    with pytest.raises(UserError, match="nothing to undo"):
        history.undo(Story(text="x"))


def test_a_record_keeps_what_reproduces_it() -> None:
    story = write(Story(text="x"), "AB")
    item = story.history[-1]
    assert (item.start, item.text, item.token_ids, item.seed) == (1, "AB", (7, 7), 1)
    assert item.prompt_tokens == 3 and item.prompt_sha256 == history.prompt_digest([1, 2, 3])
    assert item.sampler == SAMPLER and item.model == "m" and item.finish == "length"
