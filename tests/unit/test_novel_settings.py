"""Story settings as typed in the novel screen: what is taken, and the one sentence when it is refused."""

from __future__ import annotations

import pytest

from tui.errors import UserError
from tui.novel.settings import LORE_BUDGET, REPLY_TOKENS, SCAN_TOKENS, TokenSetting, read_banned, read_tokens


@pytest.mark.parametrize(
    ("setting", "typed", "value"),
    [
        pytest.param(SCAN_TOKENS, "1024", 1024, id="digits"),
        pytest.param(SCAN_TOKENS, " 0 ", 0, id="zero-with-spaces"),
        pytest.param(LORE_BUDGET, "２５６", 256, id="full-width-digits-from-an-ime"),
        pytest.param(LORE_BUDGET, "2048", 2048, id="the-whole-window"),
        pytest.param(REPLY_TOKENS, "2047", 2047, id="reply-leaves-one-token"),
        pytest.param(REPLY_TOKENS, "", None, id="empty-reply-is-the-presets"),
    ],
)
def test_a_value_in_range_is_taken(setting: TokenSetting, typed: str, value: int | None) -> None:
    assert read_tokens(setting, typed, window=2048, keeps=100) == value


@pytest.mark.parametrize(
    ("setting", "typed", "sentence"),
    [
        pytest.param(
            LORE_BUDGET,
            "12a",
            "lore budget: '12a' is not a whole number of tokens from 0 to 2048; it stays 512",
            id="not-a-number",
        ),
        pytest.param(
            SCAN_TOKENS,
            "-5",
            "scan window: '-5' is not a whole number of tokens from 0 to 2048; it stays 512",
            id="negative",
        ),
        pytest.param(
            SCAN_TOKENS,
            "1.5",
            "scan window: '1.5' is not a whole number of tokens from 0 to 2048; it stays 512",
            id="fraction",
        ),
        pytest.param(
            SCAN_TOKENS,
            "4096",
            "scan window: 4096 is beyond the 2048-token window (most 2048); it stays 512",
            id="beyond-the-window",
        ),
        pytest.param(
            REPLY_TOKENS,
            "2048",
            "reply length: 2048 is beyond the 2048-token window (most 2047); it stays 512",
            id="a-reply-the-size-of-the-window",
        ),
        pytest.param(
            REPLY_TOKENS,
            "0",
            "reply length: 0 is too few tokens (least 1); it stays 512",
            id="an-empty-reply",
        ),
        pytest.param(
            LORE_BUDGET,
            "",
            "lore budget: type a whole number of tokens from 0 to 2048; it stays 512",
            id="empty-budget",
        ),
        pytest.param(
            LORE_BUDGET,
            "٣",
            "lore budget: '٣' is not a whole number of tokens from 0 to 2048; it stays 512",
            id="other-scripts-digits",
        ),
    ],
)
def test_a_bad_value_is_one_sentence_saying_what_stays(
    setting: TokenSetting, typed: str, sentence: str
) -> None:
    with pytest.raises(UserError) as caught:
        read_tokens(setting, typed, window=2048, keeps=512)
    assert str(caught.value) == sentence


def test_the_sentence_says_an_unset_reply_stays_the_presets() -> None:
    with pytest.raises(UserError, match=r"it stays the preset's$"):
        read_tokens(REPLY_TOKENS, "x", window=2048, keeps=None)


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        pytest.param("魔王\n勇者\n", ("魔王", "勇者"), id="one-per-line"),
        pytest.param(
            "「はい、そうです」\nA, B", ("「はい、そうです」", "A, B"), id="commas-stay-inside-a-phrase"
        ),
        pytest.param("  魔王 \n\n　\n魔王", ("魔王",), id="spaces-blank-lines-and-repeats-dropped"),
        pytest.param("", (), id="nothing"),
    ],
)
def test_banned_words_are_one_per_line(typed: str, words: tuple[str, ...]) -> None:
    assert read_banned(typed) == words
