"""`stablelm-tui chat` (the default command): open the TUI."""

from __future__ import annotations

import argparse

from tui.choices import MODES, RESIDENCIES
from tui.commands.backend_flags import add_local_flags


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "chat",
        help="open the chat TUI (the default command)",
        description="Open the chat TUI on a preset's base and instruct models.",
    )
    parser.add_argument("--preset", help="model preset (see `stablelm-tui presets`)")
    parser.add_argument("--mode", choices=MODES, default="instruct", help="model to start with")
    parser.add_argument("--backend", choices=("local", "openai"), help="in-process model or a remote server")
    parser.add_argument("--base-url", help="OpenAI-compatible server URL for --backend openai")
    parser.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="the environment variable holding the server's API key (over the preset's remote_api_key_env)",
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        help="a `stablelm-tui serve` (--backend openai; its base and instruct models follow the toggle)",
    )
    add_local_flags(parser)
    parser.add_argument(
        "--residency",
        choices=RESIDENCIES,
        help="local: where the idle model waits: both on the GPU, swap to host memory, single (not loaded), "
        "auto (default: the preset's)",
    )
    parser.add_argument(
        "--adapter",
        action="append",
        metavar="[MODE=]DIR",
        help="local: a LoRA adapter from `train` on top of the --mode model (DIR), or of one model "
        "(base=DIR, instruct=DIR; repeat for both); ctrl+l turns it off and on (default: the preset's)",
    )
    parser.add_argument("--seed", type=int, metavar="N", help="sampling seed (default: random)")
    parser.add_argument(
        "--resume",
        nargs="?",
        type=int,
        const=-1,
        metavar="ID",
        help="reopen the last saved conversation, or the one with this id (see `stablelm-tui sessions list`)",
    )
    parser.add_argument(
        "--continue",
        dest="continue_last",
        action="store_true",
        help="reopen the newest saved conversation unless another app has it open, else start a new one "
        "(what each `stablelm-tui web` tab runs)",
    )
    parser.add_argument(
        "--idle-minutes",
        type=_positive_minutes,
        metavar="N",
        help="save and quit after N minutes without a key (a reply being written counts as activity)",
    )
    parser.set_defaults(func=run)


def _positive_minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of minutes, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 minutes, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    from tui.app import run_app
    from tui.errors import UserError

    if args.continue_last and args.resume is not None:
        raise UserError("--continue and --resume both choose the conversation: give one of them")
    from tui.presets import load_settings

    preset = load_settings().preset(args.preset)
    return int(run_app(args, preset) or 0)
