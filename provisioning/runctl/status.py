"""`cloudrun status` and the inventory `down` deletes: our services with their instances now and this month's
cost, and everything that bills while no instance runs."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any

from runctl import commands
from runctl.context import Context
from runctl.errors import RunError
from runctl.monitoring import read_usage
from runctl.names import L4_REGIONS, SERVICE_ACCOUNT, parse_memory_gib
from runctl.prices import HOURS_PER_MONTH, STALE_AFTER_DAYS
from runctl.service import Revision, Service, parse_revisions, parse_services, public_members


@dataclass
class Inventory:
    """What carries our label (and our service account), found the same way by `status` and `down`."""

    project: str
    services: list[Service] = field(default_factory=list)
    repositories: list[tuple[str, str]] = field(default_factory=list)
    """(location, repository id)"""
    buckets: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    service_account: str | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.services or self.repositories or self.buckets or self.secrets or self.service_account
        )


def _json_list(stdout: str) -> list[dict[str, Any]]:
    try:
        items = json.loads(stdout or "[]")
    except json.JSONDecodeError:
        raise RunError("gcloud printed something that is not JSON") from None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _basename(text: str) -> str:
    return text.rstrip("/").rsplit("/", 1)[-1]


def inventory(ctx: Context, project: str) -> Inventory:
    inv = Inventory(project)
    inv.services = parse_services(ctx.run_or_fail(commands.service_list(project), "listing services").stdout)
    # Repositories are regional; an orphan may sit in any L4 region, so all of them are asked.
    for region in L4_REGIONS:
        listed = ctx.run_or_fail(commands.repo_list(project, region), f"listing repositories in {region}")
        inv.repositories += [(region, _basename(str(r.get("name", "")))) for r in _json_list(listed.stdout)]
    listed = ctx.run_or_fail(commands.bucket_list(project), "listing buckets")
    inv.buckets = [str(b.get("name", "")) for b in _json_list(listed.stdout)]
    listed = ctx.run_or_fail(commands.secret_list(project), "listing secrets")
    inv.secrets = [_basename(str(s.get("name", ""))) for s in _json_list(listed.stdout)]
    email = f"{SERVICE_ACCOUNT}@{project}.iam.gserviceaccount.com"
    if ctx.exists(commands.sa_describe(project, email)):
        inv.service_account = email
    return inv


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _service_lines(ctx: Context, project: str, svc: Service, public: list[str]) -> list[str]:
    table = ctx.price_table()
    memory = parse_memory_gib(svc.memory) if svc.memory else 0.0
    hourly = table.instance_hourly(svc.region, float(svc.cpu or 0), memory)
    lines = [
        f"{svc.name} ({svc.region}): ready {svc.ready}; {svc.url or 'no URL yet'}",
        f"  {svc.gpu}, {svc.cpu} CPU, {svc.memory}; min instances {svc.service_min} (service) / "
        f"{svc.revision_min} (revision), max {svc.max_instances}; "
        f"{'PUBLIC' if public or svc.invoker_check_off else 'private (IAM)'}",
    ]
    try:
        token = ctx.run_or_fail(commands.access_token(), "getting an access token").stdout.strip()
        usage = read_usage(ctx.http_get, token, project, svc.name, svc.region, ctx.now())
    except RunError as exc:
        lines.append(f"  instances now and this month's cost: unknown ({exc})")
        return lines
    now_text = ", ".join(f"{n} {state}" for state, n in sorted(usage.instances.items())) or "none"
    cost = usage.billable_s / 3600 * hourly.usd
    lines.append(f"  instances now: {now_text} (Cloud Monitoring, the last 5 minutes)")
    where = "" if hourly.exact else f", {hourly.region} prices: {svc.region} is not in the table"
    lines.append(
        f"  this month: {_duration(usage.billable_s)} billable ≈ ${cost:.2f} ({table.yen(cost)}) at "
        f"${hourly.usd:.2f}/h list price (cloudrun-prices.json read {hourly.oldest.isoformat()}{where})"
    )
    if (ctx.now().date() - hourly.oldest).days > STALE_AFTER_DAYS:
        lines.append(f"  the price table is more than {STALE_AFTER_DAYS} days old: check its sources")
    return lines


def idle_billing(inv: Inventory, warm: dict[str, list[str]], public: dict[str, list[str]]) -> list[str]:
    """Everything that costs money while no one uses the app, one line each."""
    found = []
    for svc in inv.services:
        found += [f"{svc.name}: {reason}" for reason in warm.get(svc.name, [])]
        if public.get(svc.name) or svc.invoker_check_off:
            who = ", ".join(public.get(svc.name, [])) or "anyone (invoker IAM check off)"
            found.append(
                f"{svc.name}: PUBLIC ({who} may invoke it): any request from them starts a GPU instance"
            )
    orphan = "" if inv.services else " (orphaned: no service uses it)"
    found += [
        f"bucket gs://{b}: {'the saved conversations' if b.endswith('-state') else 'the weights'}, per GB-month{orphan}"
        for b in inv.buckets
    ]
    found += [
        f"Artifact Registry repository {r} in {loc}: the image, per GB-month{orphan}"
        for loc, r in inv.repositories
    ]
    found += [f"secret {s}: per active version{orphan}" for s in inv.secrets]
    return found


def warm_reasons(svc: Service, revisions: list[Revision], monthly_usd: float) -> list[str]:
    """Minimum instances that keep a GPU instance running; each costs `monthly_usd` a month at the list price."""
    reasons = []
    if svc.service_min > 0:
        reasons.append(
            f"minimum instances {svc.service_min} at the service level: an L4 instance runs all the time"
        )
    for rev in revisions:
        if rev.min_instances > 0 and rev.traffic_percent > 0:
            reasons.append(
                f"revision {rev.name} keeps {rev.min_instances} instance(s) warm and serves {rev.traffic_percent}% "
                f"of the traffic (≈ ${rev.min_instances * monthly_usd:,.0f} a month)"
            )
    return reasons


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    project = ctx.project(args.project)
    inv = inventory(ctx, project)
    if ctx.runner.dry_run:
        return 0
    if inv.empty:
        ctx.say("nothing with the stablelm-tui label in this project: nothing is billing")
        return 0
    warm: dict[str, list[str]] = {}
    public: dict[str, list[str]] = {}
    for svc in inv.services:
        listed = ctx.run_or_fail(
            commands.revision_list(project, svc.region, svc.name), f"listing revisions of {svc.name}"
        )
        revisions = parse_revisions(listed.stdout, svc.traffic)
        policy = ctx.run_or_fail(
            commands.service_iam_policy(project, svc.region, svc.name), "reading who may invoke"
        )
        public[svc.name] = public_members(policy.stdout)
        memory = parse_memory_gib(svc.memory) if svc.memory else 0.0
        hourly = ctx.price_table().instance_hourly(svc.region, float(svc.cpu or 0), memory)
        warm[svc.name] = warm_reasons(svc, revisions, hourly.usd * HOURS_PER_MONTH)
        for line in _service_lines(ctx, project, svc, public[svc.name]):
            ctx.say(line)
    if not inv.services:
        ctx.say("no Cloud Run service with our label")
    leftovers = idle_billing(inv, warm, public)
    ctx.say("Billing while no one uses it:" if leftovers else "Nothing bills while no one uses it.")
    for line in leftovers:
        ctx.say(f"  - {line}")
    if inv.service_account:
        ctx.say(f"  (service account {inv.service_account} exists; it costs nothing)")
    if leftovers:
        ctx.say("`provisioning/cloudrun down` removes all of it.")
    return 0
