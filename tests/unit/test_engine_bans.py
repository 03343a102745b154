"""Banned token sequences in the sampler: explicit sequences (bad_words_ids semantics) and the logits mask."""

from __future__ import annotations

import pytest
import torch

from tui.engine.bans import BannedSequences, TokenSequenceBans
from tui.engine.generation import SamplingSettings, process_logits, sample
from tui.errors import UserError


def walk(bans: TokenSequenceBans, context: list[int], tokens: list[int]) -> list[frozenset[int]]:
    """The banned set before each of `tokens`, fed one by one after `context`."""
    state = bans.start(context)
    seen = []
    for token in tokens:
        seen.append(bans.banned(state))
        state = bans.advance(state, token)
    return seen


def test_a_one_token_sequence_is_banned_everywhere() -> None:
    bans = TokenSequenceBans([[7]])
    assert isinstance(bans, BannedSequences)
    assert all(7 in banned for banned in walk(bans, [1, 2], [3, 4, 5]))


def test_the_last_id_is_banned_only_right_after_the_others() -> None:
    bans = TokenSequenceBans([[1, 2, 3]])
    before = walk(bans, [], [1, 2, 9, 1, 5, 2])
    assert [3 in b for b in before] == [False, False, True, False, False, False]


def test_a_sequence_may_start_in_the_prompt() -> None:
    bans = TokenSequenceBans([[1, 2, 3]])
    assert 3 in walk(bans, [8, 1, 2], [0])[0]
    assert 3 not in walk(bans, [1, 8, 2], [0])[0]


def test_overlapping_sequences_all_apply() -> None:
    bans = TokenSequenceBans([[5, 6], [4, 5, 7], [9]])
    assert walk(bans, [4, 5], [0])[0] == frozenset({6, 7, 9})


@pytest.mark.parametrize("bad", [[], [-1], [1, "2"], [True]])
def test_a_malformed_sequence_is_a_user_error(bad: list[object]) -> None:
    with pytest.raises(UserError, match="banned sequence"):
        TokenSequenceBans([bad])  # type: ignore[list-item]


def test_banned_ids_can_never_be_picked_greedy_or_sampled() -> None:
    logits = torch.tensor([[0.0, 5.0, 4.0, 1.0]])
    seen = torch.zeros(4, dtype=torch.bool)
    greedy = SamplingSettings(do_sample=False)
    assert sample(logits, seen, greedy, None) == 1
    assert sample(logits, seen, greedy, None, banned={1}) == 2
    sampling = SamplingSettings(do_sample=True, top_k=2, top_p=0.9)
    scores = process_logits(logits, seen, sampling, banned={1, 2})
    assert torch.isinf(scores[0, 1]) and torch.isinf(scores[0, 2])
    generator = torch.Generator().manual_seed(0)
    picks = {sample(logits, seen, sampling, generator, banned={1, 2}) for _ in range(50)}
    assert picks <= {0, 3}, "top-k keeps the best two of what is allowed"
