"""`vm up | ssh | down | status`: argparse and the small amount of control flow around the gcloud commands.

Every command takes `--dry-run`, which swaps the runner for one that prints the exact gcloud commands. The
runner, the clock, the confirmation prompt and the local git lookup are parameters of `main`, so the tests
drive the real code paths without a cloud account.
"""

from __future__ import annotations

import argparse
import getpass
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from vmctl import gcloud
from vmctl.errors import VmError
from vmctl.instances import Instance, Row, parse_list, row
from vmctl.prices import PriceTable, load_table
from vmctl.profiles import PROFILES, order_zones
from vmctl.runner import DryRunRunner, Runner, SubprocessRunner

HERE = Path(__file__).resolve().parent.parent  # provisioning/
STARTUP_SCRIPT = HERE / "startup.sh"
WATCHDOG_SCRIPT = HERE / "watchdog.sh"
DEFAULT_PRESET = "ja-alpha"


@dataclass
class Context:
    """What the commands need from the outside world; tests replace any of it."""

    runner: Runner
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    now: Callable[[], datetime] = field(default_factory=lambda: lambda: datetime.now(timezone.utc))
    confirm: Callable[[str], bool] | None = None
    git_origin: Callable[[], str | None] | None = None
    prices: PriceTable | None = None

    def price_table(self) -> PriceTable:
        if self.prices is None:
            self.prices = load_table()
        return self.prices

    def say(self, text: str) -> None:
        # In a dry run stdout is the command script, so narration goes out as shell comments.
        if isinstance(self.runner, DryRunRunner):
            self.runner.comment(text)
        else:
            print(text, file=self.out)


def _local_git_origin() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(HERE), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def clone_url(url: str) -> str:
    """An https URL the VM can clone without keys: `git@github.com:u/r.git` -> `https://github.com/u/r.git`."""
    if url.startswith("git@") and ":" in url:
        host, path = url[len("git@") :].split(":", 1)
        return f"https://{host}/{path}"
    if url.startswith("ssh://git@"):
        return "https://" + url[len("ssh://git@") :]
    return url


def _ask(prompt: str) -> bool:
    if not sys.stdin.isatty():
        raise VmError("not asking on a non-interactive input: pass --yes to delete")
    return input(prompt).strip().lower() in ("y", "yes")


# --- up -------------------------------------------------------------------------------------------------


def _zones_for(args: argparse.Namespace, ctx: Context) -> list[str]:
    profile = PROFILES[args.profile]
    if args.zones:
        return [z.strip() for z in args.zones.split(",") if z.strip()]
    regions = (
        tuple(r.strip() for r in args.regions.split(",") if r.strip()) if args.regions else profile.regions
    )
    result = ctx.runner.run(gcloud.discover_zones_command(profile.gpu, args.project))
    found = order_zones(result.stdout.split(), regions) if result.returncode == 0 else []
    if found:
        return found
    fallback = [z for z in profile.zones if z.rsplit("-", 1)[0] in regions] or list(profile.zones)
    if not ctx.runner.dry_run:
        ctx.say(f"could not list the zones offering {profile.gpu}; trying the built-in list")
    return fallback


def _metadata(args: argparse.Namespace, ctx: Context, hourly_usd: float, repo: str) -> dict[str, str]:
    profile = PROFILES[args.profile]
    table = ctx.price_table()
    pairs = {
        "profile": profile.name,
        "machine-type": profile.machine_type,
        "gpu": profile.gpu,
        "hourly-usd": f"{hourly_usd:.4f}",
        "price-date": table.date,
        "jpy-per-usd": f"{table.jpy_per_usd:g}",
        "max-run-seconds": str(gcloud.parse_duration(args.max_run_duration)),
        "termination-action": args.on_preempt.upper(),
        "idle-minutes": str(args.idle_minutes),
        "idle-action": args.idle_action,
        "gpu-busy-percent": str(args.gpu_busy_percent),
        "preset": args.preset,
        "repo": repo,
        "ref": args.ref,
    }
    if args.hf_token_secret:
        pairs["hf-token-secret"] = args.hf_token_secret
    return {gcloud.METADATA_PREFIX + key: value for key, value in pairs.items()}


