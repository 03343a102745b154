"""`cloudrun up | proxy | down | status`: argparse and the commands that need no module of their own.

Every command takes `--dry-run`, which swaps the runner for one that prints the exact gcloud commands. The runner,
the clock, the prompt and the HTTP client live in a Context that `main` accepts, so the tests drive the real code
paths against the fake gcloud.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from vmctl.cli import common_flags, run_parsed

from runctl import commands
from runctl.context import Context
from runctl.errors import RunError
from runctl.names import DEFAULT_REGION, DEFAULT_SERVICE, L4_REGIONS, check_region, check_service
from runctl.runner import DryRunRunner, SubprocessRunner
from runctl.status import cmd_status, inventory
from runctl.up import cmd_up

__all__ = ["Context", "build_parser", "main"]
DEFAULT_PRESET = "ja-alpha"


def cmd_proxy(args: argparse.Namespace, ctx: Context) -> int:
    check_region(args.region)
    check_service(args.service)
    project = ctx.project(args.project)
    if not 1 <= args.port <= 65535:
        raise RunError(f"--port {args.port} is not a TCP port")
    ctx.say(
        f"http://localhost:{args.port} reaches {args.service} as you (your gcloud login); Ctrl-C ends it."
    )
    ctx.say(
        f"The app asks for its token: gcloud secrets versions access latest --secret={args.service}-web-token"
    )
    ctx.say(
        "The first request starts an instance: the GPU attaches in seconds, the model takes longer to load."
    )
    return ctx.runner.interactive(commands.proxy(project, args.region, args.service, args.port))


def _held(bucket: str) -> str:
    return "the saved conversations and settings" if bucket.endswith("-state") else "the weights"


def cmd_down(args: argparse.Namespace, ctx: Context) -> int:
    project = ctx.project(args.project)
    inv = inventory(ctx, project)
    if ctx.runner.dry_run:
        ctx.say(
            "a real run deletes what the listings above find: every labelled service, bucket, repository and "
            "secret, and the service account, each with `delete ... --quiet` after one question"
        )
        return 0
    if inv.empty:
        ctx.say("nothing with the stablelm-tui label in this project: nothing to delete")
        return 0
    plan: list[tuple[str, list[str]]] = []
    plan += [
        (f"service {s.name} ({s.region})", commands.service_delete(project, s.region, s.name))
        for s in inv.services
    ]
    plan += [(f"secret {s}", commands.secret_delete(project, s)) for s in inv.secrets]
    plan += [
        (f"bucket gs://{b} and {_held(b)} in it", commands.bucket_delete(project, b)) for b in inv.buckets
    ]
    plan += [
        (f"repository {r} ({loc}) and its images", commands.repo_delete(project, loc, r))
        for loc, r in inv.repositories
    ]
    if inv.service_account:
        plan.append(
            (f"service account {inv.service_account}", commands.sa_delete(project, inv.service_account))
        )
    if not (args.yes or ctx.runner.dry_run):
        listing = "".join(f"\n  - {what}" for what, _ in plan)
        if not ctx.ask(f"Delete these?{listing}\n[y/N] "):
            ctx.say("nothing deleted")
            return 0
    for what, argv in plan:
        ctx.run_or_fail(argv, f"deleting {what}")
        if not ctx.runner.dry_run:
            ctx.say(f"deleted {what}")
    return 0


def _up_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    up = sub.add_parser(
        "up", parents=[common], help="build, upload the weights once, deploy (private, scaled to zero)"
    )
    up.add_argument(
        "--preset", default=DEFAULT_PRESET, help=f"the preset the app serves (default {DEFAULT_PRESET})"
    )
    up.add_argument("--cpu", type=int, default=8, help="CPUs per instance, 4 to 8 (default 8)")
    up.add_argument("--memory", default="32Gi", help="memory per instance, 16Gi to 32Gi (default 32Gi)")
    up.add_argument(
        "--timeout",
        type=int,
        default=3600,
        help="request timeout in seconds: a tab's longest connection (max 3600)",
    )
    up.add_argument(
        "--idle-minutes", type=int, default=15, help="an idle tab ends its app after this long (default 15)"
    )
    up.add_argument(
        "--min-instances",
        type=int,
        default=0,
        help="instances kept warm (default 0: scale to zero); above 0 needs --yes-keep-warm too",
    )
    up.add_argument(
        "--yes-keep-warm",
        action="store_true",
        help="confirm --min-instances above 0 (it bills around the clock)",
    )
    up.add_argument(
        "--hf-token-secret",
        help="Secret Manager secret with a Hugging Face token, for gated models (read by name)",
    )
    up.add_argument("--allow-unauthenticated", action="store_true", help=argparse.SUPPRESS)
    up.set_defaults(func=cmd_up)


def build_parser() -> argparse.ArgumentParser:
    common = common_flags()
    located = argparse.ArgumentParser(add_help=False)
    located.add_argument(
        "--region", default=DEFAULT_REGION, help=f"one of {', '.join(L4_REGIONS)} (default {DEFAULT_REGION})"
    )
    located.add_argument(
        "--service", default=DEFAULT_SERVICE, help=f"service name (default {DEFAULT_SERVICE})"
    )
    parser = argparse.ArgumentParser(
        prog="cloudrun",
        description="stablelm-tui in a browser on Cloud Run with one NVIDIA L4, scaled to zero. See docs/cloudrun.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _up_parser(sub, argparse.ArgumentParser(add_help=False, parents=[common, located]))
    proxy = sub.add_parser(
        "proxy", parents=[common, located], help="open the service on localhost as yourself"
    )
    proxy.add_argument("--port", type=int, default=8080, help="local port (default 8080)")
    proxy.set_defaults(func=cmd_proxy)
    down = sub.add_parser("down", parents=[common], help="delete everything `up` created, in every region")
    down.add_argument("--yes", action="store_true", help="do not ask")
    down.set_defaults(func=cmd_down)
    status = sub.add_parser(
        "status", parents=[common], help="instances now, this month's cost, and what bills while idle"
    )
    status.set_defaults(func=cmd_status)
    return parser


def main(argv: Sequence[str] | None = None, ctx: Context | None = None) -> int:
    args = build_parser().parse_args(argv)
    if ctx is None:
        ctx = Context(runner=DryRunRunner() if args.dry_run else SubprocessRunner())
    return run_parsed(args, ctx)
