"""`vm up`: create the spot VM in the first zone with capacity, or start it again if it exists (with its limit)."""

from __future__ import annotations

import argparse
import getpass
import subprocess
from pathlib import Path

from vmctl import gcloud
from vmctl.context import Context
from vmctl.errors import VmError
from vmctl.limit import start_with_limit, verify_limit
from vmctl.prices import PriceTable
from vmctl.profiles import PROFILES, fallback_zones, order_zones, region_of

HERE = Path(__file__).resolve().parent.parent  # provisioning/
STARTUP_SCRIPT = HERE / "startup.sh"
WATCHDOG_SCRIPT = HERE / "watchdog.sh"
SESSION_SCRIPT = HERE / "session.sh"


def local_git_origin() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(HERE), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def clone_url(url: str) -> str:
    """An https URL the VM can clone without keys: `git@github.com:u/r.git` -> `https://github.com/u/r.git`."""
    if url.startswith("git@") and ":" in url:
        host, path = url[len("git@") :].split(":", 1)
        return f"https://{host}/{path}"
    if url.startswith("ssh://git@"):
        return "https://" + url[len("ssh://git@") :]
    return url


def _regions(args: argparse.Namespace) -> tuple[str, ...]:
    if args.regions:
        return tuple(r.strip() for r in args.regions.split(",") if r.strip())
    return PROFILES[args.profile].regions


def zones_for(args: argparse.Namespace, ctx: Context) -> list[str]:
    """The zones to try, best first, never outside the requested regions."""
    profile = PROFILES[args.profile]
    if args.zones:
        return [z.strip() for z in args.zones.split(",") if z.strip()]
    regions = _regions(args)
    result = ctx.runner.run(gcloud.discover_zones_command(profile.gpu, args.project))
    if ctx.runner.dry_run:
        fallback = fallback_zones(profile, regions)
        if not fallback:
            ctx.say(
                f"ZONE below: a zone in {', '.join(regions)} from the listing above (no built-in one there)"
            )
            return ["ZONE"]
        ctx.say(
            f"zones below are the built-in ones in {', '.join(regions)}; a real run uses the listing above"
        )
        return fallback
    if result.returncode == 0:
        found = order_zones(result.stdout.split(), regions)
        if not found:
            raise VmError(
                f"no zone in {', '.join(regions)} offers {profile.gpu}; pick other --regions or exact --zones"
            )
        return found
    lines = result.stderr.strip().splitlines()
    fallback = fallback_zones(profile, regions)
    if not fallback:
        raise VmError(
            f"could not list the zones offering {profile.gpu} ({lines[-1] if lines else 'gcloud failed'}) and "
            f"no built-in zone lies in {', '.join(regions)}: pass --zones"
        )
    ctx.say(
        f"could not list the zones offering {profile.gpu} ({lines[-1] if lines else 'gcloud failed'}); "
        f"trying the built-in zones in {', '.join(regions)}"
    )
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
        # What the watchdog enforces itself if Google's limit were ever missing from the instance.
        "max-run-seconds": str(gcloud.parse_duration(args.max_run_duration)),
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


def _check(args: argparse.Namespace) -> None:
    gcloud.check_name(args.name or f"stablelm-tui-{args.profile}")
    gcloud.parse_duration(args.max_run_duration)
    if not 5 <= args.idle_minutes <= 24 * 60:
        raise VmError("--idle-minutes must be between 5 and 1440")
    if args.disk_gb is not None and not 50 <= args.disk_gb <= 65536:
        raise VmError("--disk-gb must be at least 50 (two 7B models, the venv and the OS need about 45 GB)")
    if not 0 <= args.gpu_busy_percent <= 100:
        raise VmError("--gpu-busy-percent must be between 0 and 100")


