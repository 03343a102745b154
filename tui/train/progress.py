"""What a training run reports while it runs, as typed events, and the one-line text of each.

The trainer posts events to a callback; the CLI prints them (a line redrawn in place on a terminal, plain lines
in a log) and a future TUI view can show the same events.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Resumed:
    step: int
    checkpoint: str


@dataclass(frozen=True)
class StepDone:
    step: int
    """Steps done so far (1-based: the step just finished)."""
    total: int
    loss: float
    """Mean loss per learned token of this step's sequence."""
    tokens_per_s: float
    """Tokens through the model per second of training (evaluation and saving not counted)."""
    seconds_left: float
    heldout_loss: float | None
    """The last held-out loss measured, if any."""


@dataclass(frozen=True)
class Evaluated:
    step: int
    heldout_loss: float
    tokens: int


@dataclass(frozen=True)
class Saved:
    step: int
    path: str


@dataclass(frozen=True)
class Finished:
    out: str
    steps: int
    train_loss: float | None
    heldout_loss: float | None
    seconds: float


TrainEvent = Note | Resumed | StepDone | Evaluated | Saved | Finished


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bar(done: int, total: int, width: int = 12) -> str:
    filled = round(width * done / total) if total else width
    return "▕" + "█" * filled + "·" * (width - filled) + "▏"


def describe(event: TrainEvent) -> str:
    """One line for a log or a status line (at most about 80 columns for StepDone)."""
    if isinstance(event, StepDone):
        held = f" held {event.heldout_loss:.3f}" if event.heldout_loss is not None else ""
        return (
            f"step {event.step}/{event.total} {bar(event.step, event.total)} loss {event.loss:.3f}{held} "
            f"{event.tokens_per_s:,.0f} tok/s {duration(event.seconds_left)} left"
        )
    if isinstance(event, Evaluated):
        return f"step {event.step}: held-out loss {event.heldout_loss:.4f} over {event.tokens:,} tokens"
    if isinstance(event, Saved):
        return f"step {event.step}: checkpoint {event.path}"
    if isinstance(event, Resumed):
        return f"resuming at step {event.step} from {event.checkpoint}"
    if isinstance(event, Finished):
        losses = ", ".join(
            f"{name} {value:.4f}"
            for name, value in (("train loss", event.train_loss), ("held-out loss", event.heldout_loss))
            if value is not None
        )
        return f"adapter written to {event.out} after {event.steps} steps in {duration(event.seconds)} ({losses})"
    return event.text
