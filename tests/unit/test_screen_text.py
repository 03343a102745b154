"""The web tests read a tab's screen through screen_text, which must survive what Textual's partial redraws do."""

from __future__ import annotations

import pyte

from tests.functional.web_helpers import screen_text


def test_a_narrow_char_over_half_a_wide_one_leaves_the_other_half_blank() -> None:
    screen = pyte.Screen(10, 2)
    stream = pyte.ByteStream(screen)
    stream.feed("あいう".encode())
    stream.feed(b"\x1b[1;1Hx")  # back to the first cell: overwrite the left half of あ

    assert screen_text(screen).split("\n") == ["x いう    ", " " * 10]


def test_wide_characters_take_two_cells_and_print_once() -> None:
    screen = pyte.Screen(8, 1)
    pyte.ByteStream(screen).feed("富士山ok".encode())

    assert screen_text(screen) == "富士山ok"
