"""`vm status`: every VM with our label, what it costs, the hard limit Google reports for it, how old the prices
are, and (for running VMs) the setup's state as the startup script left it in the instance's guest attributes."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import date

from vmctl import gcloud
from vmctl.context import Context
from vmctl.instances import Row, row
from vmctl.prices import STALE_AFTER_DAYS, PriceTable, age_text

TAIL_LINES = 8


@dataclass(frozen=True)
class SetupState:
    state: str
    """What startup.sh wrote: "setup", "ready", "failed" or "rebooting"; "" when it wrote nothing (yet)."""
    message: str
    """One sentence: what it is doing, or what went wrong."""
    log_tail: str


def parse_guest_attributes(stdout: str) -> SetupState | None:
    """`get-guest-attributes --format=json`: a list of {namespace, key, value}."""
    try:
        items = json.loads(stdout)
    except json.JSONDecodeError:
        return None
    if not isinstance(items, list):
        return None
    values = {str(i.get("key")): str(i.get("value", "")) for i in items if isinstance(i, dict)}
    if not values:
        return None
    return SetupState(values.get("state", ""), values.get("message", ""), values.get("log-tail", ""))


def setup_state(ctx: Context, name: str, zone: str, project: str | None) -> SetupState | None:
    """None when the VM said nothing (guest attributes off, or the script has not written yet)."""
    result = ctx.runner.run(gcloud.guest_attributes_command(name, zone, project))
    return parse_guest_attributes(result.stdout) if result.returncode == 0 else None


def explain_setup(name: str, state: SetupState) -> list[str]:
    if state.state == "failed":
        lines = [f"{name}: SETUP FAILED: {state.message}"]
        tail = state.log_tail.strip().splitlines()[-TAIL_LINES:]
        if tail:
            lines.append("  last lines of /var/log/stablelm-tui-setup.log:")
            lines += [f"    {line}" for line in tail]
        lines.append(
            f"  retry: provisioning/vm ssh --name {name} --shell, then sudo google_metadata_script_runner startup"
        )
        return lines
    if state.state == "ready":
        return [f"{name}: setup done, ready: provisioning/vm ssh"]
    return [f"{name}: {state.message or 'setting up'}"]


def _money(usd: float | None, table: PriceTable) -> str:
    if usd is None:
        return "?"
    return f"${usd:.2f} (≈¥{usd * table.jpy_per_usd:,.0f})"


def _limit_cell(r: Row) -> str:
    if r.running_without_limit:
        return "NONE"
    return gcloud.format_duration(r.limit_left_s) if r.limit_left_s is not None else "-"


def price_age_lines(table: PriceTable, rows: list[Row], today: date) -> list[str]:
    used = [f for r in rows if r.price for f in r.price.figures]
    oldest = min((f.read_date for f in used), default=table.oldest)
    lines = [
        f"Costs are approximate spot list prices (compute + disk) from provisioning/prices.json, the oldest "
        f"figure used read {oldest.isoformat()} ({age_text(oldest, today)}); spot prices can change every day."
    ]
    if (today - oldest).days > STALE_AFTER_DAYS:
        lines.append(
            f"The price table is more than {STALE_AFTER_DAYS} days old: check its sources before trusting a cost."
        )
    return lines


def format_rows(rows: list[Row], table: PriceTable, today: date) -> list[str]:
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
                _limit_cell(r),
            )
        )
        if r.running_without_limit:
            notes.append(
                f"{i.name} is running WITHOUT a hard limit: `provisioning/vm start --name {i.name}` stops it, "
                "sets one and starts it again"
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
    return [*text, *notes, *price_age_lines(table, rows, today)]


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    instances = ctx.our_instances(args.project)
    if ctx.runner.dry_run:
        return 0
    if not instances:
        ctx.say("no VM with the stablelm-tui label in any zone: nothing is billing")
        return 0
    table = ctx.price_table()
    now = ctx.now()
    for line in format_rows([row(i, table, now) for i in instances], table, now.date()):
        ctx.say(line)
    for inst in instances:
        if inst.status == "RUNNING":
            state = setup_state(ctx, inst.name, inst.zone, args.project)
            if state is not None:
                for line in explain_setup(inst.name, state):
                    ctx.say(line)
    return 0
