"""`stablelm-tui presets`: list the model presets and where the user's config file is."""

from __future__ import annotations

import argparse
import json

from tui.choices import MODES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "presets",
        help="list the model presets",
        description="List the built-in and user-defined model presets (the default is marked with *).",
    )
    parser.add_argument("--path", action="store_true", help="print the path of the user config file")
    parser.add_argument("--json", action="store_true", help="print the presets as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from tui.paths import config_file
    from tui.presets import load_settings

    if args.path:
        print(config_file())
        return 0
    settings = load_settings()
    if args.json:
        print(
            json.dumps(
                {name: asdict(p) for name, p in settings.presets.items()}, ensure_ascii=False, indent=2
            )
        )
        return 0
    for name, preset in sorted(settings.presets.items()):
        mark = "*" if name == settings.default_preset else " "
        print(f"{mark} {name:<14} {preset.description}")
        for mode in MODES:
            spec = preset.mode(mode)
            print(f"    {mode:<9} {spec.model}  template={spec.template}")
    return 0
