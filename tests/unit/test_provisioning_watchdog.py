"""The idle watchdog (provisioning/watchdog.sh) with fake `who`, `ss`, `nvidia-smi`, `shutdown` and `gcloud`.

The clock is WATCHDOG_NOW and the state file lives in a temp dir, so half an hour of one-minute checks takes a
second. The rule under test: act only when no SSH session, an idle GPU and a stale heartbeat held at every
check of the whole period; never while an SSH session exists.
"""

from __future__ import annotations

import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.test_provisioning_vm import PROVISIONING, make_fake

WATCHDOG = PROVISIONING / "watchdog.sh"
T0 = 1_800_000_000  # an arbitrary "now" in 2027; the fakes do not care
MINUTE = 60


@dataclass
class Box:
    tmp: Path
    env: dict[str, str]
    actions: Path
    heartbeat: Path
    conf: Path

    def configure(self, **settings: object) -> None:
        base = {
            "IDLE_MINUTES": 30,
            "IDLE_ACTION": "stop",
            "GPU_BUSY_PERCENT": 10,
            "HEARTBEAT": self.heartbeat,
            "STATE_FILE": self.tmp / "run" / "watchdog.state",
            "INSTANCE": "stablelm-tui-t4",
            "ZONE": "asia-northeast1-a",
        }
        base.update(settings)
        self.conf.write_text("# test\n" + "".join(f"{k}={v}\n" for k, v in base.items()))

    def touch_heartbeat(self, when: int) -> None:
        self.heartbeat.touch()
        os.utime(self.heartbeat, (when, when))

    def tick(self, now: int, *, who: str = "", gpu: str = "0", ss: str = "", gcloud_rc: int = 0) -> list[str]:
        """One watchdog run at `now`; returns the actions it took (shutdown / gcloud lines)."""
        (self.tmp / "who.txt").write_text(who)
        (self.tmp / "gpu.txt").write_text(gpu)
        (self.tmp / "ss.txt").write_text(ss)
        before = self.actions.read_text().splitlines() if self.actions.exists() else []
        done = subprocess.run(
            ["bash", str(WATCHDOG)],
            env={**self.env, "WATCHDOG_NOW": str(now), "FAKE_GCLOUD_RC": str(gcloud_rc)},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        after = self.actions.read_text().splitlines() if self.actions.exists() else []
        return after[len(before) :]

    def state(self) -> dict[str, str]:
        text = (self.tmp / "run" / "watchdog.state").read_text()
        return dict(line.split("=", 1) for line in text.splitlines())


@pytest.fixture
def box(tmp_path: Path) -> Box:
    bin_dir = tmp_path / "bin"
    actions = tmp_path / "actions.log"
    make_fake(bin_dir, "who", 'cat "$FAKE_DIR/who.txt"\n')
    make_fake(bin_dir, "ss", 'cat "$FAKE_DIR/ss.txt"\n')
    make_fake(bin_dir, "nvidia-smi", '[[ -s "$FAKE_DIR/gpu.txt" ]] || exit 9\ncat "$FAKE_DIR/gpu.txt"\n')
    make_fake(bin_dir, "shutdown", 'echo "shutdown $*" >>"$FAKE_DIR/actions.log"\n')
    make_fake(bin_dir, "gcloud", 'echo "gcloud $*" >>"$FAKE_DIR/actions.log"\nexit "${FAKE_GCLOUD_RC:-0}"\n')
    conf = tmp_path / "watchdog.conf"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_DIR": str(tmp_path),
        "STABLELM_TUI_WATCHDOG_CONF": str(conf),
    }
    b = Box(tmp_path, env, actions, tmp_path / "heartbeat", conf)
    b.configure()
    b.touch_heartbeat(T0 - 3600)
    return b


def run_minutes(
    box: Box, minutes: int, start: int = T0, *, who: str = "", gpu: str = "0", ss: str = ""
) -> list[tuple[int, list[str]]]:
    return [(m, box.tick(start + m * MINUTE, who=who, gpu=gpu, ss=ss)) for m in range(minutes + 1)]


def test_shuts_down_after_the_whole_idle_period(box: Box) -> None:
    results = run_minutes(box, 31)
    acted = [m for m, actions in results if actions]
    # Idle from the first check (minute 0): the period is complete at minute 30, not a check earlier.
    assert acted[0] == 30
    assert results[30][1] == [
        "shutdown -h now stablelm-tui: idle for 30 minutes (no SSH, idle GPU, no app activity)"
    ]


@pytest.mark.parametrize(
    "who",
    [
        "alice    pts/0        2026-11-28 09:00 (203.0.113.7)\n",
        "alice    pts/0        2026-11-28 09:00 (203.0.113.7)\nalice    pts/1        2026-11-28 09:01 (tmux(42).%0)\n",
    ],
)
def test_never_acts_while_an_ssh_session_exists(box: Box, who: str) -> None:
    # Three periods with everything else idle and a heartbeat older than the period: still no action.
    results = run_minutes(box, 90, who=who)
    assert all(not actions for _, actions in results)
    assert box.state()["busy"] == "ssh"


