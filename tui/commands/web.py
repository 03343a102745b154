"""`stablelm-tui web`: the chat app in a browser, one app per tab, one model server for all of them."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "web",
        help="serve the chat app in a browser (textual-serve), behind a token",
        description="Serve the chat app to a browser: each tab runs its own app (`chat --continue`), all of them "
        "clients of one model server, started here (`serve --engine local`) unless --server or the preset names "
        "one. Nothing is served without the token printed at start (or read from --token-env). "
        "See docs/web.md.",
    )
    parser.add_argument("--preset", help="model preset (default: the default preset)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; reach it through `ssh -L`)",
    )
    parser.add_argument("--port", type=int, default=8080, help="default 8080")
    parser.add_argument(
        "--token-env",
        metavar="NAME",
        help="take the access token from this environment variable instead of a random one",
    )
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers use, when a proxy changes it (default: taken from each request)",
    )
    parser.add_argument(
        "--idle-minutes",
        type=float,
        default=30.0,
        metavar="N",
        help="a tab's app saves and ends after N minutes without a key (default 30; 0: never)",
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        help="use this running `stablelm-tui serve` instead of starting one",
    )
    parser.add_argument("--device", default="auto", help="the model server started here: auto, cpu, cuda...")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tui.errors import UserError
    from tui.presets import MODES, load_settings
    from tui.web.auth import new_token, token_from_env
    from tui.web.run import WebPlan, serve

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, got {args.port}")
    if args.idle_minutes < 0:
        raise UserError(f"--idle-minutes must be 0 (never) or more, got {args.idle_minutes:g}")
    if args.public_url and not args.public_url.startswith(("http://", "https://")):
        raise UserError(f"--public-url must start with http:// or https://, got {args.public_url}")
    token = token_from_env(args.token_env) if args.token_env else new_token()
    preset = load_settings().preset(args.preset)
    remote = () if args.server else tuple(dict.fromkeys(u for m in MODES if (u := preset.remote_for(m)[0])))
    plan = WebPlan(
        preset=args.preset,
        host=args.host,
        port=args.port,
        token=token,
        token_env=args.token_env,
        public_url=args.public_url,
        idle_minutes=args.idle_minutes,
        server=args.server.rstrip("/") if args.server else None,
        remote_urls=remote,
        device=args.device,
    )
    return serve(plan)
