"""`make browser` (a prerequisite of `make test`) installs Chromium only when it is missing, and says what to do
when it cannot. apt-get, id and sudo are stand-ins first on PATH that record how they were called."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = "chromium chromium-driver fonts-noto-cjk tmux"


def stand_ins(folder: Path, *, uid: int, sudo_works: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "calls.log"
    scripts = {
        "apt-get": f'echo "apt-get $*" >> {log}\n',
        "id": f"echo {uid}\n",
        "sudo": f'echo "sudo $*" >> {log}\n[ "$1" = -n ] && shift\n[ "$1" = true ] && exit {0 if sudo_works else 1}\nexec "$@"\n',
    }
    for name, body in scripts.items():
        tool = folder / name
        tool.write_text("#!/bin/sh\n" + body)
        tool.chmod(0o755)
    return log


def make_browser(tmp_path: Path, *, present: bool, uid: int = 0, sudo_works: bool = False):
    log = stand_ins(tmp_path / "bin", uid=uid, sudo_works=sudo_works)
    existing = tmp_path / "exists"
    existing.write_text("")
    existing.chmod(0o755)
    binary = str(existing) if present else str(tmp_path / "missing")
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    result = subprocess.run(
        [
            "make",
            "-s",
            "browser",
            f"CHROMIUM={binary}",
            f"CHROMEDRIVER={existing}",
            f"CJK_FONT={existing}",
            f"TMUX_BIN={existing}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    calls = log.read_text() if log.exists() else ""
    return result, calls


def test_nothing_is_installed_when_chromium_and_its_driver_are_there(tmp_path: Path) -> None:
    result, calls = make_browser(tmp_path, present=True, uid=1000)
    assert result.returncode == 0 and calls == "" and result.stdout == ""


def test_root_installs_the_browser_packages_with_apt_get(tmp_path: Path) -> None:
    result, calls = make_browser(tmp_path, present=False, uid=0)
    assert result.returncode == 0, result.stderr
    assert calls.splitlines() == [f"apt-get install -y -q {PACKAGES}"]


def test_a_user_with_passwordless_sudo_installs_through_sudo(tmp_path: Path) -> None:
    result, calls = make_browser(tmp_path, present=False, uid=1000, sudo_works=True)
    assert result.returncode == 0, result.stderr
    assert f"sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q {PACKAGES}" in calls
    assert f"apt-get install -y -q {PACKAGES}" in calls


def test_without_root_or_sudo_it_stops_with_the_command_to_run(tmp_path: Path) -> None:
    result, calls = make_browser(tmp_path, present=False, uid=1000, sudo_works=False)
    assert result.returncode != 0
    assert f"'sudo apt-get install -y {PACKAGES}' once, then make test again" in result.stderr
    assert "apt-get" not in calls
