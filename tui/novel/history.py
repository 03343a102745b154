"""Continue, retry, undo and redo as pure functions on a Story and its history of continuations.

The history keeps every continuation ever made (state applied, undone or replaced), so any of them can be
reproduced from its seed, settings and prompt hash. Undo takes the last applied continuation out of the text if
the text still ends with it (an edit after it would be lost otherwise); redo puts back the continuation undone
most recently, as long as nothing was written since (a new continuation discards what was undone); retry
replaces the last one (it cannot be redone).
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from collections.abc import Sequence
from datetime import datetime, timezone

from tui.errors import UserError
from tui.novel.story import Continuation, ContinuationState, FinishReason, Sampler, Story


def prompt_digest(ids: Sequence[int]) -> str:
    return hashlib.sha256(struct.pack(f"<{len(ids)}I", *ids)).hexdigest()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_continuation(
    story: Story,
    prompt_ids: Sequence[int],
    *,
    seed: int | None,
    sampler: Sampler,
    model: str,
) -> Continuation:
    """An empty continuation about to stream at the end of the story."""
    return Continuation(
        start=len(story.text),
        text="",
        token_ids=(),
        seed=seed,
        sampler=sampler,
        model=model,
        finish="interrupted",
        state="applied",
        prompt_tokens=len(prompt_ids),
        prompt_sha256=prompt_digest(prompt_ids),
        created=now_iso(),
    )


def begin(story: Story, item: Continuation) -> Story:
    """The story with `item` last in its history. Undone items are discarded: no longer redoable."""
    kept = tuple(
        dataclasses.replace(h, state="discarded") if h.state == "undone" else h for h in story.history
    )
    return dataclasses.replace(story, history=(*kept, item))


def update_last(
    story: Story, item: Continuation, *, text: str, token_ids: Sequence[int], finish: FinishReason
) -> Story:
    """The last history item (the continuation being written) replaced by its newer state."""
    if (
        not story.history
        or story.history[-1].created != item.created
        or story.history[-1].start != item.start
    ):
        raise UserError("the story's history changed while a continuation was being written")
    updated = dataclasses.replace(item, text=text, token_ids=tuple(token_ids), finish=finish)
    return dataclasses.replace(story, history=(*story.history[:-1], updated))


def _last_applied(story: Story) -> int | None:
    for i in range(len(story.history) - 1, -1, -1):
        if story.history[i].state == "applied":
            return i
    return None


def _set_state(story: Story, index: int, state: ContinuationState, text: str) -> Story:
    history = list(story.history)
    history[index] = dataclasses.replace(history[index], state=state)
    return dataclasses.replace(story, text=text, history=tuple(history))


def take_back(story: Story, state: ContinuationState = "undone") -> Story:
    """Undo (state "undone") or prepare a retry ("replaced"): the last applied continuation leaves the text."""
    index = _last_applied(story)
    if index is None:
        raise UserError("nothing to undo: no continuation in this story's history is in its text")
    item = story.history[index]
    if not item.text:
        return _set_state(story, index, state, story.text)
    if not story.text.endswith(item.text):
        raise UserError(
            "the story was edited after its last continuation; undo only removes a continuation left as written"
        )
    return _set_state(story, index, state, story.text[: len(story.text) - len(item.text)])


def undo(story: Story) -> Story:
    return take_back(story, "undone")


def redoable(story: Story) -> int | None:
    """The history index redo would restore: the undone item undone last (the earliest still undone, since
    undo goes backwards and anything written after an undo discards it)."""
    return next((i for i, item in enumerate(story.history) if item.state == "undone"), None)


def redo(story: Story) -> Story:
    index = redoable(story)
    if index is None:
        raise UserError("nothing to redo")
    item = story.history[index]
    history = list(story.history)
    history[index] = dataclasses.replace(item, state="applied", start=len(story.text))
    return dataclasses.replace(story, text=story.text + item.text, history=tuple(history))
