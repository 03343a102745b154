"""`stablelm-tui generate`: one reply, streamed to stdout, through the same planner, template and engine as the TUI."""

from __future__ import annotations

import argparse
import json
import sys

from tui.choices import MODES
from tui.commands.backend_flags import add_local_flags, add_remote_flags

STATS_KEYS = ("ttft_s", "new_tokens", "tokens_per_s", "prefill_tokens", "reused_tokens", "model", "device")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate one reply to a prompt or a conversation, streamed to stdout",
        description="Plan the prompt like the chat does (template, context window, rolling trim), generate "
        "one reply and stream it to stdout as it is produced. Same seed and settings give the same text "
        "on the local backend.",
    )
    parser.add_argument("--preset", help="model preset (default: the default preset)")
    parser.add_argument("--mode", choices=MODES, default="instruct", help="default: instruct")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", metavar="TEXT", help="the user's message")
    source.add_argument(
        "--conversation",
        metavar="FILE",
        help='conversation JSONL (one {"role", "content"} per line; - = stdin); the reply continues it',
    )
    parser.add_argument("--max-new-tokens", type=int, metavar="N", help="default: the preset's")
    parser.add_argument("--seed", type=int, metavar="N", help="sampling seed (default: random)")
    parser.add_argument(
        "--temperature",
        type=float,
        metavar="T",
        help="default: the preset's; 0 = greedy (as in the OpenAI API)",
    )
    parser.add_argument(
        "--greedy", action="store_true", help="always take the most likely token (no sampling, no seed)"
    )
    parser.add_argument("--top-p", type=float, metavar="P", help="default: the preset's")
    add_remote_flags(parser)
    parser.add_argument(
        "--server",
        metavar="URL",
        help="a `stablelm-tui serve`: --base-url with the model named after the preset and --mode",
    )
    add_local_flags(parser)
    parser.add_argument(
        "--adapter", metavar="DIR", help="local: a LoRA adapter from `train` on top (default: the preset's)"
    )
    parser.add_argument(
        "--stats", action="store_true", help="print one JSON line of figures on stderr at the end"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import threading

    from tui.chat.requests import build_request
    from tui.chat.settings import ChatSettings
    from tui.context import plan_context
    from tui.context.jsonl import read_conversation_file
    from tui.engine.events import Finished, TextChunk
    from tui.engine.factory import EngineChoice, open_host
    from tui.limits import reserve_for
    from tui.presets import load_settings
    from tui.sanitize import neutralize
    from tui.templates import load_template
    from tui.tokenizers import tokenizer_for_preset

    preset = load_settings().preset(args.preset)
    # The flags are the chat's settings under other names: the same request builder takes both.
    settings = ChatSettings(
        # --greedy is temperature 0, the OpenAI convention every backend follows.
        temperature=0.0 if args.greedy else args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
    )
    tokenizer = tokenizer_for_preset(preset)
    template = load_template(preset.mode(args.mode).template)
    messages = read_conversation_file(args.conversation) if args.conversation is not None else []
    plan = plan_context(
        messages,
        tokenizer=tokenizer,
        template=template,
        window=preset.context_window,
        reserve=reserve_for(preset, args.mode, args.max_new_tokens, preset.context_window, minimum=1),
        draft=args.prompt or "",
    )
    plan.require_ok()
    request = build_request(preset, args.mode, settings, plan, tokenizer)
    host = open_host(preset, EngineChoice.from_args(args), modes=(args.mode,), tokenizer=tokenizer)
    backend = host.backend(args.mode)
    # Model text may carry escape sequences: make them visible on a terminal, keep them exact in a pipe.
    show = neutralize if sys.stdout.isatty() else (lambda text: text)
    finished: Finished | None = None
    for event in backend.stream(request, threading.Event()):
        if isinstance(event, TextChunk):
            sys.stdout.write(show(event.text))
            sys.stdout.flush()
        elif isinstance(event, Finished):
            finished = event
    if sys.stdout.isatty():
        sys.stdout.write("\n")
        sys.stdout.flush()
    assert finished is not None
    if finished.stats.prompt_as_text:
        print(
            "stablelm-tui: note: the server rejected token ids and tokenized the prompt text itself, "
            "so its token counts may differ from ours",
            file=sys.stderr,
        )
    if args.stats:
        stats = finished.stats.as_dict()
        print(json.dumps({k: stats[k] for k in STATS_KEYS}, ensure_ascii=False), file=sys.stderr)
    if finished.reason == "error":
        print(f"stablelm-tui: error: {finished.error}", file=sys.stderr)
        return 1
    return 0
