"""The context window and the reply's reserve a command uses: its flag, else the preset's, checked against the model.

The preset's `context_window` is the model's hard limit (prompt plus reply), so a larger `--window` is refused
like the settings dialog refuses it. An error about the reserve says where the number came from (the flag or
the preset's default), because a reserve the user never typed is otherwise a puzzle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.errors import UserError

if TYPE_CHECKING:
    from tui.presets import Mode, Preset


def window_for(preset: Preset, requested: int | None, flag: str = "--window") -> int:
    """`requested` (a flag's value) or the preset's window; refused when not positive or beyond the model's."""
    limit = preset.context_window
    if requested is None:
        return limit
    if requested <= 0:
        raise UserError(f"{flag} must be positive, got {requested}")
    if requested > limit:
        raise UserError(
            f"{flag} {requested} is beyond the model's {limit}-token window "
            f"(preset '{preset.name}', context_window): use at most {limit}"
        )
    return requested


def reserve_for(
    preset: Preset,
    mode: Mode,
    requested: int | None,
    window: int,
    *,
    flag: str = "--max-new-tokens",
    minimum: int = 0,
) -> int:
    """Tokens kept free for the reply: `requested` (a flag's value) or the mode's max_new_tokens from the preset.

    It must leave at least one token of the window for the prompt; the error names the number's source.
    """
    if requested is not None:
        value, source = requested, flag
    else:
        value = preset.mode(mode).generation.max_new_tokens
        source = f"preset '{preset.name}', {mode}.generation.max_new_tokens (the default)"
    if minimum <= value < window:
        return value
    if value < minimum:
        raise UserError(f"the reply's reserve must be at least {minimum} token, got {value} (from {source})")
    change = f"a smaller {flag}" if requested is not None else f"{flag} below {window}"
    raise UserError(
        f"the reply's reserve of {value} tokens (from {source}) leaves no room for the prompt in a "
        f"{window}-token window: pass {change}"
    )
