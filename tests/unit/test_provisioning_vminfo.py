"""tui/vminfo.py: the VM facts for the TUI's status line (elapsed, cost, idle countdown, and the hard limit as the
watchdog read it from the instance)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tui import vminfo

START = 1_800_000_000.0


def info_dict(tmp_path: Path, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 2,
        "instance": "stablelm-tui-t4",
        "zone": "asia-northeast1-a",
        "profile": "t4",
        "machine_type": "n1-highmem-8",
        "gpu": "nvidia-tesla-t4",
        "hourly_usd": 0.36,
        "price_date": "2026-12-01",
        "jpy_per_usd": 150,
        "started_at": START,
        "idle_minutes": 30,
        "idle_action": "delete",
        "heartbeat_path": str(tmp_path / "heartbeat"),
        "watchdog_state_path": str(tmp_path / "watchdog.state"),
        "limit_path": str(tmp_path / "limit"),
    }
    data.update(over)
    return data


@pytest.fixture
def info_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(info_dict(tmp_path)))
    monkeypatch.setenv(vminfo.ENV_VAR, str(path))
    return path


def test_not_on_a_vm_means_no_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(vminfo.ENV_VAR, str(tmp_path / "absent.json"))
    assert vminfo.load_info() is None
    assert vminfo.read_status() is None
    assert vminfo.Heartbeat.for_this_vm().beat() is False


def test_default_path_without_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(vminfo.ENV_VAR, raising=False)
    assert vminfo.info_path() == Path("/etc/stablelm-tui/vm.json")


LIMIT_OK = f"status=ok\ntermination_at={int(START) + 8 * 3600}\nmax_run_seconds=28800\naction=DELETE\nchecked_at={int(START)}\n"


def test_elapsed_cost_and_limit(info_file: Path) -> None:
    info = vminfo.load_info()
    assert info is not None
    limit = vminfo.parse_hard_limit(LIMIT_OK)
    status = vminfo.compute_status(info, START + 2 * 3600, limit=limit)
    assert status.elapsed_s == 7200
    assert status.cost_usd == pytest.approx(0.72)
    assert status.cost_jpy == pytest.approx(108)
    assert status.hard_limit_left_s == 6 * 3600 and status.hard_limit_status == "ok"
    # No watchdog state: the full period, starting when the user leaves.
    assert status.idle_left_s == 1800 and not status.idle_counting
    line = vminfo.format_status(status)
    assert line == "VM 2h00m · ≈$0.72 (≈¥108) · idle delete 30m after you leave · limit 6h00m"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param(LIMIT_OK, "limit 7h50m", id="read-from-the-instance"),
        pytest.param(
            "status=none\nlast_start=1800000000\nchecked_at=1\n", "NO hard limit", id="instance-has-none"
        ),
        pytest.param("status=unknown\nerror=PERMISSION_DENIED\n", "limit ?", id="could-not-ask"),
        pytest.param("status=ok\n", "limit ?", id="ok-without-a-time-is-not-trusted"),
        pytest.param(None, "limit ?", id="not-read-yet"),
    ],
)
def test_the_limit_shown_is_the_one_the_watchdog_read_from_the_instance(
    info_file: Path, tmp_path: Path, text: str | None, shown: str
) -> None:
    if text is not None:
        (tmp_path / "limit").write_text(text)
    status = vminfo.read_status(now=START + 600)
    assert status is not None
    assert vminfo.format_status(status).endswith(shown)


@pytest.mark.parametrize(
    ("idle_since", "heartbeat", "now", "left", "counting"),
    [
        pytest.param(None, None, START + 600, 1800, False, id="someone-connected"),
        pytest.param(START, None, START + 600, 1200, True, id="idle-ten-minutes"),
        pytest.param(START, START + 300, START + 600, 1500, True, id="heartbeat-after-idle-start"),
        pytest.param(START + 300, START, START + 600, 1500, True, id="heartbeat-before-idle-start"),
        pytest.param(START, None, START + 4000, 0, True, id="overdue-clamps-to-zero"),
    ],
)
def test_idle_countdown(
    tmp_path: Path, idle_since: float | None, heartbeat: float | None, now: float, left: float, counting: bool
) -> None:
    info = vminfo.parse_info(info_dict(tmp_path))
    state = vminfo.WatchdogState(idle_since=idle_since, last_check=now, busy="" if idle_since else "ssh")
    status = vminfo.compute_status(info, now, state, heartbeat)
    assert (status.idle_left_s, status.idle_counting) == (left, counting)


def test_read_status_uses_the_watchdog_state_and_heartbeat(info_file: Path, tmp_path: Path) -> None:
    (tmp_path / "watchdog.state").write_text(
        f"idle_since={int(START)}\nlast_check={int(START) + 540}\nbusy=\n"
    )
    heartbeat = tmp_path / "heartbeat"
    heartbeat.touch()
    os.utime(heartbeat, (START + 120, START + 120))
    status = vminfo.read_status(now=START + 600)
    assert status is not None
    assert status.idle_counting and status.idle_left_s == 1800 - 480
    assert "idle delete in 22m" in vminfo.format_status(status)


def test_a_version_1_file_still_gives_cost_and_idle_but_not_its_creation_time_limit(tmp_path: Path) -> None:
    old = info_dict(tmp_path, version=1, max_run_seconds=8 * 3600, termination_action="DELETE")
    del old["limit_path"]
    status = vminfo.compute_status(vminfo.parse_info(old), START + 2 * 3600)
    assert (
        vminfo.format_status(status)
        == "VM 2h00m · ≈$0.72 (≈¥108) · idle delete 30m after you leave · limit ?"
    )


def test_no_rate_means_no_yen(tmp_path: Path) -> None:
    info = vminfo.parse_info(info_dict(tmp_path, jpy_per_usd=0))
    status = vminfo.compute_status(info, START + 60)
    assert status.hard_limit_left_s is None and status.cost_jpy is None
    assert "¥" not in vminfo.format_status(status)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"version": 3}, "unsupported version"),
        ({"hourly_usd": "cheap"}, "hourly_usd"),
        ({"idle_minutes": 0}, "idle_minutes must be positive"),
        ({"started_at": True}, "started_at"),
    ],
)
def test_bad_files_are_clear_errors_and_never_break_read_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, over: dict[str, Any], message: str
) -> None:
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(info_dict(tmp_path, **over)))
    with pytest.raises(vminfo.VmInfoError, match=message):
        vminfo.load_info(path)
    monkeypatch.setenv(vminfo.ENV_VAR, str(path))
    assert vminfo.read_status() is None


def test_not_json_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "vm.json"
    path.write_text("{")
    with pytest.raises(vminfo.VmInfoError, match="not valid JSON"):
        vminfo.load_info(path)


def test_heartbeat_touches_at_most_once_per_interval(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    path.touch()
    os.utime(path, (0, 0))
    clock = [100.0]
    beat = vminfo.Heartbeat(path, min_interval=30, clock=lambda: clock[0])
    assert beat.beat() is True
    assert path.stat().st_mtime > 1_000_000  # now, not the epoch
    os.utime(path, (0, 0))
    clock[0] = 120.0
    assert beat.beat() is False and path.stat().st_mtime == 0
    clock[0] = 131.0
    assert beat.beat() is True and path.stat().st_mtime > 0


def test_heartbeat_never_raises(tmp_path: Path) -> None:
    assert vminfo.touch_heartbeat(tmp_path / "missing-dir" / "heartbeat") is False
    assert vminfo.touch_heartbeat(tmp_path / "new") is True  # created when the directory allows it


def test_vminfo_is_headless() -> None:
    probe = "import sys, tui.vminfo; print(sorted(m for m in ('textual', 'torch') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
