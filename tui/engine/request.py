"""A generation request: the prompt as token ids plus sampling settings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tui.errors import UserError

if TYPE_CHECKING:
    from tui.engine.bans import BannedSequences


@dataclass
class GenerationRequest:
    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float = 1.0
    """0 means greedy (the OpenAI convention), whatever do_sample says."""
    top_p: float = 1.0
    top_k: int = 0
    """0 disables top-k."""
    do_sample: bool = True
    """False: greedy decoding (temperature, top_p, top_k and seed are ignored)."""
    repetition_penalty: float = 1.0
    seed: int | None = None
    """Same seed, settings and prompt give the same reply on the local backend."""
    stop_strings: tuple[str, ...] = ()
    eos_token_id: int | None = None
    prompt_text: str | None = field(default=None, repr=False)
    """The rendered prompt as text (the plan's `prompt`); the remote backend sends it. If None it decodes the ids."""
    reuse_cache: bool = True
    """False: run on a throwaway KV cache and leave the conversation's cache alone (summarization jobs)."""
    banned_sequences: BannedSequences | None = field(default=None, repr=False)
    """Token sequences the reply must not contain (tui.engine.bans); honoured by the local backend. An
    OpenAI-compatible server can only ban single tokens (logit_bias), so callers refuse bans there."""

    @property
    def greedy(self) -> bool:
        """Argmax decoding: do_sample is off or the temperature is 0."""
        return not self.do_sample or self.temperature == 0

    def validate(self) -> None:
        """Raise UserError naming the bad setting."""
        if not self.prompt_ids:
            raise UserError("the prompt is empty: there must be at least one token to continue from")
        if self.max_new_tokens <= 0:
            raise UserError(f"max_new_tokens must be positive, got {self.max_new_tokens}")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise UserError(f"temperature must be 0 (greedy) or a positive number, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise UserError(f"top_k must be 0 (off) or positive, got {self.top_k}")
        if not (self.repetition_penalty > 0 and math.isfinite(self.repetition_penalty)):
            raise UserError(f"repetition_penalty must be a positive number, got {self.repetition_penalty}")
        if any(not s for s in self.stop_strings):
            raise UserError("stop strings must not be empty")
