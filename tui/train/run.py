"""One training run from start to the renamed adapter: plan, load, train (or resume), card, finish."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui.train.checkpoints import WorkDir
from tui.train.plan import TrainOptions, TrainPlan, prepare
from tui.train.progress import Finished, Note, TrainEvent


def train(options: TrainOptions, emit: Callable[[TrainEvent], None]) -> Path:
    """Train and write the adapter to options.out; UserError (nothing complete-looking left) on bad input."""
    plan = prepare(options)
    emit(Note(_summary(plan)))
    return _train_loaded(plan, WorkDir(options.out), emit)


def _summary(plan: TrainPlan) -> str:
    held = sum(len(s.ids) for s in plan.heldout)
    return (
        f"data: {len(plan.files)} file(s), {len(plan.train)} training sequences ({plan.train_tokens:,} tokens), "
        f"{len(plan.heldout)} held out ({held:,} tokens); {plan.total_steps} steps on {plan.model_ref}"
    )


def _train_loaded(plan: TrainPlan, work: WorkDir, emit: Callable[[TrainEvent], None]) -> Path:
    from tui.engine.identity import model_identity
    from tui.train.card import build_card, write_card
    from tui.train.loop import Trainer
    from tui.train.model import (
        add_lora,
        compute_dtype,
        enable_gradient_checkpointing,
        load_base,
        model_device,
    )
    from tui.trust import remote_code_allowed

    options = plan.options
    started = time.perf_counter()
    base = load_base(
        plan.model_ref,
        device=options.device,
        quantize=options.quantize,
        trust_remote_code=remote_code_allowed(plan.preset, plan.model_ref),
    )
    identity = model_identity(plan.model_ref)
    runtime: dict[str, Any] = {
        "device_used": str(model_device(base)),
        # Read before add_lora: PEFT's 4-bit preparation upcasts the embeddings to float32.
        "dtype": str(compute_dtype(base)).removeprefix("torch."),
        "gradient_checkpointing": (
            enable_gradient_checkpointing(base) if options.gradient_checkpointing else "off"
        ),
    }
    import torch

    torch.manual_seed(options.seed)  # the LoRA matrices' initial values
    peft_model = add_lora(
        base,
        rank=options.rank,
        alpha=options.lora_alpha,
        dropout=options.dropout,
        quantized=options.quantize is not None,
    )
    runtime["targets"] = sorted(peft_model.peft_config["default"].target_modules)
    emit(
        Note(
            f"model loaded in {time.perf_counter() - started:.1f} s on {runtime['device_used']} "
            f"({runtime['dtype']}); LoRA rank {options.rank} on {', '.join(runtime['targets'])}"
        )
    )
    # The work folder appears only once the model is in memory: a run that cannot start leaves nothing behind.
    manifest = plan.manifest() | {"base_model": identity.as_dict()}  # other weights at the same ref: refused
    if not work.start(manifest, options.resume) and options.resume:
        emit(Note(f"nothing to resume in {work.root}: starting at step 0"))
    trainer = Trainer(plan, peft_model, work, emit, fp16=runtime["dtype"] == "float16")
    latest = work.latest() if options.resume else None
    if latest is not None:
        trainer.restore(latest)
    state = trainer.run()
    card = build_card(plan, state, identity, runtime)

    def write(folder: Path) -> None:
        peft_model.save_pretrained(str(folder))
        write_card(folder, card)

    out = work.finish(write)
    emit(Finished(str(out), state.step, state.train_loss, state.heldout_loss, state.seconds))
    return out
