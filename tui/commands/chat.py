"""`stablelm-tui chat` (the default command): open the TUI."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "chat",
        help="open the chat TUI (the default command)",
        description="Open the chat TUI on a preset's base and instruct models.",
    )
    parser.add_argument("--preset", help="model preset (see `stablelm-tui presets`)")
    parser.add_argument(
        "--mode", choices=("base", "instruct"), default="instruct", help="model to start with"
    )
    parser.add_argument("--backend", choices=("local", "openai"), help="in-process model or a remote server")
    parser.add_argument("--base-url", help="OpenAI-compatible server URL for --backend openai")
    parser.add_argument(
        "--server",
        metavar="URL",
        help="a `stablelm-tui serve` (--backend openai; its base and instruct models follow the toggle)",
    )
    parser.add_argument("--device", default="auto", help="local: auto, cpu, cuda, cuda:1... (default auto)")
    parser.add_argument("--seed", type=int, metavar="N", help="sampling seed (default: random)")
    parser.add_argument(
        "--resume",
        nargs="?",
        type=int,
        const=-1,
        metavar="ID",
        help="reopen the last saved conversation, or the one with this id (see `stablelm-tui sessions list`)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tui.errors import UserError
    from tui.presets import load_settings

    preset = load_settings().preset(args.preset)
    try:
        from tui.app import run_app
    except ImportError:
        raise UserError(
            f"the chat TUI is not built yet; preset '{preset.name}' is valid. "
            "Try `stablelm-tui presets` or `stablelm-tui demo-model` meanwhile."
        ) from None
    from tui.engine.errors import EngineError

    try:
        return int(run_app(args, preset) or 0)
    except EngineError as exc:
        # Faults found before the screen opens (a device that is not there, say) are the user's to fix.
        raise UserError(str(exc)) from None
