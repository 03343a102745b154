"""`stablelm-tui compare`: the same prompts through several variants (model x adapter x template), with numbers."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="run the same prompts through several variants side by side, with numbers",
        description="Run each prompt through each variant (base or instruct, optionally +ADAPTER_DIR, in "
        "each --template) and show the replies side by side with, per variant: the perplexity of a held-out "
        "--reference text, how often replies stop where the format says, and tokens per reply. Prompt i "
        "uses seed S+i in every variant.",
    )
    parser.add_argument("--preset", help="model preset (default: the default preset)")
    parser.add_argument(
        "--prompts", required=True, metavar="FILE", help='one prompt per line, or JSONL {"prompt": ...}'
    )
    parser.add_argument(
        "--variants",
        default="base,instruct",
        metavar="LIST",
        help="comma-separated: base, instruct, base+ADAPTER_DIR, instruct+ADAPTER_DIR (default base,instruct)",
    )
    parser.add_argument(
        "--template", nargs="+", metavar="T", help="run every variant in each of these prompt formats"
    )
    parser.add_argument(
        "--reference", nargs="+", metavar="FILE", help="held-out text for perplexity (any `train` format)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="sampling seed of prompt 1 (0)")
    parser.add_argument(
        "--greedy", action="store_true", help="greedy decoding instead of the preset's sampling"
    )
    parser.add_argument("--max-new-tokens", type=int, metavar="N", help="default: each mode's preset value")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1... (default auto)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tui.compare.report import render
    from tui.compare.runner import CompareSettings, Reply, run_compare
    from tui.compare.variants import parse_variants, read_prompts
    from tui.engine.errors import EngineError
    from tui.errors import UserError
    from tui.presets import load_settings
    from tui.templates import load_template

    preset = load_settings().preset(args.preset)
    variants = parse_variants(args.variants, preset, args.template)
    for template in dict.fromkeys(v.template for v in variants):
        load_template(template)
    prompts = read_prompts(args.prompts)
    if args.max_new_tokens is not None and not 0 < args.max_new_tokens < preset.context_window:
        raise UserError(f"--max-new-tokens must be between 1 and {preset.context_window - 1}")
    settings = CompareSettings(
        seed=args.seed,
        max_new_tokens=args.max_new_tokens,
        greedy=args.greedy,
        device=args.device,
        reference=tuple(args.reference or ()),
    )

    def progress(reply: Reply) -> None:
        if not args.json:
            print(f"  {reply.variant}: prompt {reply.prompt_index + 1} done", file=sys.stderr)

    try:
        report = run_compare(preset, variants, prompts, settings, on_reply=progress)
    except EngineError as exc:
        print(f"stablelm-tui: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(render(report))
    return 0
