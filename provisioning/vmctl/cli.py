"""`vm up | start | ssh | down | status`: argparse and the control flow around the gcloud commands.

Every command takes `--dry-run`, which swaps the runner for one that prints the exact gcloud commands. The runner,
the clock, the confirmation prompt and the local git lookup live in a Context that `main` accepts, so the tests
drive the real code paths without a cloud account.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from vmctl import gcloud
from vmctl.context import Context, GcloudContext
from vmctl.errors import VmError
from vmctl.instances import Instance, parse_one
from vmctl.limit import start_with_limit
from vmctl.profiles import PROFILES
from vmctl.runner import DryRunRunner, SubprocessRunner
from vmctl.status import cmd_status, explain_setup, setup_state
from vmctl.up import clone_url, cmd_up

__all__ = ["Context", "build_parser", "clone_url", "main"]
DEFAULT_PRESET = "ja-alpha"


def _target(
    args: argparse.Namespace, ctx: Context, *, describe: bool = False
) -> tuple[str, str, Instance | None]:
    """(name, zone, instance) to act on: the one labelled VM that matches --name, or the flags when both --name and
    --zone are given (then the instance is read only if `describe`)."""
    if args.name:
        gcloud.check_name(args.name)
    if args.name and args.zone:
        if not describe or ctx.runner.dry_run:
            return args.name, args.zone, None
        out = ctx.run_or_fail(
            gcloud.describe_command(args.name, args.zone, args.project), f"reading {args.name}"
        )
        return args.name, args.zone, parse_one(out.stdout)
    found = [i for i in ctx.our_instances(args.project) if not args.name or i.name == args.name]
    if ctx.runner.dry_run and not found:
        ctx.say("NAME and ZONE below come from the list above")
        return args.name or "NAME", "ZONE", None
    if not found:
        raise VmError(f"no VM {'named ' + args.name + ' ' if args.name else ''}with our label: nothing to do")
    if len(found) > 1:
        names = ", ".join(f"{i.name} ({i.zone})" for i in found)
        raise VmError(f"several VMs match ({names}): pass --name")
    return found[0].name, found[0].zone, found[0]


def cmd_start(args: argparse.Namespace, ctx: Context) -> int:
    name, zone, inst = _target(args, ctx, describe=True)
    start_with_limit(ctx, name, zone, inst, args.max_run_duration, args.on_preempt.upper(), args.project)
    if not ctx.runner.dry_run:
        hard = gcloud.format_duration(gcloud.parse_duration(args.max_run_duration))
        ctx.say(f"{name} is running in {zone} with a hard limit of {hard} ({args.on_preempt} at the end).")
        ctx.say("  the setup runs again at boot; open the TUI with: provisioning/vm ssh")
    return 0


def cmd_ssh(args: argparse.Namespace, ctx: Context) -> int:
    name, zone, inst = _target(args, ctx)
    if inst is not None and inst.status != "RUNNING":
        raise VmError(
            f"{name} is {inst.status}: `provisioning/vm start --name {name}` starts it with its hard limit "
            "(the setup runs again), or `vm down` and `vm up`"
        )
    if inst is not None and not inst.has_hard_limit:
        ctx.warn(f"{name} is running WITHOUT a hard limit: `provisioning/vm start --name {name}` sets one")
    if not ctx.runner.dry_run:
        state = setup_state(ctx, name, zone, args.project)
        if state is not None and state.state == "failed":
            for line in explain_setup(name, state):
                print(line, file=ctx.err)
    remote = None if args.shell else gcloud.SESSION_COMMAND
    return ctx.runner.interactive(gcloud.ssh_command(name, zone, args.project, remote=remote))


def cmd_down(args: argparse.Namespace, ctx: Context) -> int:
    if args.all:
        targets = [(i.name, i.zone) for i in ctx.our_instances(args.project)]
        if not targets:
            ctx.say("no VM with our label: nothing to delete")
            return 0
    else:
        targets = [_target(args, ctx)[:2]]
    for name, zone in targets:
        if not (args.yes or ctx.runner.dry_run) and not ctx.ask(
            f"Delete VM {name} in {zone} and its boot disk (the downloaded models go with it)? [y/N] "
        ):
            ctx.say(f"kept {name}")
            continue
        ctx.run_or_fail(gcloud.delete_command(name, zone, args.project), f"deleting {name}")
        if not ctx.runner.dry_run:
            ctx.say(f"deleted {name} ({zone}) and its disks")
    return 0


def _limit_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-run-duration",
        default="8h",
        help="hard limit Google enforces from each start, e.g. 8h, 90m (default 8h)",
    )
    p.add_argument(
        "--on-preempt",
        choices=("delete", "stop"),
        default="delete",
        help="what Google does on preemption and at the hard limit (default delete)",
    )


def _up_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    up = sub.add_parser(
        "up", parents=[common], help="create a spot GPU VM that sets itself up (or start it again)"
    )
    up.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="t4",
        help="; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()),
    )
    up.add_argument("--name", help="VM name (default: stablelm-tui-PROFILE)")
    up.add_argument("--zones", help="comma-separated zones to try in order (default: discovered)")
    up.add_argument(
        "--regions", help="comma-separated regions to search, best first (default: the profile's)"
    )
    up.add_argument("--disk-gb", type=int, help="boot disk size in GB (default 100)")
    _limit_flags(up)
    up.add_argument(
        "--idle-minutes", type=int, default=30, help="idle period before the watchdog acts (default 30)"
    )
    up.add_argument(
        "--idle-action",
        choices=("delete", "stop"),
        default="delete",
        help="what the watchdog does when idle (default delete; stop keeps the disk, which bills)",
    )
    up.add_argument(
        "--gpu-busy-percent",
        type=int,
        default=10,
        help="GPU utilisation above this counts as activity (default 10)",
    )
    up.add_argument("--preset", default=DEFAULT_PRESET, help="preset whose models are pre-downloaded")
    up.add_argument("--repo", help="git URL the VM clones (default: this checkout's origin, as https)")
    up.add_argument("--ref", default="main", help="branch, tag or commit to check out (default main)")
    up.add_argument(
        "--hf-token-secret", help="Secret Manager secret holding a Hugging Face token (gated models)"
    )
    up.add_argument(
        "--image-family",
        default=gcloud.IMAGE_FAMILY,
        help=f"boot image family (default {gcloud.IMAGE_FAMILY}: the NVIDIA driver comes preinstalled)",
    )
    up.add_argument("--image-project", default=gcloud.IMAGE_PROJECT, help="project of the image family")
    up.set_defaults(func=cmd_up)


def common_flags() -> argparse.ArgumentParser:
    """The flags every command of `vm` and `cloudrun` takes, as a parent parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dry-run", action="store_true", help="print the exact gcloud commands, run nothing")
    common.add_argument("--project", help="GCP project (default: gcloud's configured project)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_flags()
    parser = argparse.ArgumentParser(
        prog="vm",
        description="Spot GPU VMs on Google Compute Engine for stablelm-tui. See docs/provisioning.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _up_parser(sub, common)
    for cmd, text in (
        ("start", "start a stopped VM again, with its hard limit re-applied"),
        ("ssh", "open the TUI in a persistent tmux session on the VM"),
        ("down", "delete the VM and its boot disk"),
    ):
        p = sub.add_parser(cmd, parents=[common], help=text)
        p.add_argument("--name", help="VM name (default: the only VM with our label)")
        p.add_argument("--zone", help="its zone (default: looked up)")
        if cmd == "start":
            _limit_flags(p)
            p.set_defaults(func=cmd_start)
        elif cmd == "ssh":
            p.add_argument("--shell", action="store_true", help="a plain shell instead of the TUI")
            p.set_defaults(func=cmd_ssh)
        else:
            p.add_argument("--yes", action="store_true", help="do not ask")
            p.add_argument("--all", action="store_true", help="every VM with our label")
            p.set_defaults(func=cmd_down)
    status = sub.add_parser(
        "status", parents=[common], help="our VMs in every zone: state, cost, hard limit, setup state"
    )
    status.set_defaults(func=cmd_status)
    return parser


def run_parsed(args: argparse.Namespace, ctx: GcloudContext) -> int:
    """Run the parsed command: --dry-run swaps in the printer, and the CLI's own error ends it in one line, exit 2."""
    if args.dry_run and not ctx.runner.dry_run:
        ctx.runner = DryRunRunner(out=ctx.out)
    try:
        return int(args.func(args, ctx))
    except ctx.error as exc:
        print(f"{ctx.prog}: error: {exc}", file=ctx.err)
        return 2
    except KeyboardInterrupt:
        return 130


def main(argv: Sequence[str] | None = None, ctx: Context | None = None) -> int:
    args = build_parser().parse_args(argv)
    if ctx is None:
        ctx = Context(runner=DryRunRunner() if args.dry_run else SubprocessRunner())
    return run_parsed(args, ctx)
