"""Cutting documents at sentence ends, packing pieces, holding data out: pure functions over token ids."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.errors import UserError
from tui.train.sequences import Document, Piece, cut_document, fingerprint, pack, split_heldout


def doc(
    n: int,
    *,
    prefix: int = 0,
    strong: set[int] | None = None,
    sentences: set[int] | None = None,
    **kw: object,
) -> Document:
    return Document(
        source="d",
        kind="text",
        prefix=tuple(range(1000, 1000 + prefix)),
        ids=tuple(range(n)),
        loss=kw.get("loss", (True,) * n),  # type: ignore[arg-type]
        strong_cuts=frozenset(strong or ()),
        sentence_cuts=frozenset(sentences or ()),
        tails=kw.get("tails", {}),  # type: ignore[arg-type]
    )


def bodies(pieces: list[Piece], prefix: int) -> list[tuple[int, ...]]:
    return [p.ids[prefix:] for p in pieces]


def test_a_short_document_is_one_piece_with_its_prefix_unlearned() -> None:
    [piece] = cut_document(doc(20, prefix=3), max_tokens=64)
    assert piece.ids[:3] == (1000, 1001, 1002)
    assert piece.loss == (False,) * 3 + (True,) * 20


def test_a_long_document_is_cut_at_the_last_sentence_end_that_fits() -> None:
    pieces = cut_document(doc(100, sentences={10, 30, 45, 70, 90}), max_tokens=50)
    assert [len(p.ids) for p in pieces] == [45, 45, 10]
    assert sum(bodies(pieces, 0), ()) == tuple(range(100))


def test_a_strong_cut_in_the_last_half_wins_over_a_later_sentence_end() -> None:
    pieces = cut_document(doc(100, strong={30}, sentences={45}), max_tokens=50)
    assert len(pieces[0].ids) == 30
    far_back = cut_document(doc(100, strong={10}, sentences={45}), max_tokens=50)
    assert len(far_back[0].ids) == 45  # a strong cut in the first half would waste the budget


def test_a_sentence_longer_than_the_budget_is_cut_at_the_budget() -> None:
    pieces = cut_document(doc(120), max_tokens=50)
    assert [len(p.ids) for p in pieces] == [50, 50, 20]


def test_every_piece_repeats_the_prefix() -> None:
    pieces = cut_document(doc(100, prefix=10, sentences=set(range(5, 100, 5))), max_tokens=40)
    assert all(p.ids[:10] == tuple(range(1000, 1010)) and len(p.ids) <= 40 for p in pieces)
    assert sum(bodies(pieces, 10), ()) == tuple(range(100))


def test_a_prefix_that_leaves_no_room_is_a_user_error() -> None:
    with pytest.raises(UserError, match="leaves no room in --max-tokens 40"):
        cut_document(doc(100, prefix=30), max_tokens=40)


def test_a_reply_cut_from_its_stop_string_still_learns_it_at_the_end_of_its_piece() -> None:
    # ids 0-19 a reply, 20-22 the next message's stop string (both learned), 23-34 that message, 35-39 a reply.
    loss = (True,) * 20 + (True,) * 3 + (False,) * 12 + (True,) * 5
    d = doc(40, strong={20, 35}, loss=loss, tails={20: 3})
    first, second = cut_document(d, max_tokens=30)
    assert first.ids == tuple(range(23)) and first.loss == (True,) * 23
    assert second.ids == tuple(range(20, 40))
    assert second.loss == (False,) * 15 + (True,) * 5  # the stop string is context at the start of this one


def test_pieces_with_nothing_to_learn_are_left_out() -> None:
    loss = (False,) * 50 + (True,) * 10
    pieces = cut_document(doc(60, strong={50}, loss=loss), max_tokens=55)
    assert len(pieces) == 1 and pieces[0].ids[-1] == 59


def test_packing_fills_sequences_in_order_with_an_unlearned_separator() -> None:
    pieces = [Piece(str(i), (i,) * n, (True,) * n) for i, n in enumerate([10, 30, 8, 25])]
    packed = pack(pieces, max_tokens=40, separator=3)
    assert len(packed) == 3
    assert packed[0].ids == (0,) * 10 + (3,) + (2,) * 8
    assert packed[0].loss == (True,) * 10 + (False,) + (True,) * 8
    assert packed[1].ids == (1,) * 30
    assert packed[2].ids == (3,) * 25
    assert all(len(s.ids) <= 40 for s in packed)


def test_packing_does_not_double_an_eos_that_ends_a_piece() -> None:
    pieces = [Piece("a", (5, 6, 3), (True,) * 3), Piece("b", (7,), (True,))]
    [seq] = pack(pieces, max_tokens=10, separator=3)
    assert seq.ids == (5, 6, 3, 7)


def test_one_piece_cannot_be_split_for_held_out() -> None:
    with pytest.raises(UserError, match="single training piece"):
        split_heldout([Piece("a", (1, 2), (True, True))], 0.1)


def test_held_out_pieces_are_spread_over_the_data() -> None:
    pieces = [Piece(str(i), (i, i), (True, True)) for i in range(20)]
    train, held = split_heldout(pieces, 0.1)
    assert len(held) == 2 and len(train) == 18
    assert [p.source for p in held] == ["5", "15"]


def test_the_fingerprint_changes_with_any_id_or_flag() -> None:
    a = pack([Piece("a", (1, 2, 3), (True,) * 3)], 10, None)
    b = pack([Piece("a", (1, 2, 4), (True,) * 3)], 10, None)
    c = pack([Piece("a", (1, 2, 3), (True, False, True))], 10, None)
    assert len({fingerprint(a), fingerprint(b), fingerprint(c)}) == 3


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 300),
    prefix=st.integers(1, 20),  # with no prefix a one-token piece has nothing to learn and is left out
    max_tokens=st.integers(40, 120),
    strong=st.sets(st.integers(1, 299)),
    sentences=st.sets(st.integers(1, 299)),
)
def test_cut_pieces_fit_cover_the_document_in_order(
    n: int, prefix: int, max_tokens: int, strong: set[int], sentences: set[int]
) -> None:
    d = doc(n, prefix=prefix, strong={c for c in strong if c < n}, sentences={c for c in sentences if c < n})
    pieces = cut_document(d, max_tokens)
    assert all(len(p.ids) <= max_tokens for p in pieces)
    assert sum(bodies(pieces, prefix), ()) == tuple(range(n))
    packed = pack(pieces, max_tokens, separator=3)
    assert all(len(s.ids) <= max_tokens for s in packed)
    assert sum(s.loss_tokens for s in packed) >= sum(sum(p.loss[1:]) for p in pieces)
