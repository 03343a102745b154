"""The `stablelm-tui` command line.

Each subcommand lives in tui/commands/<name>.py with `register(subparsers)` and `run(args)`. Those modules import
only the standard library and tui.choices at module level, so `stablelm-tui --help` never pays for torch or textual.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tui import __version__
from tui.errors import StableLMTuiError

COMMAND_MODULES: tuple[str, ...] = (
    "chat",
    "demo_model",
    "presets",
    "sessions",
    "trust",
    "tokens",
    "context",
    "generate",
    "novel",
    "train",
    "compare",
    "serve",
    "web",
)

DEFAULT_COMMAND = "chat"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stablelm-tui",
        description="Terminal chat console for Japanese StableLM (base and instruct). "
        "With no command, opens the chat TUI.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"tui.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in ("-h", "--help", "--version")):
        args_list.insert(0, DEFAULT_COMMAND)
    args = parser.parse_args(args_list)
    try:
        return int(args.func(args) or 0)
    except StableLMTuiError as exc:
        print(f"stablelm-tui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `stablelm-tui tokens ... | head` closes our stdout early; that is not an error.
        sys.stderr.close()
        return 0