def test_an_ssh_connection_without_a_terminal_counts(box: Box) -> None:
    ss_line = "ESTAB 0 0 10.0.0.2:22 35.235.240.1:40000\n"
    assert all(not actions for _, actions in run_minutes(box, 60, ss=ss_line))


def test_tmux_panes_alone_are_not_a_session(box: Box) -> None:
    results = run_minutes(box, 30, who="alice    pts/1        2026-11-28 09:01 (tmux(42).%0)\n")
    assert results[30][1] and not any(actions for _, actions in results[:30])


def test_one_session_in_the_period_restarts_the_count(box: Box) -> None:
    for m in range(0, 29):
        assert box.tick(T0 + m * MINUTE) == []
    assert box.tick(T0 + 29 * MINUTE, who="bob pts/0 2026-11-28 09:00 (198.51.100.2)\n") == []
    # Idle again from minute 30: nothing until minute 60.
    for m in range(30, 60):
        assert box.tick(T0 + m * MINUTE) == [], m
    assert box.tick(T0 + 60 * MINUTE)


def test_a_busy_gpu_restarts_the_count(box: Box) -> None:
    for m in range(0, 20):
        assert box.tick(T0 + m * MINUTE) == []
    assert box.tick(T0 + 20 * MINUTE, gpu="3\n87\n") == []  # the second GPU is busy
    assert box.state()["busy"] == "gpu"
    for m in range(21, 51):
        assert box.tick(T0 + m * MINUTE, gpu="5\n2\n") == [], m
    assert box.tick(T0 + 51 * MINUTE, gpu="5\n2\n")


def test_a_fresh_heartbeat_holds_off_the_action(box: Box) -> None:
    box.touch_heartbeat(T0 + 10 * MINUTE)  # the app was used ten minutes in
    for m in range(0, 40):
        assert box.tick(T0 + m * MINUTE) == [], m
    assert box.tick(T0 + 40 * MINUTE)


def test_a_gap_between_checks_restarts_the_count(box: Box) -> None:
    box.tick(T0)
    # Nothing checked for 20 minutes (the VM was suspended, the timer did not run): that time is not known idle.
    for m in range(20, 50):
        assert box.tick(T0 + m * MINUTE) == [], m
    assert box.tick(T0 + 50 * MINUTE)


def test_no_gpu_driver_counts_as_an_idle_gpu(box: Box) -> None:
    results = run_minutes(box, 30, gpu="")  # the fake nvidia-smi fails, as with no driver
    assert results[30][1]


def test_delete_action_deletes_the_vm_and_its_disks(box: Box) -> None:
    box.configure(IDLE_ACTION="delete", IDLE_MINUTES=5)
    results = run_minutes(box, 5)
    assert results[5][1] == [
        "gcloud compute instances delete stablelm-tui-t4 --zone=asia-northeast1-a --delete-disks=all --quiet"
    ]


def test_delete_without_permission_falls_back_to_shutdown(box: Box) -> None:
    box.configure(IDLE_ACTION="delete", IDLE_MINUTES=5)
    for m in range(5):
        box.tick(T0 + m * MINUTE, gcloud_rc=1)
    actions = box.tick(T0 + 5 * MINUTE, gcloud_rc=1)
    assert actions[0].startswith("gcloud compute instances delete")
    assert actions[1].startswith("shutdown -h now")


@pytest.mark.parametrize(
    "setting",
    [{"IDLE_MINUTES": "soon"}, {"IDLE_MINUTES": 0}, {"IDLE_ACTION": "reboot"}, {"GPU_BUSY_PERCENT": "x"}],
)
def test_bad_settings_are_refused(box: Box, setting: dict[str, object]) -> None:
    box.configure(**setting)
    done = subprocess.run(
        ["bash", str(WATCHDOG)], env={**box.env, "WATCHDOG_NOW": str(T0)}, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert not box.actions.exists()


def test_random_activity_matches_the_rule(box: Box) -> None:
    """Two hours of random activity against the rule written out plainly, check by check."""
    rng = random.Random(7)
    box.configure(IDLE_MINUTES=5)
    period = 5 * MINUTE
    heartbeat = T0 - 3600
    run_start: int | None = None  # first check of the current unbroken run of idle checks
    acted = 0
    for m in range(120):
        now = T0 + m * MINUTE
        ssh = rng.random() < 0.08
        gpu_busy = rng.random() < 0.08
        if rng.random() < 0.05:
            heartbeat = now - rng.randrange(0, 50)
            box.touch_heartbeat(heartbeat)
        actions = box.tick(now, who="u pts/0 x (1.2.3.4)\n" if ssh else "", gpu="95\n" if gpu_busy else "1\n")
        idle_check = not ssh and not gpu_busy
        run_start = (run_start if run_start is not None else now) if idle_check else None
        expected = run_start is not None and now - run_start >= period and now - heartbeat >= period
        assert bool(actions) == expected, (m, ssh, gpu_busy, now - heartbeat, run_start)
        assert not (ssh and actions)
        acted += bool(actions)
    assert acted > 3  # the sequence exercised the action, not only the waiting
