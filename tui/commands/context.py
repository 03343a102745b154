"""`stablelm-tui context`: the context plan for a conversation file, as the inspector shows it."""

from __future__ import annotations

import argparse
import json
import sys

from tui.choices import MODES, POLICIES

BAR_WIDTH = 50


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "context",
        help="show what the model would see for a conversation",
        description='Plan the prompt for a conversation (JSONL: one {"role", "content", "pinned"} object '
        "per line) and show each segment, its tokens and whether it is kept, dropped, truncated or summarized.",
    )
    parser.add_argument("--preset", help="model preset (default: the default preset)")
    parser.add_argument("--mode", choices=MODES, default="instruct", help="default: instruct")
    parser.add_argument("--policy", choices=POLICIES, default="rolling", help="default: rolling")
    parser.add_argument("--template", help="a template name or .j2 path instead of the preset's")
    parser.add_argument(
        "--max-new-tokens", type=int, metavar="N", help="reserve for the reply (default: preset)"
    )
    parser.add_argument(
        "--window", type=int, metavar="N", help="context window, at most the model's (default: the preset's)"
    )
    parser.add_argument(
        "--trim-to",
        type=float,
        metavar="F",
        default=0.5,
        help="after an overflow, drop messages until usage is at most this share of the budget (default 0.5)",
    )
    parser.add_argument(
        "--conversation", required=True, metavar="FILE", help="conversation JSONL (- = stdin)"
    )
    parser.add_argument(
        "--draft", default="", metavar="TEXT", help="the message being typed (the next user turn)"
    )
    parser.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    parser.set_defaults(func=run)


def _preview(text: str, width: int = 48) -> str:
    from tui.sanitize import neutralize

    flat = neutralize(text).replace("\n", "↵")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _bar(used: int, budget: int, window: int) -> str:
    """[███░░░|rr] used of the budget, then the reply's reserve."""
    scale = BAR_WIDTH / window
    used_cells = min(BAR_WIDTH, round(used * scale))
    budget_cells = round(budget * scale)
    cells = "█" * min(used_cells, budget_cells) + "░" * max(0, budget_cells - used_cells)
    over = "!" * max(0, used_cells - budget_cells)
    reserve = "r" * max(0, BAR_WIDTH - budget_cells - len(over))
    return f"[{cells}{over}|{reserve}]"


def run(args: argparse.Namespace) -> int:
    from tui.context import plan_context
    from tui.context.jsonl import read_conversation_file
    from tui.limits import reserve_for, window_for
    from tui.presets import load_settings
    from tui.templates import load_template
    from tui.tokenizers import load_tokenizer

    messages = read_conversation_file(args.conversation)
    preset = load_settings().preset(args.preset)
    spec = preset.mode(args.mode)
    # Checked here against the model's limit; the planner names where the rest came from in its errors.
    window = window_for(preset, args.window)
    reserve = reserve_for(preset, args.mode, args.max_new_tokens, window)
    origins = {
        "window": "--window" if args.window is not None else "the preset's context_window",
        "reserve": "--max-new-tokens" if args.max_new_tokens is not None else "the preset's max_new_tokens",
        "trim_to": "--trim-to",
    }
    tokenizer = load_tokenizer(preset.tokenizer)
    template = load_template(args.template or spec.template)
    plan = plan_context(
        messages,
        tokenizer=tokenizer,
        template=template,
        window=window,
        reserve=reserve,
        policy=args.policy,
        draft=args.draft,
        trim_to=args.trim_to,
        origins=origins,
    )
    if args.json:
        print(json.dumps(plan.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(
            f"preset {preset.name} ({args.mode}), template {plan.template}, policy {plan.policy}: "
            f"{plan.total_tokens} of {plan.budget} tokens (window {plan.window}, {plan.reserve} reserved)"
        )
        print(f"{'#':>4}  {'kind':<8} {'role':<9} {'status':<10} {'tokens':>6}  text")
        for segment in plan.segments:
            # Numbered from 1 for people; the JSON's message_index counts from 0.
            index = "" if segment.message_index is None else str(segment.message_index + 1)
            print(
                f"{index:>4}  {segment.kind:<8} {segment.role or '':<9} {segment.status:<10} "
                f"{segment.tokens:>6}  {_preview(segment.text)}"
            )
        print(_bar(plan.total_tokens, plan.budget, plan.window))
        for line in plan.log:
            print(f"- {line}")
    if not plan.ok:
        print(f"stablelm-tui: {plan.error}", file=sys.stderr)
        return 1
    return 0
