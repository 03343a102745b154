"""The dated, approximate spot price table (provisioning/prices.json) and the arithmetic on it.

JSON rather than TOML so that `vm` runs on any Python 3.10+ without tomli; the file carries its own date,
sources and a note saying the numbers are approximate, and `status` prints the date beside every cost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmctl.errors import VmError

PRICES_FILE = Path(__file__).resolve().parent.parent / "prices.json"
HOURS_PER_MONTH = 730.0  # Google's own convention for monthly prices


@dataclass(frozen=True)
class HourlyPrice:
    usd: float
    region: str
    """The region whose prices were used (the table's default region when the VM's own is missing)."""
    exact_region: bool
    date: str


@dataclass(frozen=True)
class PriceTable:
    date: str
    note: str
    sources: tuple[str, ...]
    jpy_per_usd: float
    default_region: str
    regions: dict[str, dict[str, dict[str, float]]]

    def _region(self, region: str) -> tuple[str, dict[str, dict[str, float]]]:
        if region in self.regions:
            return region, self.regions[region]
        return self.default_region, self.regions[self.default_region]

    def hourly(self, region: str, machine_type: str, gpu: str | None, gpu_count: int) -> HourlyPrice:
        """Spot price per hour of a running VM: machine type plus any separately attached GPUs.

        Raises VmError when the table has no price for the machine or GPU, rather than guessing zero.
        """
        used, table = self._region(region)
        try:
            usd = table["machine"][machine_type]
        except KeyError:
            raise VmError(f"prices.json has no price for machine type {machine_type} in {used}") from None
        if gpu and gpu_count:
            try:
                usd += table["gpu"][gpu] * gpu_count
            except KeyError:
                raise VmError(f"prices.json has no price for GPU {gpu} in {used}") from None
        return HourlyPrice(usd=round(usd, 4), region=used, exact_region=used == region, date=self.date)

    def disk_monthly(self, region: str, disk_type: str, size_gb: int) -> float:
        """What the boot disk costs per month, running or stopped (a stopped VM still pays for it)."""
        _, table = self._region(region)
        return table.get("disk_gb_month", {}).get(disk_type, 0.0) * size_gb

    def disk_hourly(self, region: str, disk_type: str, size_gb: int) -> float:
        return self.disk_monthly(region, disk_type, size_gb) / HOURS_PER_MONTH


def _number_map(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
        for k, v in value.items()
    ):
        raise VmError(f"{where}: must map names to non-negative numbers")
    return {k: float(v) for k, v in value.items()}


def parse_table(data: Any, where: str = "prices.json") -> PriceTable:
    if not isinstance(data, dict):
        raise VmError(f"{where}: must be a JSON object")
    for key in ("date", "note", "default_region"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise VmError(f"{where}: missing text field '{key}'")
    raw_regions = data.get("regions")
    if not isinstance(raw_regions, dict) or data["default_region"] not in raw_regions:
        raise VmError(f"{where}: 'regions' must be an object that includes the default region")
    regions: dict[str, dict[str, dict[str, float]]] = {}
    for region, parts in raw_regions.items():
        if not isinstance(parts, dict):
            raise VmError(f"{where}: regions.{region} must be an object")
        regions[region] = {
            part: _number_map(parts.get(part, {}), f"{where}: regions.{region}.{part}")
            for part in ("machine", "gpu", "disk_gb_month")
        }
    sources = data.get("sources", [])
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
        raise VmError(f"{where}: 'sources' must list where the prices come from")
    rate = data.get("jpy_per_usd", 0)
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate < 0:
        raise VmError(f"{where}: 'jpy_per_usd' must be a non-negative number")
    return PriceTable(
        date=data["date"],
        note=data["note"],
        sources=tuple(sources),
        jpy_per_usd=float(rate),
        default_region=data["default_region"],
        regions=regions,
    )


def load_table(path: Path = PRICES_FILE) -> PriceTable:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VmError(f"{path}: price table not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VmError(f"{path}: not valid JSON: {exc}") from None
    return parse_table(data, str(path))