def cmd_up(args: argparse.Namespace, ctx: Context) -> int:
    profile = PROFILES[args.profile]
    name = gcloud.check_name(args.name or f"stablelm-tui-{profile.name}")
    gcloud.parse_duration(args.max_run_duration)
    if not 5 <= args.idle_minutes <= 24 * 60:
        raise VmError("--idle-minutes must be between 5 and 1440")
    if args.disk_gb is not None and not 50 <= args.disk_gb <= 65536:
        raise VmError("--disk-gb must be at least 50 (two 7B models, the venv and the OS need about 45 GB)")
    if not 0 <= args.gpu_busy_percent <= 100:
        raise VmError("--gpu-busy-percent must be between 0 and 100")
    repo = args.repo or (ctx.git_origin or _local_git_origin)()
    if not repo:
        raise VmError("this checkout has no git remote 'origin': pass --repo with a URL the VM can clone")
    repo = clone_url(repo)
    scopes = list(gcloud.DEFAULT_SCOPES)
    if args.idle_action == "delete":
        scopes.append(gcloud.DELETE_SCOPE)
    if args.hf_token_secret:
        scopes.append(gcloud.SECRET_SCOPE)

    zones = _zones_for(args, ctx)
    if not zones:
        raise VmError("no zone to try: check --zones / --regions")
    table = ctx.price_table()
    last_error = ""
    for index, zone in enumerate(zones):
        region = zone.rsplit("-", 1)[0]
        disk_gb = args.disk_gb or profile.boot_disk_gb
        gpu = profile.gpu if profile.attach_gpu else None
        # What the running VM costs per hour, disk included: the figure the TUI multiplies by its uptime.
        hourly = table.hourly(region, profile.machine_type, gpu, profile.gpu_count).usd + table.disk_hourly(
            region, gcloud.BOOT_DISK_TYPE, disk_gb
        )
        spec = gcloud.CreateSpec(
            name=name,
            profile=profile,
            startup_script=STARTUP_SCRIPT,
            watchdog_script=WATCHDOG_SCRIPT,
            max_run_duration=args.max_run_duration,
            termination_action=args.on_preempt.upper(),
            boot_disk_gb=disk_gb,
            labels={"stablelm-tui-owner": gcloud.label_value(getpass.getuser())},
            metadata=_metadata(args, ctx, hourly, repo),
            scopes=scopes,
            project=args.project,
        )
        result = ctx.runner.run(gcloud.create_command(spec, zone))
        if result.returncode == 0:
            if ctx.runner.dry_run and index + 1 < len(zones):
                ctx.say(
                    f"if {zone} has no capacity (ZONE_RESOURCE_POOL_EXHAUSTED), the same command is retried "
                    f"with --zone= each of: {' '.join(zones[index + 1 :])}"
                )
            _report_up(ctx, name, zone, args, hourly, table)
            return 0
        last_error = result.stderr.strip()
        if "already exists" in result.stderr:
            raise VmError(
                f"{name} already exists ({zone}): `vm ssh` to use it, `vm down` to delete it, or pick another --name"
            )
        if not gcloud.is_stockout(result.stderr):
            raise VmError(
                f"creating {name} in {zone} failed: {last_error.splitlines()[-1] if last_error else '?'}"
            )
        ctx.say(f"{zone}: no {profile.gpu} capacity right now, trying the next zone")
    raise VmError(
        f"no capacity for {profile.gpu} spot VMs in any of {len(zones)} zones; try later or --regions"
    )


