"""A story as data: the text the model continues, its メモリ, 脚注, キャラクターブック and history.

Frozen dataclasses: a screen edits a story by making a new one (`dataclasses.replace`), so a snapshot handed to a
worker thread can never change under it. Reading and writing the `*.story.json` file is tui.novel.schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Position = Literal["before_memory", "after_memory", "before_note", "after_note"]
POSITIONS: tuple[Position, ...] = ("before_memory", "after_memory", "before_note", "after_note")
ContinuationState = Literal["applied", "undone", "replaced", "discarded"]
CONTINUATION_STATES: tuple[ContinuationState, ...] = ("applied", "undone", "replaced", "discarded")
FinishReason = Literal["eos", "stop", "length", "cancelled", "error", "interrupted"]
FINISH_REASONS: tuple[FinishReason, ...] = ("eos", "stop", "length", "cancelled", "error", "interrupted")
"""The engine's reasons, plus "interrupted": saved while streaming, and the process never finished it."""

FORMAT_VERSION = 1
DEFAULT_NOTE_DEPTH = 3
DEFAULT_SCAN_TOKENS = 1024
DEFAULT_LORE_BUDGET = 512
DEFAULT_RECURSION_DEPTH = 2


@dataclass(frozen=True)
class LoreEntry:
    """One キャラクターブック entry: inserted when a key occurs near the end of the story (or always)."""

    keys: tuple[str, ...] = ()
    """Plain text (matched after width/case folding, no word boundaries) or regular expressions."""
    content: str = ""
    regex: bool = False
    always: bool = False
    """Always inserted, whatever the keys; never dropped silently (a plan error if it cannot fit)."""
    enabled: bool = True
    priority: int = 0
    """Higher wins when the lore budget is short."""
    position: Position = "after_memory"
    name: str = ""
    """A label for people (the inspector, import reports); never sent to the model."""


@dataclass(frozen=True)
class Sampler:
    """The settings one continuation was generated with."""

    max_new_tokens: int
    do_sample: bool
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float


@dataclass(frozen=True)
class Continuation:
    """One generated continuation, with what it takes to reproduce it."""

    start: int
    """Where in `text` it was appended (characters)."""
    text: str
    token_ids: tuple[int, ...]
    """The ids the model sampled (eos excluded)."""
    seed: int | None
    """None for greedy decoding."""
    sampler: Sampler
    model: str
    finish: FinishReason
    state: ContinuationState
    """applied: in the text; undone: taken out by undo (redo puts it back); replaced: taken out by retry;
    discarded: undone, then a new continuation was written (no longer redoable)."""
    prompt_tokens: int
    prompt_sha256: str
    """sha256 of the prompt ids (little-endian uint32s): a replay can prove it sent the same prompt."""
    created: str
    """UTC time, ISO 8601."""


@dataclass(frozen=True)
class Story:
    text: str = ""
    memory: str = ""
    """Always at the top of the context."""
    note: str = ""
    """脚注 (author's note): inserted `note_depth` lines before the end of the story; the strongest steer."""
    note_depth: int = DEFAULT_NOTE_DEPTH
    scan_tokens: int = DEFAULT_SCAN_TOKENS
    """Lore keys are looked for in this many tokens at the end of the story (and always in the 脚注)."""
    lore_budget: int = DEFAULT_LORE_BUDGET
    """Most tokens the key-triggered lore entries may take together (always-on entries are not counted)."""
    recursion_depth: int = DEFAULT_RECURSION_DEPTH
    """How many rounds of entries triggering entries (0: only the story and the 脚注 trigger entries)."""
    fold_kana: bool = False
    """Keys match across hiragana and katakana (ありす finds アリス); width and case are always folded."""
    banned: tuple[str, ...] = ()
    """禁止ワード: text the continuation must never contain."""
    stop: tuple[str, ...] = ()
    """A continuation ends just before any of these."""
    max_new_tokens: int | None = None
    """Length of a continuation (None: the preset's); also the reply's reserve in the window."""
    lore: tuple[LoreEntry, ...] = ()
    history: tuple[Continuation, ...] = field(default=(), repr=False)
