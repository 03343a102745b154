"""禁止ワード: the automaton bans exactly the ids that would complete a banned word, in any tokenization."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.engine.bans import BannedSequences
from tui.novel.banned import WordBans
from tui.novel.chunks import token_bytes
from tui.tokenizers import SentencePieceTokenizer

WORDS = ["魔法", "アリス", "hello", "ありがとうございます", "aba"]


@pytest.fixture(scope="module")
def tok(nerdstash_model: Path) -> SentencePieceTokenizer:
    return SentencePieceTokenizer(nerdstash_model)


@pytest.fixture(scope="module")
def bans(tok: SentencePieceTokenizer) -> WordBans:
    return WordBans(tok, WORDS)


@pytest.fixture(scope="module")
def pool(tok: SentencePieceTokenizer) -> list[int]:
    """Ids likely to spell a banned word: every token sharing a character with one, and the byte pieces."""
    chars = set("".join(WORDS))
    table = token_bytes(tok).table()
    related = [i for i, b in enumerate(table) if b and set(b.decode("utf-8", "replace")) & chars]
    return related + [i for i in range(tok.vocab_size) if len(table[i]) == 1]


def test_it_is_a_banned_sequences_rule(bans: WordBans) -> None:
    assert isinstance(bans, BannedSequences)


def test_every_spelling_of_a_word_is_cut_short(tok: SentencePieceTokenizer, bans: WordBans) -> None:
    table = token_bytes(tok).table()
    byte_id = {table[i][0]: i for i in range(tok.vocab_size) if tok.id_to_piece(i).startswith("<0x")}
    spellings = [
        tok.encode("魔法"),
        [tok.encode("魔")[0], tok.encode("法")[0]],
        [*tok.encode("昔の魔"), *tok.encode("法使い")],
        [byte_id[b] for b in "魔法".encode()],  # byte-fallback pieces <0xE9><0xAD><0x94>...
    ]
    for ids in spellings:
        assert b"".join(table[i] for i in ids).decode() in ("魔法", "昔の魔法使い")
        state = bans.start([])
        blocked = False
        for token in ids:
            if token in bans.banned(state):
                blocked = True
                break
            state = bans.advance(state, token)
        assert blocked, [tok.id_to_piece(i) for i in ids]


def test_a_word_cannot_be_completed_across_the_prompt_boundary(
    tok: SentencePieceTokenizer, bans: WordBans
) -> None:
    state = bans.start(tok.encode("昔々、魔"))
    assert tok.encode("法")[0] in bans.banned(state)
    assert tok.encode("法")[0] not in bans.banned(bans.start(tok.encode("昔々、")))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_banned_exactly_when_the_token_would_complete_a_word(
    tok: SentencePieceTokenizer, bans: WordBans, pool: list[int], seed: int
) -> None:
    """A random walk over related ids: an id is banned iff appending its bytes ends a banned word."""
    rng = random.Random(seed)
    table = token_bytes(tok).table()
    words = [w.encode() for w in WORDS]
    context = [rng.choice(pool) for _ in range(rng.randint(0, 4))]
    data = b"".join(table[i] for i in context)
    state = bans.start(context)
    for _ in range(40):
        token = rng.choice(pool)
        grown = data + table[token]
        completes = any(w in grown[max(0, len(data) - len(w) + 1) :] for w in words)
        assert (token in bans.banned(state)) == completes
        if not completes:
            data, state = grown, bans.advance(state, token)
    assert not any(w in data[len(b"".join(table[i] for i in context)) :] for w in words)


def test_each_state_is_computed_once(bans: WordBans, tok: SentencePieceTokenizer) -> None:
    state = bans.start(tok.encode("ありがとうござい"))
    assert bans.banned(state) is bans.banned(state)
