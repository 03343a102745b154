"""Story settings as a writer types them in the novel screen: read strictly, refused in one sentence.

The story file already bounds these fields (tui.novel.schema); a screen bounds them by the model's window too,
since a scan window or lore budget past it can never matter and is almost always a typo (10240 for 1024). The
sentence says what was typed, what is allowed and what the story keeps, so nothing saved is ever lost silently.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from tui.errors import UserError


@dataclass(frozen=True)
class TokenSetting:
    field: str
    """The Story field it edits."""
    label: str
    low: int
    below_window: bool = False
    """The highest value is window - 1 rather than the window (a reply must leave room for a prompt)."""
    empty_means: str = ""
    """What an empty field means ("the preset's"); empty: an empty field is refused."""

    def high(self, window: int) -> int:
        return window - 1 if self.below_window else window


SCAN_TOKENS = TokenSetting("scan_tokens", "scan window", 0)
LORE_BUDGET = TokenSetting("lore_budget", "lore budget", 0)
REPLY_TOKENS = TokenSetting(
    "max_new_tokens", "reply length", 1, below_window=True, empty_means="the preset's"
)
TOKEN_SETTINGS = (SCAN_TOKENS, LORE_BUDGET, REPLY_TOKENS)


def read_tokens(setting: TokenSetting, typed: str, *, window: int, keeps: int | None) -> int | None:
    """The value typed for `setting` (None: empty, where that means the preset's); UserError otherwise.

    Full-width digits (１０２４, what a Japanese IME types) are read as digits."""
    raw = unicodedata.normalize("NFKC", typed).strip()
    high = setting.high(window)
    kept = f"it stays {keeps if keeps is not None else setting.empty_means or 'unset'}"
    allowed = f"a whole number of tokens from {setting.low} to {high}"
    if not raw:
        if setting.empty_means:
            return None
        raise UserError(f"{setting.label}: type {allowed}; {kept}")
    if not (raw.isascii() and raw.isdigit()):
        shown = typed if len(typed) <= 12 else typed[:11] + "…"
        raise UserError(f"{setting.label}: '{shown}' is not {allowed}; {kept}")
    value = int(raw)
    if value > high:
        raise UserError(f"{setting.label}: {value} is beyond the {window}-token window (most {high}); {kept}")
    if value < setting.low:
        raise UserError(f"{setting.label}: {value} is too few tokens (least {setting.low}); {kept}")
    return value


def read_banned(typed: str) -> tuple[str, ...]:
    """禁止ワード typed one per line: a Japanese phrase may well hold 、 or a comma, never a line break. Spaces
    around a word are dropped (invisible, and never meant), as are empty lines and repeats."""
    words = (line.strip() for line in typed.splitlines())
    return tuple(dict.fromkeys(word for word in words if word))


def show_banned(words: tuple[str, ...]) -> str:
    return "\n".join(words)
