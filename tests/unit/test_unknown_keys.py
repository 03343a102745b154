"""The "did you mean" of unknown settings keys: close typos get a suggestion, unrelated words the known list."""

from __future__ import annotations

import pytest

from tui.errors import UserError
from tui.unknown_keys import closest_key, reject_unknown_keys

KNOWN = ("context_window", "max_new_tokens", "temperature", "top_p", "tokenizer", "model", "template")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("window", "context_window"),
        ("temprature", "temperature"),
        ("max_tokens", "max_new_tokens"),
        ("top-p", "top_p"),
        ("Tokenizer", "tokenizer"),
        ("model_name", "model"),
        ("templte", "template"),
        ("zzz", None),
        ("gpu", None),
    ],
)
def test_closest_key(typed: str, expected: str | None) -> None:
    assert closest_key(typed, KNOWN) == expected


def test_known_keys_pass_and_the_first_unknown_one_is_named_with_its_path() -> None:
    reject_unknown_keys({"model": "m", "template": "t"}, KNOWN, "f.toml")
    with pytest.raises(UserError) as info:
        reject_unknown_keys({"model": "m", "windw": 1, "zzz": 2}, KNOWN, "f.toml: preset 'x'", "base.")
    assert (
        str(info.value)
        == "f.toml: preset 'x': unknown key 'base.windw' (did you mean 'base.context_window'?)"
    )


def test_a_typo_in_the_last_word_of_a_long_key_still_finds_it() -> None:
    assert closest_key("windw", KNOWN) == "context_window"
    assert closest_key("new_tokns", KNOWN) == "max_new_tokens"
