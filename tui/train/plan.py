"""A training run's settings and everything decided before a model loads: data, sequences, step counts.

`prepare` does all the checking that can fail on bad input (files, formats, flags, an existing --out) without
importing torch, so a mistake costs a second, not a model load.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tui.errors import UserError
from tui.presets import Mode, Preset
from tui.train.data import FileSummary, read_files
from tui.train.sequences import TrainSequence, cut_document, fingerprint, pack, split_heldout

DEFAULT_EPOCHS = 2.0
MIN_MAX_TOKENS = 32


@dataclass(frozen=True)
class TrainOptions:
    data: tuple[str, ...]
    out: Path
    preset: str | None = None
    mode: Mode = "base"
    template: str | None = None
    """Default: the preset's template for `mode`."""
    steps: int | None = None
    epochs: float | None = None
    """Passes over the training sequences when `steps` is not given (default 2)."""
    rank: int = 16
    alpha: int | None = None
    """LoRA scaling numerator; default 2 x rank."""
    dropout: float = 0.05
    lr: float = 2e-4
    max_tokens: int = 2048
    quantize: Literal["int4"] | None = None
    resume: bool = False
    heldout: float = 0.1
    eval_every: int | None = None
    """Default: a tenth of the steps."""
    save_every: int | None = None
    """Default: like eval_every; a checkpoint is also written after 10 minutes without one."""
    seed: int = 0
    device: str = "auto"
    gradient_checkpointing: bool = True

    def validate(self, window: int) -> None:
        if self.steps is not None and self.epochs is not None:
            raise UserError("give --steps or --epochs, not both")
        if self.steps is not None and self.steps <= 0:
            raise UserError(f"--steps must be positive, got {self.steps}")
        if self.epochs is not None and not (self.epochs > 0 and math.isfinite(self.epochs)):
            raise UserError(f"--epochs must be positive, got {self.epochs}")
        if self.rank <= 0:
            raise UserError(f"--rank must be positive, got {self.rank}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UserError(f"--lr must be a positive number, got {self.lr}")
        if not MIN_MAX_TOKENS <= self.max_tokens <= window:
            raise UserError(f"--max-tokens must be between {MIN_MAX_TOKENS} and the window {window}")
        if not 0 < self.heldout < 1:
            raise UserError(f"--heldout must be a fraction between 0 and 1, got {self.heldout}")
        if not 0 <= self.dropout < 1:
            raise UserError(f"--dropout must be in [0, 1), got {self.dropout}")
        for name, value in (("--eval-every", self.eval_every), ("--save-every", self.save_every)):
            if value is not None and value <= 0:
                raise UserError(f"{name} must be positive, got {value}")

    @property
    def lora_alpha(self) -> int:
        return self.alpha if self.alpha is not None else 2 * self.rank


@dataclass
class TrainPlan:
    options: TrainOptions
    preset: Preset
    model_ref: str
    template_name: str
    template_identity: str
    tokenizer_identity: str
    eos_id: int | None
    files: list[FileSummary]
    train: list[TrainSequence]
    heldout: list[TrainSequence]
    total_steps: int
    eval_every: int
    save_every: int
    data_fingerprint: str = field(default="")

    def manifest(self) -> dict[str, Any]:
        """What a resumed run must share with the interrupted one (compared key by key)."""
        o = self.options
        return {
            "model": self.model_ref,
            "preset": self.preset.name,
            "mode": o.mode,
            "template": self.template_identity,
            "tokenizer": self.tokenizer_identity,
            "data": self.data_fingerprint,
            "steps": self.total_steps,
            "rank": o.rank,
            "alpha": o.lora_alpha,
            "dropout": o.dropout,
            "lr": o.lr,
            "max_tokens": o.max_tokens,
            "quantize": o.quantize,
            "heldout": o.heldout,
            "seed": o.seed,
        }

    def settings(self) -> dict[str, Any]:
        settings = asdict(self.options)
        settings["out"] = str(self.options.out)
        settings["data"] = list(self.options.data)
        settings |= {"alpha": self.options.lora_alpha, "total_steps": self.total_steps}
        return settings

    @property
    def train_tokens(self) -> int:
        return sum(len(s.ids) for s in self.train)


def prepare(options: TrainOptions) -> TrainPlan:
    """Read and check everything that needs no model; UserError (exit 2) on any bad input."""
    import importlib.util

    from tui.presets import load_settings
    from tui.templates import load_template
    from tui.tokenizers import tokenizer_for_preset
    from tui.train.checkpoints import WorkDir

    if importlib.util.find_spec("peft") is None:
        raise UserError("training needs peft: pip install 'stablelm-tui[train]' (or pip install peft)")
    preset = load_settings().preset(options.preset)
    spec = preset.mode(options.mode)
    options.validate(preset.context_window)
    WorkDir(options.out).check_out(options.resume)
    tokenizer = tokenizer_for_preset(preset)
    template = load_template(options.template or spec.template)
    eos = preset.eos_token_id if preset.eos_token_id is not None else tokenizer.eos_token_id
    documents, files = read_files(
        options.data, tokenizer=tokenizer, template=template, eos_id=eos, stops=spec.stop
    )
    pieces = [piece for doc in documents for piece in cut_document(doc, options.max_tokens)]
    train_pieces, held_pieces = split_heldout(pieces, options.heldout)
    train = pack(train_pieces, options.max_tokens, eos)
    heldout = pack(held_pieces, options.max_tokens, eos)
    if options.steps is not None:
        total = options.steps
    else:
        total = max(1, math.ceil((options.epochs or DEFAULT_EPOCHS) * len(train)))
    eval_every = options.eval_every or max(1, total // 10)
    plan = TrainPlan(
        options=options,
        preset=preset,
        model_ref=spec.model,
        template_name=template.name,
        template_identity=template.identity,
        tokenizer_identity=tokenizer.identity,
        eos_id=eos,
        files=files,
        train=train,
        heldout=heldout,
        total_steps=total,
        eval_every=eval_every,
        save_every=options.save_every or eval_every,
    )
    plan.data_fingerprint = fingerprint([*train, *heldout])
    return plan
