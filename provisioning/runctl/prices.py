"""The Cloud Run price table (provisioning/cloudrun-prices.json) and the arithmetic on it.

A sibling of prices.json rather than a part of it: Cloud Run bills per second of vCPU, GiB and GPU while an
instance exists, not per machine type, so the shapes differ. Every figure carries its source and read date, read
and checked by vmctl/prices.py as prices.json's are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from vmctl.prices import Figure, parse_figure

from runctl.errors import RunError

PRICES_FILE = Path(__file__).resolve().parent.parent / "cloudrun-prices.json"
SUPPORTED_VERSION = 1
STALE_AFTER_DAYS = 30
HOURS_PER_MONTH = 730.0  # Google's convention for monthly figures


@dataclass(frozen=True)
class Hourly:
    usd: float
    region: str
    """The region whose figures were used: the table's default when the service's own is not priced."""
    exact: bool
    oldest: date


@dataclass(frozen=True)
class PriceTable:
    sources: dict[str, str]
    jpy_per_usd: float
    default_region: str
    regions: dict[str, dict[str, Any]]

    def _region(self, region: str) -> tuple[str, dict[str, Any]]:
        used = region if region in self.regions else self.default_region
        return used, self.regions[used]

    def instance_hourly(self, region: str, cpu: float, memory_gib: float, gpu: str = "nvidia-l4") -> Hourly:
        """What one running instance costs per hour: its GPU, vCPUs and memory, all billed while it exists."""
        used, table = self._region(region)
        try:
            figures: list[Figure] = [table["gpu_second"][gpu], table["vcpu_second"], table["gib_second"]]
        except KeyError:
            raise RunError(f"cloudrun-prices.json has no price for {gpu} in {used}") from None
        per_second = figures[0].usd + cpu * figures[1].usd + memory_gib * figures[2].usd
        return Hourly(round(per_second * 3600, 4), used, used == region, min(f.read_date for f in figures))

    def storage_monthly(self, region: str, gb: float) -> float | None:
        figure = self._region(region)[1].get("storage_gb_month")
        return figure.usd * gb if isinstance(figure, Figure) else None

    def yen(self, usd: float) -> str:
        return f"≈¥{usd * self.jpy_per_usd:,.0f}"


def parse_table(data: Any, where: str = "cloudrun-prices.json") -> PriceTable:
    if not isinstance(data, dict) or data.get("version") != SUPPORTED_VERSION:
        raise RunError(f"{where}: not a version {SUPPORTED_VERSION} price table")
    sources = data.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise RunError(f"{where}: 'sources' must map names to where the prices come from")
    regions: dict[str, dict[str, Any]] = {}
    for region, parts in (data.get("regions") or {}).items():
        parsed: dict[str, Any] = {}
        for key, value in parts.items():
            if key == "gpu_second":
                parsed[key] = {
                    g: parse_figure(v, f"{where}: {region}.{key}.{g}", sources, RunError)
                    for g, v in value.items()
                }
            else:
                parsed[key] = parse_figure(value, f"{where}: {region}.{key}", sources, RunError)
        regions[region] = parsed
    if data.get("default_region") not in regions:
        raise RunError(f"{where}: 'regions' must include the default region")
    return PriceTable(dict(sources), float(data.get("jpy_per_usd", 0)), data["default_region"], regions)


def load_table(path: Path = PRICES_FILE) -> PriceTable:
    try:
        return parse_table(json.loads(path.read_text(encoding="utf-8")), str(path))
    except FileNotFoundError:
        raise RunError(f"{path}: price table not found") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: not valid JSON: {exc}") from None