def _report_up(
    ctx: Context, name: str, zone: str, args: argparse.Namespace, hourly: float, t: PriceTable
) -> None:
    hard = gcloud.format_duration(gcloud.parse_duration(args.max_run_duration))
    ctx.say(f"{name} is starting in {zone}. Setup (driver, venv, models) takes 10-20 minutes.")
    ctx.say("  open the TUI:  provisioning/vm ssh   (shows the setup log until it is ready)")
    ctx.say(
        f"  cost:          about ${hourly:.2f}/h (≈¥{hourly * t.jpy_per_usd:.0f}/h), spot list price of {t.date}"
    )
    ctx.say(
        f"  hard limit:    {hard} ({args.on_preempt} at the end); idle {args.idle_action} after "
        f"{args.idle_minutes} min with no SSH, no app activity and an idle GPU"
    )
    ctx.say("  delete it:     provisioning/vm down")


# --- finding our VM ---------------------------------------------------------------------------------------


def _our_instances(args: argparse.Namespace, ctx: Context) -> list[Instance]:
    result = ctx.runner.run(gcloud.list_command(args.project))
    if result.returncode != 0:
        raise VmError(
            f"listing VMs failed: {result.stderr.strip() or 'gcloud exited ' + str(result.returncode)}"
        )
    return parse_list(result.stdout)


def _target(args: argparse.Namespace, ctx: Context) -> tuple[str, str, str | None]:
    """(name, zone, state) to act on: the flags when both are given (state unknown), else the one labelled VM
    that matches."""
    if args.name:
        gcloud.check_name(args.name)
    if args.name and args.zone:
        return args.name, args.zone, None
    found = [i for i in _our_instances(args, ctx) if not args.name or i.name == args.name]
    if ctx.runner.dry_run and not found:
        ctx.say("NAME and ZONE below come from the list above")
        return args.name or "NAME", "ZONE", None
    if not found:
        raise VmError(f"no VM {'named ' + args.name + ' ' if args.name else ''}with our label: nothing to do")
    if len(found) > 1:
        names = ", ".join(f"{i.name} ({i.zone})" for i in found)
        raise VmError(f"several VMs match ({names}): pass --name")
    return found[0].name, found[0].zone, found[0].status


# --- ssh / down / status ------------------------------------------------------------------------------


def cmd_ssh(args: argparse.Namespace, ctx: Context) -> int:
    name, zone, state = _target(args, ctx)
    if state is not None and state != "RUNNING":
        project = f" --project={args.project}" if args.project else ""
        raise VmError(
            f"{name} is {state}: start it with `gcloud compute instances start {name} --zone={zone}{project}` "
            "(the startup script runs again), or `vm down` and `vm up`"
        )
    remote = None if args.shell else gcloud.SESSION_COMMAND
    return ctx.runner.interactive(gcloud.ssh_command(name, zone, args.project, remote=remote))


def cmd_down(args: argparse.Namespace, ctx: Context) -> int:
    if args.all:
        targets = [(i.name, i.zone) for i in _our_instances(args, ctx)]
        if not targets:
            ctx.say("no VM with our label: nothing to delete")
            return 0
    else:
        targets = [_target(args, ctx)[:2]]
    for name, zone in targets:
        if not (args.yes or ctx.runner.dry_run):
            ask = ctx.confirm or _ask
            if not ask(
                f"Delete VM {name} in {zone} and its boot disk (the downloaded models go with it)? [y/N] "
            ):
                ctx.say(f"kept {name}")
                continue
        result = ctx.runner.run(gcloud.delete_command(name, zone, args.project))
        if result.returncode != 0:
            raise VmError(
                f"deleting {name} failed: {result.stderr.strip() or 'gcloud exited ' + str(result.returncode)}"
            )
        if not ctx.runner.dry_run:
            ctx.say(f"deleted {name} ({zone}) and its disks")
    return 0


def _money(usd: float | None, table: PriceTable) -> str:
    if usd is None:
        return "?"
    return f"${usd:.2f} (≈¥{usd * table.jpy_per_usd:,.0f})"


