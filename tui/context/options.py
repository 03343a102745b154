"""The numbers a plan is made under (window, reserve, policy, trimming), checked once when they are set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tui.choices import POLICIES, Policy
from tui.errors import UserError

DEFAULT_TRIM_TO = 0.5
DEFAULT_SUMMARY_CHUNK_TOKENS = 512
DEFAULT_SUMMARY_MAX_CHARS = 200


@dataclass
class PlanOptions:
    window: int
    reserve: int
    policy: Policy = "rolling"
    trim_to: float = DEFAULT_TRIM_TO
    """After an overflow, rolling/middle/summarize drop messages until usage is at most this share of the budget."""
    summary_chunk_tokens: int = DEFAULT_SUMMARY_CHUNK_TOKENS
    summary_max_chars: int = DEFAULT_SUMMARY_MAX_CHARS
    origins: Mapping[str, str] = field(default_factory=dict)
    """Where a number came from, for its error: {"reserve": "--max-new-tokens"}; default: the field's name."""

    def __post_init__(self) -> None:
        """Raise UserError naming the bad value, so callers need no checks of their own."""
        if self.window <= 0:
            raise UserError(f"{self._origin('window')} must be positive, got {self.window}")
        if not 0 <= self.reserve < self.window:
            raise UserError(
                f"{self._origin('reserve')} must be between 0 and the window minus one ({self.window - 1}), "
                f"got {self.reserve}"
            )
        if self.policy not in POLICIES:
            raise UserError(f"unknown policy {self.policy!r} (expected one of {', '.join(POLICIES)})")
        if not 0 < self.trim_to <= 1:
            raise UserError(f"{self._origin('trim_to')} must be in (0, 1], got {self.trim_to}")
        if self.summary_chunk_tokens <= 0 or self.summary_max_chars <= 0:
            raise UserError("summary chunk size and max chars must be positive")

    def _origin(self, name: str) -> str:
        return self.origins.get(name, name)

    @property
    def budget(self) -> int:
        return self.window - self.reserve
