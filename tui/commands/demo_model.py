"""`stablelm-tui demo-model`: build (once) the two tiny demo models and say where they are."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo-model",
        help="build the tiny demo models (idempotent) and print where they are",
        description="Build two tiny random models (base and instruct) with the real nerdstash v1 tokenizer, "
        "for trying the app with no GPU and no model download. Does nothing if they already exist.",
    )
    parser.add_argument("--out", type=Path, help="directory to build into (default: the cache dir)")
    parser.add_argument("--json", action="store_true", help='print {"base": DIR, "instruct": DIR} last')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tui.demo import ensure_demo_models

    started = time.perf_counter()
    models = ensure_demo_models(args.out)
    if models.built:
        print(f"built the demo models in {time.perf_counter() - started:.1f} s:")
    else:
        print("the demo models are already built:")
    print(f"  base:     {models.base}")
    print(f"  instruct: {models.instruct}")
    if args.json:
        print(json.dumps(models.as_dict()))
    return 0
