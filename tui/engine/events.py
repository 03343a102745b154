"""What a backend tells its caller: plain frozen dataclasses, no Textual, no torch.

The UI draws LoadProgress as a progress bar, appends TextChunk text to the reply, and closes the reply on
Finished. A stream always ends with exactly one Finished; a failure after (or before) any output is a
Finished with reason "error" that keeps the partial text and carries a one-sentence message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

FinishReason = Literal["eos", "stop", "length", "cancelled", "error"]


@dataclass(frozen=True)
class LoadProgress:
    """Loading a model: `stage` is "download" (files), "load" (weight shards), "move", "ready"."""

    model: str
    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class TextChunk:
    """New reply text; never holds a broken character nor the start of a stop string that may still match."""

    text: str


@dataclass(frozen=True)
class GenerationStats:
    """One call's figures (also the `--stats` JSON line of `stablelm-tui generate`)."""

    ttft_s: float
    """Seconds from the call to the first sampled token (prefill included)."""
    new_tokens: int
    tokens_per_s: float
    """Decode speed: tokens after the first, divided by the time after the first token."""
    prefill_tokens: int
    """Prompt tokens run through the model in this call."""
    reused_tokens: int
    """Prompt tokens taken from the KV cache of the previous call (not recomputed)."""
    peak_memory_bytes: int
    """Peak accelerator memory during the call; on CPU the process's peak resident size."""
    model: str
    device: str
    prompt_as_text: bool = False
    """A remote server rejected token ids and tokenized the prompt text itself: its counts may differ from ours."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Finished:
    """The end of a stream. `text` is the whole reply as shown (stop string excluded)."""

    text: str
    reason: FinishReason
    stats: GenerationStats
    error: str | None = None
    """For reason "error": one sentence saying what happened and what to change."""
    token_ids: tuple[int, ...] = ()
    """The reply's token ids, eos excluded (local backend; empty from a remote server)."""


StreamEvent = TextChunk | Finished
