"""The flags that choose and tune a backend, shared by `chat`, `generate` and `novel` so they read the same
everywhere (tui.engine.factory reads them)."""

from __future__ import annotations

import argparse

from tui.choices import QUANTIZATIONS


def add_remote_flags(parser: argparse.ArgumentParser) -> None:
    """Which backend, and how to reach a remote one."""
    parser.add_argument(
        "--backend", choices=("local", "openai"), help="default: openai if the preset names a server"
    )
    parser.add_argument(
        "--base-url", metavar="URL", help="OpenAI-compatible server (implies --backend openai)"
    )
    parser.add_argument(
        "--remote-model", metavar="NAME", help="served model name (default: the only one listed)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="remote: longest wait for the next chunk (120)",
    )


def add_local_flags(parser: argparse.ArgumentParser) -> None:
    """Where the in-process model runs, and at what precision."""
    parser.add_argument("--device", default="auto", help="local: auto, cpu, cuda, cuda:1... (default auto)")
    parser.add_argument(
        "--quantize",
        choices=(*QUANTIZATIONS, "none"),
        help="local: weight-only quantization on a GPU (default: the preset's; none: full precision)",
    )
