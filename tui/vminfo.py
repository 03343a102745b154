"""What the TUI's status line knows about the GPU VM it runs on: elapsed time, cost so far, idle shutdown.

On a VM made by `provisioning/vm up`, the startup script writes /etc/stablelm-tui/vm.json (hourly price, start
time, idle settings, where the heartbeat, the watchdog's state and the hard limit live; the format is in
docs/provisioning.md). The idle watchdog keeps its state in a small KEY=VALUE file, and writes the hard limit as
the instance itself reports it (`gcloud compute instances describe`) to another, so the status line never shows
a limit that was only asked for at creation. Everywhere else vm.json is absent and `read_status()` returns None,
so the status line shows nothing.

The app touches the heartbeat file on user activity and while a reply is generating (not on a timer: an
open but forgotten TUI must not keep a VM alive). `Heartbeat` rate-limits that to one touch per interval.

Pure functions over plain data plus two small readers; no Textual, no torch.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_VAR = "STABLELM_TUI_VM_INFO"
DEFAULT_PATH = Path("/etc/stablelm-tui/vm.json")
# Version 1 (from an older `vm up`) carried the hard limit asked for at creation, which is no longer trusted: such
# a file still gives elapsed time, cost and the idle countdown, and the limit shows as unknown.
SUPPORTED_VERSIONS = (1, 2)


class VmInfoError(ValueError):
    """The info file exists but cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class VmInfo:
    instance: str
    zone: str
    profile: str
    hourly_usd: float
    """Approximate spot price of the running VM per hour, disk included."""
    price_date: str
    """When the price table was read (prices are approximate and change)."""
    jpy_per_usd: float
    started_at: float
    """Epoch seconds when the VM last started running (boot)."""
    idle_minutes: int
    idle_action: str
    heartbeat_path: Path | None
    watchdog_state_path: Path | None
    limit_path: Path | None
    """Where the watchdog writes the hard limit it read from the instance."""


@dataclass(frozen=True)
class HardLimit:
    """Google's hard limit as the instance reported it at `checked_at`."""

    status: str
    """"ok" (Google ends this run at termination_at), "none" (the instance has no limit) or "unknown"."""
    termination_at: float | None
    action: str
    checked_at: float | None


@dataclass(frozen=True)
class WatchdogState:
    idle_since: float | None
    """When the current unbroken run of idle checks (no SSH, idle GPU) began; None while something is active."""
    last_check: float | None
    busy: str
    """What kept the VM active at the last check: "ssh", "gpu", "ssh gpu" or ""."""


@dataclass(frozen=True)
class VmStatus:
    elapsed_s: float
    cost_usd: float
    cost_jpy: float | None
    hard_limit_left_s: float | None
    """Seconds until Google ends the VM; None when not known (see hard_limit_status)."""
    hard_limit_status: str
    """"ok", "none" (running without a hard limit) or "unknown" (not read from the instance yet, or failed)."""
    idle_left_s: float
    """Seconds until the idle shutdown if nothing happens from now on."""
    idle_counting: bool
    """True when the watchdog is counting down now (nobody connected, GPU idle); else idle_left_s is the
    full period that starts once the user leaves."""
    idle_action: str
    price_date: str


def info_path() -> Path:
    override = os.environ.get(ENV_VAR)
    return Path(override).expanduser() if override else DEFAULT_PATH