def cmd_up(args: argparse.Namespace, ctx: Context) -> int:
    _check(args)
    profile = PROFILES[args.profile]
    name = args.name or f"stablelm-tui-{profile.name}"
    existing = [i for i in ctx.our_instances(args.project) if i.name == name]
    if existing:
        inst = existing[0]
        ctx.say(
            f"{name} exists ({inst.zone}, {inst.status}): starting it with its hard limit instead of creating"
        )
        start_with_limit(
            ctx, name, inst.zone, inst, args.max_run_duration, args.on_preempt.upper(), args.project
        )
        _report_start(ctx, name, inst.zone, args)
        return 0
    repo = args.repo or (ctx.git_origin or local_git_origin)()
    if not repo:
        raise VmError("this checkout has no git remote 'origin': pass --repo with a URL the VM can clone")
    repo = clone_url(repo)
    scopes = list(gcloud.DEFAULT_SCOPES)
    if args.idle_action == "delete":
        scopes.append(gcloud.DELETE_SCOPE)
    if args.hf_token_secret:
        scopes.append(gcloud.SECRET_SCOPE)
    zones = zones_for(args, ctx)
    table = ctx.price_table()
    for index, zone in enumerate(zones):
        region = region_of(zone)
        disk_gb = args.disk_gb or profile.boot_disk_gb
        # What the running VM costs per hour, disk included: the figure the TUI multiplies by its uptime.
        hourly = table.hourly(region, profile.machine_type, [(profile.gpu, profile.gpu_count)]).usd
        hourly += table.disk_hourly(region, gcloud.BOOT_DISK_TYPE, disk_gb)
        spec = gcloud.CreateSpec(
            name=name,
            profile=profile,
            startup_script=STARTUP_SCRIPT,
            watchdog_script=WATCHDOG_SCRIPT,
            session_script=SESSION_SCRIPT,
            max_run_duration=args.max_run_duration,
            termination_action=args.on_preempt.upper(),
            boot_disk_gb=disk_gb,
            labels={"stablelm-tui-owner": gcloud.label_value(getpass.getuser())},
            metadata=_metadata(args, ctx, hourly, repo),
            scopes=scopes,
            project=args.project,
            image_family=args.image_family,
            image_project=args.image_project,
        )
        result = ctx.runner.run(gcloud.create_command(spec, zone))
        if result.returncode == 0:
            if ctx.runner.dry_run and index + 1 < len(zones):
                ctx.say(
                    f"if {zone} has no capacity (ZONE_RESOURCE_POOL_EXHAUSTED), the same command is retried "
                    f"with --zone= each of: {' '.join(zones[index + 1 :])}"
                )
            seconds = gcloud.parse_duration(args.max_run_duration)
            verify_limit(ctx, name, zone, args.project, seconds, output=result.stdout)
            _report_up(ctx, name, zone, args, hourly, table)
            return 0
        last = result.stderr.strip().splitlines()
        if "already exists" in result.stderr:
            raise VmError(f"{name} already exists ({zone}): `vm ssh` to use it, `vm down` to delete it")
        if not gcloud.is_stockout(result.stderr):
            raise VmError(f"creating {name} in {zone} failed: {last[-1] if last else '?'}")
        ctx.say(f"{zone}: no {profile.gpu} capacity right now, trying the next zone")
    raise VmError(
        f"no capacity for {profile.gpu} spot VMs in any of {len(zones)} zones; try later or --regions"
    )


def _limit_text(args: argparse.Namespace) -> str:
    hard = gcloud.format_duration(gcloud.parse_duration(args.max_run_duration))
    return f"{hard} from each start ({args.on_preempt} at the end)"


def _report_up(
    ctx: Context, name: str, zone: str, args: argparse.Namespace, hourly: float, t: PriceTable
) -> None:
    ctx.say(f"{name} is starting in {zone}. Setup (venv, models) takes 10-20 minutes.")
    ctx.say("  open the TUI:  provisioning/vm ssh   (shows the setup log until it is ready)")
    ctx.say(
        f"  cost:          about ${hourly:.2f}/h (≈¥{hourly * t.jpy_per_usd:.0f}/h), spot prices read {t.date}"
    )
    ctx.say(
        f"  hard limit:    {_limit_text(args)}; idle {args.idle_action} after {args.idle_minutes} min "
        "with no SSH login, no app activity and an idle GPU"
    )
    ctx.say("  delete it:     provisioning/vm down")


def _report_start(ctx: Context, name: str, zone: str, args: argparse.Namespace) -> None:
    if ctx.runner.dry_run:
        return
    ctx.say(f"{name} is running in {zone}; hard limit {_limit_text(args)}. The setup runs again at boot.")
    ctx.say("  open the TUI:  provisioning/vm ssh")
