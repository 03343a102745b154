"""Untrusted text is shown literally: escapes and control characters become visible, never act."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui.sanitize import has_controls, neutralize


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        pytest.param("\x1b[2J", "␛[2J", id="clear-screen"),
        pytest.param("\x07", "␇", id="bell"),
        pytest.param("a\r\nb", "a\nb", id="crlf"),
        pytest.param("a\rb", "a␍b", id="bare-cr-overwrites-line"),
        pytest.param("\x9b31m", "\\x9b31m", id="8-bit-csi"),
        pytest.param("\x7f", "␡", id="del"),
        pytest.param("abc\u202edef", "abc<U+202E>def", id="bidi-override"),
        pytest.param(
            "[red]x[/red]\tこんにちは\n", "[red]x[/red]\tこんにちは\n", id="markup-and-text-untouched"
        ),
    ],
)
def test_neutralize(raw: str, shown: str) -> None:
    assert neutralize(raw) == shown
    assert has_controls(raw) == (raw.replace("\r\n", "\n") != shown)


@given(st.text())
def test_no_control_character_survives(text: str) -> None:
    out = neutralize(text)
    assert not any((ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in out)
    assert not has_controls(out)