def format_rows(rows: list[Row], table: PriceTable) -> list[str]:
    header = ("NAME", "ZONE", "PROFILE", "STATE", "UPTIME", "$/HOUR", "COST SO FAR", "HARD LIMIT IN")
    lines: list[tuple[str, ...]] = [header]
    notes: list[str] = []
    for r in rows:
        i = r.instance
        lines.append(
            (
                i.name,
                i.zone,
                i.profile or i.machine_type,
                i.status,
                gcloud.format_duration(r.uptime_s) if r.uptime_s is not None else "-",
                f"{r.hourly_usd:.3f}" if r.hourly_usd is not None else "?",
                _money(r.cost_usd, table) if r.uptime_s is not None else "-",
                gcloud.format_duration(r.limit_left_s) if r.limit_left_s is not None else "-",
            )
        )
        if i.status != "RUNNING":
            notes.append(
                f"{i.name} is {i.status}: its {i.boot_disk_gb} GB disk still costs about "
                f"{_money(r.disk_monthly_usd, table)} a month until `vm down`"
            )
        if r.price_note:
            notes.append(f"{i.name}: {r.price_note}")
    widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    return [
        *text,
        *notes,
        f"Costs are approximate spot list prices of {table.date} (provisioning/prices.json), compute + disk.",
    ]


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    instances = _our_instances(args, ctx)
    if ctx.runner.dry_run:
        return 0
    if not instances:
        ctx.say("no VM with the stablelm-tui label in any zone: nothing is billing")
        return 0
    table = ctx.price_table()
    now = ctx.now()
    for line in format_rows([row(i, table, now) for i in instances], table):
        ctx.say(line)
    return 0


# --- argparse -----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dry-run", action="store_true", help="print the exact gcloud commands, run nothing")
    common.add_argument("--project", help="GCP project (default: gcloud's configured project)")

    parser = argparse.ArgumentParser(
        prog="vm",
        description="Spot GPU VMs on Google Compute Engine for stablelm-tui. See docs/provisioning.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", parents=[common], help="create a spot GPU VM that sets itself up")
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
    up.add_argument(
        "--max-run-duration", default="8h", help="hard limit Google enforces, e.g. 8h, 90m (default 8h)"
    )
    up.add_argument(
        "--on-preempt",
        choices=("delete", "stop"),
        default="delete",
        help="what Google does on preemption and at the hard limit (default delete)",
    )
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
    up.set_defaults(func=cmd_up)

    for cmd, text in (
        ("ssh", "open the TUI in a persistent tmux session on the VM"),
        ("down", "delete the VM and its boot disk"),
    ):
        p = sub.add_parser(cmd, parents=[common], help=text)
        p.add_argument("--name", help="VM name (default: the only VM with our label)")
        p.add_argument("--zone", help="its zone (default: looked up)")
        if cmd == "ssh":
            p.add_argument("--shell", action="store_true", help="a plain shell instead of the TUI")
            p.set_defaults(func=cmd_ssh)
        else:
            p.add_argument("--yes", action="store_true", help="do not ask")
            p.add_argument("--all", action="store_true", help="every VM with our label")
            p.set_defaults(func=cmd_down)

    status = sub.add_parser(
        "status", parents=[common], help="our VMs in every zone: state, uptime, cost, limit"
    )
    status.set_defaults(func=cmd_status)
    return parser


def main(argv: Sequence[str] | None = None, ctx: Context | None = None) -> int:
    args = build_parser().parse_args(argv)
    if ctx is None:
        ctx = Context(runner=DryRunRunner() if args.dry_run else SubprocessRunner())
    elif args.dry_run and not ctx.runner.dry_run:
        ctx.runner = DryRunRunner(out=ctx.out)
    try:
        return int(args.func(args, ctx))
    except VmError as exc:
        print(f"vm: error: {exc}", file=ctx.err)
        return 2
    except KeyboardInterrupt:
        return 130
