"""The approximate spot price table (provisioning/prices.json) and the arithmetic on it.

Every figure carries where it comes from and when it was read, because Google's spot prices move (they "can
change up to once every day", says the spot pricing page): `status` prints how old the figures it used are.
JSON rather than TOML so that `vm` runs on any Python 3.10+ without tomli.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from vmctl.errors import VmError

PRICES_FILE = Path(__file__).resolve().parent.parent / "prices.json"
HOURS_PER_MONTH = 730.0  # Google's own convention for monthly prices
SUPPORTED_VERSION = 2
STALE_AFTER_DAYS = 30
_READ_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


@dataclass(frozen=True)
class Figure:
    usd: float
    source: str
    """A key of the table's `sources`."""
    read: str
    """When the figure was read from its source: YYYY-MM-DD, or YYYY-MM where only the month is known."""

    @property
    def read_date(self) -> date:
        """The earliest day the `read` text allows, so an age is never understated."""
        match = _READ_RE.match(self.read)
        assert match
        year, month, day = match.groups()
        return date(int(year), int(month), int(day or 1))


@dataclass(frozen=True)
class HourlyPrice:
    usd: float
    region: str
    """The region whose prices were used (the table's default region when the VM's own is missing)."""
    exact_region: bool
    figures: tuple[Figure, ...]

    @property
    def oldest(self) -> date:
        return min(f.read_date for f in self.figures)


@dataclass(frozen=True)
class PriceTable:
    note: str
    sources: dict[str, str]
    jpy_per_usd: float
    default_region: str
    regions: dict[str, dict[str, dict[str, Figure]]]

    def _region(self, region: str) -> tuple[str, dict[str, dict[str, Figure]]]:
        if region in self.regions:
            return region, self.regions[region]
        return self.default_region, self.regions[self.default_region]

    def hourly(self, region: str, machine_type: str, gpus: Sequence[tuple[str, int]] = ()) -> HourlyPrice:
        """Spot price per hour of a running VM: its machine type (vCPUs and memory) plus each of its GPUs, the ones
        attached with --accelerator and the ones a G2/A2 machine type comes with alike (Google bills them apart).

        Raises VmError when the table has no price for the machine or a GPU, rather than guessing zero.
        """
        used, table = self._region(region)
        try:
            figures = [table["machine"][machine_type]]
        except KeyError:
            raise VmError(f"prices.json has no price for machine type {machine_type} in {used}") from None
        usd = figures[0].usd
        for gpu, count in gpus:
            if count <= 0:
                continue
            try:
                figure = table["gpu"][gpu]
            except KeyError:
                raise VmError(f"prices.json has no price for GPU {gpu} in {used}") from None
            figures.append(figure)
            usd += figure.usd * count
        return HourlyPrice(round(usd, 5), used, used == region, tuple(figures))

    def disk_figure(self, region: str, disk_type: str) -> Figure | None:
        return self._region(region)[1].get("disk_gb_month", {}).get(disk_type)

    def disk_monthly(self, region: str, disk_type: str, size_gb: int) -> float:
        """What the boot disk costs per month, running or stopped (a stopped VM still pays for it)."""
        figure = self.disk_figure(region, disk_type)
        return figure.usd * size_gb if figure else 0.0

    def disk_hourly(self, region: str, disk_type: str, size_gb: int) -> float:
        return self.disk_monthly(region, disk_type, size_gb) / HOURS_PER_MONTH

    def figures(self) -> Iterable[Figure]:
        for parts in self.regions.values():
            for part in parts.values():
                yield from part.values()

    @property
    def oldest(self) -> date:
        return min(f.read_date for f in self.figures())

    @property
    def date(self) -> str:
        """The oldest `read` of the table, as written in it (what a VM's status line shows next to the cost)."""
        return min(self.figures(), key=lambda f: f.read_date).read


def age_text(oldest: date, today: date) -> str:
    days = (today - oldest).days
    return "today" if days <= 0 else f"{days} day{'s' if days != 1 else ''} ago"


def parse_figure(value: Any, where: str, sources: dict[str, str], error: type[Exception] = VmError) -> Figure:
    """One dated, sourced figure of a price table (cloudrun's too, which raises its own `error`)."""
    if not isinstance(value, dict):
        raise error(f"{where}: must be an object with usd, source and read")
    usd, source, read = value.get("usd"), value.get("source"), value.get("read")
    if not isinstance(usd, (int, float)) or isinstance(usd, bool) or usd < 0:
        raise error(f"{where}: 'usd' must be a non-negative number")
    if source not in sources:
        raise error(f"{where}: 'source' must name one of the table's sources ({', '.join(sources)})")
    if not isinstance(read, str) or not _READ_RE.match(read):
        raise error(f"{where}: 'read' must be the date the figure was read, YYYY-MM-DD")
    return Figure(float(usd), source, read)


def parse_table(data: Any, where: str = "prices.json") -> PriceTable:
    if not isinstance(data, dict):
        raise VmError(f"{where}: must be a JSON object")
    if data.get("version") != SUPPORTED_VERSION:
        raise VmError(f"{where}: unsupported version {data.get('version')!r} (vm reads {SUPPORTED_VERSION})")
    for key in ("note", "default_region"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise VmError(f"{where}: missing text field '{key}'")
    sources = data.get("sources")
    if not isinstance(sources, dict) or not sources or not all(isinstance(v, str) for v in sources.values()):
        raise VmError(f"{where}: 'sources' must map names to where the prices come from")
    raw_regions = data.get("regions")
    if not isinstance(raw_regions, dict) or data["default_region"] not in raw_regions:
        raise VmError(f"{where}: 'regions' must be an object that includes the default region")
    regions: dict[str, dict[str, dict[str, Figure]]] = {}
    for region, parts in raw_regions.items():
        if not isinstance(parts, dict):
            raise VmError(f"{where}: regions.{region} must be an object")
        regions[region] = {}
        for part in ("machine", "gpu", "disk_gb_month"):
            items = parts.get(part, {})
            if not isinstance(items, dict):
                raise VmError(f"{where}: regions.{region}.{part} must be an object")
            regions[region][part] = {
                name: parse_figure(value, f"{where}: regions.{region}.{part}.{name}", sources)
                for name, value in items.items()
            }
    if not any(True for parts in regions.values() for part in parts.values() for _ in part):
        raise VmError(f"{where}: the table holds no prices")
    rate = data.get("jpy_per_usd", 0)
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate < 0:
        raise VmError(f"{where}: 'jpy_per_usd' must be a non-negative number")
    return PriceTable(
        note=data["note"],
        sources=dict(sources),
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
