"""The training loop: one packed sequence per optimizer step, held-out evaluation, checkpoints, resume.

The order of the sequences is a function of (seed, epoch) only, so a resumed run needs nothing but the step
counter to continue exactly where the interrupted one was; random states (LoRA dropout) are restored too.
Learning rate: linear warm-up over the first 3% of the steps (at most 50), then cosine decay to a tenth.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.errors import UserError
from tui.train.checkpoints import ADAPTER_SUBDIR, STATE_FILE, WorkDir
from tui.train.model import OOM_TRAIN_ADVICE, sequence_loss
from tui.train.plan import TrainPlan
from tui.train.progress import Evaluated, Note, Resumed, Saved, StepDone, TrainEvent

SAVE_AT_LEAST_EVERY_S = 600.0
MAX_GRAD_NORM = 1.0


def learning_rate_factor(step: int, total: int) -> float:
    warmup = min(50, max(1, math.ceil(0.03 * total)))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def sequence_order(step: int, count: int, seed: int) -> int:
    """Which training sequence step `step` reads: a fresh permutation per epoch."""
    import torch

    epoch, within = divmod(step, count)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return int(torch.randperm(count, generator=generator)[within])


@dataclass
class LoopState:
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    """Held-out losses: {"step", "heldout_loss"} per evaluation, step 0 being the base model."""
    train_losses: list[float] = field(default_factory=list)
    """Loss of each of the last steps (for the card's final training loss)."""
    resumed_from: list[int] = field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0

    @property
    def heldout_loss(self) -> float | None:
        return self.history[-1]["heldout_loss"] if self.history else None

    @property
    def train_loss(self) -> float | None:
        recent = self.train_losses[-20:]
        return sum(recent) / len(recent) if recent else None


class Trainer:
    def __init__(
        self,
        plan: TrainPlan,
        peft_model: Any,
        work: WorkDir,
        emit: Callable[[TrainEvent], None],
        *,
        fp16: bool = False,
    ) -> None:
        """`fp16`: the base computes in float16 (a T4): gradients are scaled so small ones do not underflow."""
        import torch

        self.plan = plan
        self.model = peft_model
        self.work = work
        self.emit = emit
        self.device = peft_model.get_input_embeddings().weight.device
        self.params = [p for p in peft_model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=plan.options.lr, weight_decay=0.0)
        total = plan.total_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: learning_rate_factor(step, total)
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16 and self.device.type == "cuda")
        self.state = LoopState()

    # -- checkpoints -------------------------------------------------------------------------------------------

    def _write_checkpoint(self, folder: Path) -> None:
        import torch

        self.model.save_pretrained(str(folder / ADAPTER_SUBDIR))
        random_states: dict[str, Any] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            random_states["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(
            {
                "step": self.state.step,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "random": random_states,
                "loop": {k: v for k, v in self.state.__dict__.items()},
            },
            folder / STATE_FILE,
        )

    def save(self) -> None:
        path = self.work.save(self.state.step, self._write_checkpoint)
        self.emit(Saved(self.state.step, str(path)))

    def restore(self, folder: Path) -> None:
        import torch
        from peft.utils import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = load_file(
            str(folder / ADAPTER_SUBDIR / "adapter_model.safetensors"), device=str(self.device)
        )
        set_peft_model_state_dict(self.model, weights)
        saved = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["random"]["cpu"])
        if "cuda" in saved["random"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["random"]["cuda"])
        self.state = LoopState(**saved["loop"])
        self.state.resumed_from.append(self.state.step)
        self.emit(Resumed(self.state.step, str(folder)))

    # -- steps ---------------------------------------------------------------------------------------------------

    def evaluate(self) -> float:
        import torch

        self.model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for seq in self.plan.heldout:
                loss_sum, n = sequence_loss(self.model, seq.ids, seq.loss, self.device)
                total += float(loss_sum)
                count += n
        self.model.train()
        value = total / max(1, count)
        self.state.history.append({"step": self.state.step, "heldout_loss": value})
        self.emit(Evaluated(self.state.step, value, count))
        return value

    def _step(self) -> float:
        import torch

        plan = self.plan
        seq = plan.train[sequence_order(self.state.step, len(plan.train), plan.options.seed)]
        loss_sum, count = sequence_loss(self.model, seq.ids, seq.loss, self.device)
        loss = loss_sum / max(1, count)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.params, MAX_GRAD_NORM)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.state.tokens += len(seq.ids)
        return float(loss.detach())

    def run(self) -> LoopState:
        """Train from the current step to the plan's total, evaluating and saving on the way."""
        from tui.engine.errors import is_out_of_memory

        plan, state = self.plan, self.state
        if not state.history:
            self.evaluate()  # step 0: the base model's held-out loss, to compare against
        self.model.train()
        started = time.perf_counter()
        last_save = started
        trained_s = 0.0
        tokens_at_start = state.tokens
        first_step = state.step
        while state.step < plan.total_steps:
            t0 = time.perf_counter()
            try:
                loss = self._step()
            except Exception as exc:
                if is_out_of_memory(exc):
                    longest = max(len(s.ids) for s in plan.train)
                    raise UserError(
                        f"out of GPU memory at step {state.step + 1} (sequences up to {longest} tokens): "
                        f"{OOM_TRAIN_ADVICE}; --resume continues from the last checkpoint"
                    ) from None
                raise
            if not math.isfinite(loss):
                raise UserError(
                    f"the loss became {loss} at step {state.step + 1}: lower --lr (now {plan.options.lr:g}) "
                    "and start over"
                )
            trained_s += time.perf_counter() - t0
            state.step += 1
            state.train_losses = [*state.train_losses[-19:], loss]
            if state.step % plan.eval_every == 0 or state.step == plan.total_steps:
                self.evaluate()
            now = time.perf_counter()
            state.seconds += now - t0
            if (
                state.step % plan.save_every == 0
                or state.step == plan.total_steps
                or now - last_save > SAVE_AT_LEAST_EVERY_S
            ):
                self.save()
                last_save = time.perf_counter()
            per_step = (time.perf_counter() - started) / (state.step - first_step)
            self.emit(
                StepDone(
                    step=state.step,
                    total=plan.total_steps,
                    loss=loss,
                    tokens_per_s=(state.tokens - tokens_at_start) / trained_s if trained_s else 0.0,
                    seconds_left=per_step * (plan.total_steps - state.step),
                    heldout_loss=state.heldout_loss,
                )
            )
        if first_step == plan.total_steps:
            self.emit(Note(f"the checkpoint already has all {plan.total_steps} steps: writing the adapter"))
        return state
