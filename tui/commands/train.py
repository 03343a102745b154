"""`stablelm-tui train`: a LoRA adapter from your own conversations, stories and texts (docs/training.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a LoRA adapter on your conversations, stories or texts",
        description="Train a LoRA adapter for a preset's model on data in the exact format the app sends: "
        "conversation JSONL from `sessions export` (rendered through the template, learning the replies), "
        "novel-mode *.story.json files and plain text (continuation). A held-out part of the data measures "
        "progress; checkpoints let --resume continue a killed run. See docs/training.md.",
    )
    parser.add_argument("--preset", help="model preset (default: the default preset)")
    parser.add_argument("--mode", choices=("base", "instruct"), default="base", help="default: base")
    parser.add_argument(
        "--data", nargs="+", required=True, metavar="FILE", help="data files (.jsonl, .story.json, text)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="adapter folder to create")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, metavar="N", help="optimizer steps (one sequence each)")
    length.add_argument("--epochs", type=float, metavar="N", help="passes over the data (default 2)")
    parser.add_argument("--rank", type=int, default=16, metavar="R", help="LoRA rank (16)")
    parser.add_argument("--alpha", type=int, metavar="A", help="LoRA alpha (default 2 x rank)")
    parser.add_argument("--lr", type=float, default=2e-4, metavar="X", help="peak learning rate (2e-4)")
    parser.add_argument(
        "--max-tokens", type=int, default=2048, metavar="N", help="tokens per sequence (2048, the window)"
    )
    parser.add_argument(
        "--quantize", choices=("int4",), help="4-bit base model (QLoRA, bitsandbytes): 7B on a 16 GB GPU"
    )
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run into --out")
    parser.add_argument("--template", metavar="T", help="prompt format (default: the preset's for --mode)")
    parser.add_argument(
        "--heldout", type=float, default=0.1, metavar="F", help="share of the data held out (0.1)"
    )
    parser.add_argument("--eval-every", type=int, metavar="N", help="steps between evaluations (a tenth)")
    parser.add_argument("--save-every", type=int, metavar="N", help="steps between checkpoints (as eval)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="data order and LoRA init (0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1... (default auto)")
    parser.add_argument(
        "--no-gradient-checkpointing",
        dest="gradient_checkpointing",
        action="store_false",
        help="keep activations (faster, more memory)",
    )
    parser.set_defaults(func=run)


class ProgressPrinter:
    """Events on stderr: the step line redrawn in place on a terminal, one line per 5% of the run otherwise.

    On a VM made by `provisioning/vm up` each event also touches the idle watchdog's heartbeat (rate-limited),
    so a long run started from a detached shell is never taken for a forgotten VM.
    """

    def __init__(self, stream: Any = None) -> None:
        from tui.vminfo import Heartbeat

        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._open_line = False
        self.heartbeat = Heartbeat.for_this_vm()

    def __call__(self, event: Any) -> None:
        from tui.train.progress import StepDone, describe

        self.heartbeat.beat()
        text = describe(event)
        if isinstance(event, StepDone):
            if self.tty:
                self.stream.write("\r\x1b[K" + text)
                self._open_line = True
            elif event.step % max(1, event.total // 20) == 0 or event.step == event.total:
                self.stream.write(text + "\n")
        else:
            if self._open_line:
                self.stream.write("\n")
                self._open_line = False
            self.stream.write(text + "\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    from tui.train.plan import TrainOptions
    from tui.train.run import train

    options = TrainOptions(
        data=tuple(args.data),
        out=Path(args.out).expanduser().resolve(),
        preset=args.preset,
        mode=args.mode,
        template=args.template,
        steps=args.steps,
        epochs=args.epochs,
        rank=args.rank,
        alpha=args.alpha,
        lr=args.lr,
        max_tokens=args.max_tokens,
        quantize=args.quantize,
        resume=args.resume,
        heldout=args.heldout,
        eval_every=args.eval_every,
        save_every=args.save_every,
        seed=args.seed,
        device=args.device,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    train(options, ProgressPrinter())
    return 0
