"""Reading `gcloud compute instances list|describe|create --format=json` into rows for `status`, `ssh`, `start`,
`down` (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from vmctl.errors import VmError
from vmctl.gcloud import BOOT_DISK_TYPE
from vmctl.prices import HourlyPrice, PriceTable
from vmctl.profiles import BUNDLED_GPUS, region_of


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
    """scheduling.maxRunDuration: the hard limit, relative to the last start; None when the VM has none."""
    termination_time: datetime | None
    """When Google ends this run of the VM: resourceStatus.scheduling.terminationTimestamp (set while it runs and
    has a limit), else an absolute scheduling.terminationTime."""
    termination_action: str

    @property
    def has_hard_limit(self) -> bool:
        return self.max_run_seconds is not None or self.termination_time is not None

    @property
    def priced_gpus(self) -> tuple[tuple[str, int], ...]:
        """The GPUs to price: the ones the instance lists, or the ones its machine type comes with."""
        if self.gpus:
            return self.gpus
        bundled = BUNDLED_GPUS.get(self.machine_type)
        return (bundled,) if bundled else ()


@dataclass(frozen=True)
class Row:
    instance: Instance
    uptime_s: float | None
    price: HourlyPrice | None
    hourly_usd: float | None
    cost_usd: float | None
    limit_left_s: float | None
    disk_monthly_usd: float
    price_note: str

    @property
    def running_without_limit(self) -> bool:
        return self.instance.status == "RUNNING" and not self.instance.has_hard_limit


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
    termination = _timestamp(
        ((data.get("resourceStatus") or {}).get("scheduling") or {}).get("terminationTimestamp")
    ) or _timestamp(scheduling.get("terminationTime"))
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
        termination_action=str(scheduling.get("instanceTerminationAction", "")),
    )


def _json(stdout: str, what: str) -> Any:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise VmError(f"could not read gcloud's {what}: {exc}") from None


def parse_list(stdout: str) -> list[Instance]:
    if not stdout.strip():
        return []
    data = _json(stdout, "instance list")
    if not isinstance(data, list):
        raise VmError("could not read gcloud's instance list: expected a JSON list")
    return [parse_instance(item) for item in data if isinstance(item, dict)]


def parse_one(stdout: str) -> Instance:
    """`describe --format=json` prints one object; `create --format=json` a list holding the new instance."""
    data = _json(stdout, "instance")
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise VmError("could not read gcloud's instance: expected one JSON object")
    return parse_instance(data)


def row(instance: Instance, table: PriceTable, now: datetime) -> Row:
    region = region_of(instance.zone)
    disk_monthly = table.disk_monthly(region, BOOT_DISK_TYPE, instance.boot_disk_gb)
    price: HourlyPrice | None
    try:
        price = table.hourly(region, instance.machine_type, instance.priced_gpus)
        hourly: float | None = price.usd + table.disk_hourly(region, BOOT_DISK_TYPE, instance.boot_disk_gb)
        note = "" if price.exact_region else f"{region} not in table, used {price.region}"
    except VmError as exc:
        price, hourly, note = None, None, str(exc)
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
    return Row(instance, uptime, price, hourly, cost, limit_left, disk_monthly, note)