def _field(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise VmInfoError(f"{where}: field '{key}' is missing or has the wrong type ({value!r})")
    return value


def parse_info(data: Any, where: str = "vm.json") -> VmInfo:
    if not isinstance(data, dict):
        raise VmInfoError(f"{where}: expected a JSON object")
    version = data.get("version")
    if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
        raise VmInfoError(f"{where}: unsupported version {version!r} (this app reads 1 and 2)")
    number = (int, float)
    hourly = float(_field(data, "hourly_usd", number, where))
    idle_minutes = int(_field(data, "idle_minutes", int, where))
    if hourly < 0 or idle_minutes <= 0:
        raise VmInfoError(f"{where}: hourly_usd must not be negative and idle_minutes must be positive")
    heartbeat = data.get("heartbeat_path") or None
    state = data.get("watchdog_state_path") or None
    limit = data.get("limit_path") or None
    return VmInfo(
        instance=str(data.get("instance", "")),
        zone=str(data.get("zone", "")),
        profile=str(data.get("profile", "")),
        hourly_usd=hourly,
        price_date=str(data.get("price_date", "")),
        jpy_per_usd=float(data.get("jpy_per_usd") or 0),
        started_at=float(_field(data, "started_at", number, where)),
        idle_minutes=idle_minutes,
        idle_action=str(data.get("idle_action", "")),
        heartbeat_path=Path(heartbeat) if isinstance(heartbeat, str) else None,
        watchdog_state_path=Path(state) if isinstance(state, str) else None,
        limit_path=Path(limit) if isinstance(limit, str) else None,
    )


def load_info(path: Path | None = None) -> VmInfo | None:
    """The VM's info, or None when the file does not exist (not on one of our VMs)."""
    path = path or info_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise VmInfoError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VmInfoError(f"{path}: not valid JSON: {exc}") from None
    return parse_info(data, str(path))


def _key_values(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def _number(values: dict[str, str], key: str) -> float | None:
    try:
        return float(values[key])
    except (KeyError, ValueError):
        return None


def parse_watchdog_state(text: str) -> WatchdogState:
    values = _key_values(text)
    return WatchdogState(
        idle_since=_number(values, "idle_since"),
        last_check=_number(values, "last_check"),
        busy=values.get("busy", ""),
    )


def parse_hard_limit(text: str) -> HardLimit:
    """The watchdog's limit file (KEY=VALUE lines; the format is in docs/provisioning.md)."""
    values = _key_values(text)
    status = values.get("status", "")
    end = _number(values, "termination_at")
    if status not in ("ok", "none") or (status == "ok" and end is None):
        status = "unknown"
    return HardLimit(
        status=status,
        termination_at=end if status == "ok" else None,
        action=values.get("action", ""),
        checked_at=_number(values, "checked_at"),
    )


def compute_status(
    info: VmInfo,
    now: float,
    state: WatchdogState | None = None,
    heartbeat_mtime: float | None = None,
    limit: HardLimit | None = None,
) -> VmStatus:
    """The numbers for the status line at `now` (pure).

    The watchdog acts once the idle run of checks and the heartbeat's age both reach the period, so the
    countdown runs from the later of the two.
    """
    elapsed = max(0.0, now - info.started_at)
    cost = elapsed / 3600 * info.hourly_usd
    limit_status = limit.status if limit is not None else "unknown"
    limit_left = (
        limit.termination_at - now if limit is not None and limit.termination_at is not None else None
    )
    period = info.idle_minutes * 60
    counting = state is not None and state.idle_since is not None
    if counting and state is not None and state.idle_since is not None:
        idle_start = max(state.idle_since, heartbeat_mtime or 0.0)
        idle_left = max(0.0, period - (now - idle_start))
    else:
        idle_left = float(period)
    return VmStatus(
        elapsed_s=elapsed,
        cost_usd=cost,
        cost_jpy=cost * info.jpy_per_usd if info.jpy_per_usd else None,
        hard_limit_left_s=limit_left,
        hard_limit_status=limit_status,
        idle_left_s=idle_left,
        idle_counting=counting,
        idle_action=info.idle_action or "stop",
        price_date=info.price_date,
    )


def _short(seconds: float) -> str:
    minutes = int(max(0.0, seconds) // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def format_status(status: VmStatus) -> str:
    """One line for the status bar, e.g. `VM 1h05m · ≈$0.41 (≈¥61) · idle delete 30m after you leave · limit 6h55m`."""
    parts = [f"VM {_short(status.elapsed_s)}"]
    money = f"≈${status.cost_usd:.2f}"
    if status.cost_jpy is not None:
        money += f" (≈¥{status.cost_jpy:,.0f})"
    parts.append(money)
    if status.idle_counting:
        parts.append(f"idle {status.idle_action} in {_short(status.idle_left_s)}")
    else:
        parts.append(f"idle {status.idle_action} {_short(status.idle_left_s)} after you leave")
    if status.hard_limit_status == "none":
        parts.append("NO hard limit")
    elif status.hard_limit_left_s is not None:
        parts.append(f"limit {_short(status.hard_limit_left_s)}")
    else:
        parts.append("limit ?")
    return " · ".join(parts)


def read_status(now: float | None = None, path: Path | None = None) -> VmStatus | None:
    """Everything the status line needs, read from disk; None when not on a VM or the file is unusable.

    Never raises: a broken info file must not break the app (the status line simply shows nothing).
    """
    try:
        info = load_info(path)
    except VmInfoError:
        return None
    if info is None:
        return None
    state = None
    if info.watchdog_state_path is not None:
        try:
            state = parse_watchdog_state(info.watchdog_state_path.read_text(encoding="utf-8"))
        except OSError:
            state = None
    mtime = None
    if info.heartbeat_path is not None:
        try:
            mtime = info.heartbeat_path.stat().st_mtime
        except OSError:
            mtime = None
    limit = None
    if info.limit_path is not None:
        try:
            limit = parse_hard_limit(info.limit_path.read_text(encoding="utf-8"))
        except OSError:
            limit = None
    return compute_status(info, time.time() if now is None else now, state, mtime, limit)


class Heartbeat:
    """Touches the VM's heartbeat file at most once per `min_interval` seconds; a no-op off the VM.

    Call `beat()` on every key press and every streamed chunk; it costs one clock read when it has
    nothing to do, and never raises (a missing or read-only file is not the user's problem).
    """

    def __init__(
        self, path: Path | None, min_interval: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.min_interval = min_interval
        self._clock = clock
        self._last: float | None = None

    @classmethod
    def for_this_vm(cls, min_interval: float = 30.0) -> Heartbeat:
        try:
            info = load_info()
        except VmInfoError:
            info = None
        return cls(info.heartbeat_path if info else None, min_interval)

    def beat(self) -> bool:
        """Touch the file if the interval has passed; True when it did."""
        if self.path is None:
            return False
        now = self._clock()
        if self._last is not None and now - self._last < self.min_interval:
            return False
        self._last = now
        return touch_heartbeat(self.path)


def touch_heartbeat(path: Path) -> bool:
    """Set the heartbeat file's time to now (creating it if allowed); False when that is not possible."""
    try:
        os.utime(path)
        return True
    except FileNotFoundError:
        try:
            path.touch()
            return True
        except OSError:
            return False
    except OSError:
        return False
