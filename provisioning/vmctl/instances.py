"""Reading `gcloud compute instances list --format=json` into rows for `status`, `ssh` and `down` (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from vmctl.errors import VmError
from vmctl.gcloud import BOOT_DISK_TYPE
from vmctl.prices import PriceTable
from vmctl.profiles import region_of

# Machine families whose price already includes their GPUs (the GPU is part of the machine type).
_GPU_BUNDLED_FAMILIES = ("a2-", "a3-", "a4-", "g2-", "g4-")


@dataclass(frozen=True)
class Instance:
    name: str
    zone: str
    status: str
    machine_type: str
    gpus: tuple[tuple[str, int], ...]
    profile: str
    boot_disk_gb: int
    last_start: datetime | None
    max_run_seconds: int | None
    termination_time: datetime | None
    """When Google ends the VM (its hard limit), if it said so; else computed from last start + max run."""


@dataclass(frozen=True)
class Row:
    instance: Instance
    uptime_s: float | None
    hourly_usd: float | None
    cost_usd: float | None
    limit_left_s: float | None
    disk_monthly_usd: float
    price_note: str


def _basename(url: Any) -> str:
    return str(url or "").rstrip("/").rsplit("/", 1)[-1]


def _timestamp(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def parse_instance(data: dict[str, Any]) -> Instance:
    scheduling = data.get("scheduling") or {}
    max_run = (scheduling.get("maxRunDuration") or {}).get("seconds")
    boot_gb = next((int(d.get("diskSizeGb", 0)) for d in data.get("disks", []) if d.get("boot")), 0)
    # Google reports the hard-limit time in different places across API versions; take the first present.
    termination = _timestamp(scheduling.get("terminationTime")) or _timestamp(
        ((data.get("resourceStatus") or {}).get("scheduling") or {}).get("terminationTimestamp")
    )
    return Instance(
        name=str(data.get("name", "?")),
        zone=_basename(data.get("zone")),
        status=str(data.get("status", "UNKNOWN")),
        machine_type=_basename(data.get("machineType")),
        gpus=tuple(
            (_basename(acc.get("acceleratorType")), int(acc.get("acceleratorCount", 1)))
            for acc in data.get("guestAccelerators", []) or []
        ),
        profile=str((data.get("labels") or {}).get("stablelm-tui-profile", "")),
        boot_disk_gb=boot_gb,
        last_start=_timestamp(data.get("lastStartTimestamp")),
        max_run_seconds=int(max_run) if max_run is not None else None,
        termination_time=termination,
    )


def parse_list(stdout: str) -> list[Instance]:
    if not stdout.strip():
        return []
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise VmError(f"could not read gcloud's instance list: {exc}") from None
    if not isinstance(data, list):
        raise VmError("could not read gcloud's instance list: expected a JSON list")
    return [parse_instance(item) for item in data if isinstance(item, dict)]


def row(instance: Instance, table: PriceTable, now: datetime) -> Row:
    region = region_of(instance.zone)
    disk_monthly = table.disk_monthly(region, BOOT_DISK_TYPE, instance.boot_disk_gb)
    separate_gpus = [g for g in instance.gpus if not instance.machine_type.startswith(_GPU_BUNDLED_FAMILIES)]
    try:
        price = table.hourly(
            region,
            instance.machine_type,
            separate_gpus[0][0] if separate_gpus else None,
            separate_gpus[0][1] if separate_gpus else 0,
        )
        hourly: float | None = price.usd + table.disk_hourly(region, BOOT_DISK_TYPE, instance.boot_disk_gb)
        note = "" if price.exact_region else f"{region} not in table, used {price.region}"
    except VmError as exc:
        hourly, note = None, str(exc)
    running = instance.status == "RUNNING" and instance.last_start is not None
    uptime = (now - instance.last_start).total_seconds() if running and instance.last_start else None
    cost = uptime / 3600 * hourly if uptime is not None and hourly is not None else None
    limit_left = None
    if running:
        end = instance.termination_time
        if end is None and instance.max_run_seconds and instance.last_start:
            end = datetime.fromtimestamp(
                instance.last_start.timestamp() + instance.max_run_seconds, timezone.utc
            )
        if end is not None:
            limit_left = (end - now).total_seconds()
    return Row(instance, uptime, hourly, cost, limit_left, disk_monthly, note)
