"""The idle watchdog (provisioning/watchdog.sh) with fakes of ps, who, ss, nvidia-smi, shutdown and gcloud that print
what the real tools print (provisioning_fakes): a public port 22 full of scanners, sshd's process titles before and
after a login, a tmux server left behind, an instance with or without Google's hard limit.

The clock is WATCHDOG_NOW and the state lives in a temp dir, so half an hour of one-minute checks takes seconds.
The rule under test: act only when no SSH login, an idle GPU and a stale heartbeat held at every check of the whole
period; never while someone is logged in over SSH.
"""

from __future__ import annotations

import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.provisioning_fakes import (
    PROVISIONING,
    PS_ALICE_NEW_OPENSSH,
    PS_ALICE_NOTTY,
    PS_ALICE_TTY,
    PS_ALICE_TUNNEL,
    PS_SCANNERS,
    PS_SYSTEM,
    PS_TMUX_LEFT_BEHIND,
    SS_SCANNERS,
    T0,
    WHO_ALICE,
    FakeCloud,
    install_vm_tools,
)

WATCHDOG = PROVISIONING / "watchdog.sh"
MINUTE = 60
VM = "stablelm-tui-t4"
ZONE = "asia-northeast1-a"
SS_ALICE = "0      0          10.146.0.2:22      203.0.113.7:51544\n"


@dataclass
class Box:
    tmp: Path
    cloud: FakeCloud
    env: dict[str, str]
    heartbeat: Path
    conf: Path

    def configure(self, **settings: object) -> None:
        base = {
            "IDLE_MINUTES": 30,
            "IDLE_ACTION": "stop",
            "GPU_BUSY_PERCENT": 10,
            "HEARTBEAT": self.heartbeat,
            "STATE_FILE": self.tmp / "run" / "watchdog.state",
            "LIMIT_FILE": self.tmp / "run" / "limit",
            "MAX_RUN_SECONDS": 8 * 3600,
            "INSTANCE": VM,
            "ZONE": ZONE,
        }
        base.update(settings)
        self.conf.write_text("# test\n" + "".join(f"{k}={v}\n" for k, v in base.items()))

    def touch_heartbeat(self, when: int) -> None:
        self.heartbeat.touch()
        os.utime(self.heartbeat, (when, when))

    def tick(self, now: int, *, ps: str = "", who: str = "", ss: str = "", gpu: str = "0") -> list[str]:
        """One watchdog run at `now` with this process table, logins and sockets; returns what it did to the VM
        (shutdown lines, gcloud delete calls)."""
        (self.tmp / "ps.txt").write_text(PS_SYSTEM + ps)
        (self.tmp / "who.txt").write_text(who)
        (self.tmp / "ss.txt").write_text(ss)
        (self.tmp / "gpu.txt").write_text(gpu)
        actions = self.tmp / "actions.log"
        before = actions.read_text().splitlines() if actions.exists() else []
        deletes_before = len(self.cloud.commands("instances", "delete"))
        done = subprocess.run(
            ["bash", str(WATCHDOG)],
            env={**self.env, "WATCHDOG_NOW": str(now), "FAKE_NOW": str(now)},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        after = actions.read_text().splitlines() if actions.exists() else []
        deletes = [
            " ".join(["gcloud", *c]) for c in self.cloud.commands("instances", "delete")[deletes_before:]
        ]
        return deletes + after[len(before) :]

    def state(self) -> dict[str, str]:
        return dict(
            line.split("=", 1) for line in (self.tmp / "run" / "watchdog.state").read_text().splitlines()
        )

    def limit(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in (self.tmp / "run" / "limit").read_text().splitlines())


@pytest.fixture
def box(tmp_path: Path) -> Box:
    bin_dir = tmp_path / "bin"
    install_vm_tools(bin_dir, tmp_path)
    cloud = FakeCloud(tmp_path, bin_dir)
    cloud.add_instance(VM, ZONE, started=T0 - 600)
    conf = tmp_path / "watchdog.conf"
    env = {**cloud.env, "FAKE_DIR": str(tmp_path), "STABLELM_TUI_WATCHDOG_CONF": str(conf)}
    b = Box(tmp_path, cloud, env, tmp_path / "heartbeat", conf)
    b.configure()
    b.touch_heartbeat(T0 - 3600)
    return b


def run_minutes(box: Box, minutes: int, start: int = T0, **seen: str) -> list[tuple[int, list[str]]]:
    return [(m, box.tick(start + m * MINUTE, **seen)) for m in range(minutes + 1)]


def test_shuts_down_after_the_whole_idle_period(box: Box) -> None:
    results = run_minutes(box, 31)
    acted = [m for m, actions in results if actions]
    # Idle from the first check (minute 0): the period is complete at minute 30, not a check earlier.
    assert acted[0] == 30
    assert results[30][1] == [
        "shutdown -h now stablelm-tui: idle for 30 minutes (no SSH login, idle GPU, no app activity)"
    ]


def test_ssh_scanners_do_not_keep_an_idle_vm_alive(box: Box) -> None:
    """Bots hold TCP connections to the public port 22 all day; none of them ever logs in."""
    results = run_minutes(box, 30, ps=PS_SCANNERS, ss=SS_SCANNERS)
    assert results[30][1] and not any(actions for _, actions in results[:30])
    assert box.state()["ssh_sessions"] == "0"


@pytest.mark.parametrize(
    ("ps", "who"),
    [
        pytest.param(PS_ALICE_TTY, WHO_ALICE, id="terminal"),
        pytest.param(PS_ALICE_NOTTY, "", id="scp-or-remote-command"),
        pytest.param(PS_ALICE_TUNNEL, "", id="port-forward-only"),
        pytest.param(PS_ALICE_NEW_OPENSSH, WHO_ALICE, id="openssh-9.8-sshd-session"),
    ],
)
def test_never_acts_while_someone_is_logged_in_over_ssh(box: Box, ps: str, who: str) -> None:
    # Half as long again as the period, everything else idle, scanners knocking, a stale heartbeat: no action.
    results = run_minutes(box, 45, ps=PS_SCANNERS + ps, who=who, ss=SS_SCANNERS + SS_ALICE)
    assert all(not actions for _, actions in results)
    assert box.state()["busy"] == "ssh" and box.state()["ssh_sessions"] == "1"


def test_a_tmux_session_left_behind_is_not_a_user(box: Box) -> None:
    who = "alice    pts/1        2026-11-28 09:01 (tmux(4242).%0)\n"
    results = run_minutes(box, 30, ps=PS_TMUX_LEFT_BEHIND, who=who)
    assert results[30][1] and not any(actions for _, actions in results[:30])


def test_one_login_in_the_period_restarts_the_count(box: Box) -> None:
    for m in range(0, 29):
        assert box.tick(T0 + m * MINUTE) == []
    assert box.tick(T0 + 29 * MINUTE, ps=PS_ALICE_TTY, who=WHO_ALICE) == []
    for m in range(30, 60):  # idle again from minute 30: nothing until minute 60
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
    assert run_minutes(box, 30, gpu="")[30][1]  # the fake nvidia-smi fails, as with no driver


def test_delete_action_deletes_the_vm_and_its_disks(box: Box) -> None:
    box.configure(IDLE_ACTION="delete", IDLE_MINUTES=5)
    results = run_minutes(box, 5)
    assert results[5][1] == [f"gcloud compute instances delete {VM} --zone={ZONE} --delete-disks=all --quiet"]
    assert box.cloud.state()["instances"] == []


def test_delete_without_permission_falls_back_to_shutdown(box: Box) -> None:
    box.configure(IDLE_ACTION="delete", IDLE_MINUTES=5)
    box.cloud.fail("delete", "ERROR: (gcloud.compute.instances.delete) Could not fetch resource:\n - Required "
                   "'compute.instances.delete' permission for 'projects/p/zones/asia-northeast1-a/instances/x'")  # fmt: skip
    actions = run_minutes(box, 5)[5][1]
    assert actions[0].startswith("gcloud compute instances delete")
    assert actions[1].startswith("shutdown -h now")


# --- the hard limit, read from the instance -------------------------------------------------------------------


def test_the_hard_limit_is_read_from_the_instance(box: Box) -> None:
    box.tick(T0)
    limit = box.limit()
    assert limit["status"] == "ok"
    assert (
        int(limit["termination_at"]) == T0 - 600 + 8 * 3600
    )  # resourceStatus.scheduling.terminationTimestamp
    assert (limit["max_run_seconds"], limit["action"], limit["checked_at"]) == ("28800", "DELETE", str(T0))
    # The termination time only changes when the VM stops and starts: asked again after ten minutes, not before.
    for m in range(1, 10):
        box.tick(T0 + m * MINUTE)
    assert len(box.cloud.commands("instances", "describe")) == 1
    box.tick(T0 + 10 * MINUTE)
    assert len(box.cloud.commands("instances", "describe")) == 2


def test_an_instance_without_a_limit_is_held_to_the_one_vm_up_asked_for(box: Box) -> None:
    box.cloud.state_file.write_text('{"project": "p", "instances": []}')
    box.cloud.add_instance(VM, ZONE, max_run=None, started=T0)
    box.configure(MAX_RUN_SECONDS=3600, IDLE_MINUTES=600)
    busy = {"ps": PS_ALICE_TTY, "who": WHO_ALICE}
    assert box.tick(T0 + 59 * MINUTE, **busy) == []
    assert box.limit()["status"] == "none"
    assert box.tick(T0 + 60 * MINUTE, **busy) == [
        "shutdown -h now stablelm-tui: ran 60 minutes without a hard limit on the instance"
    ]


def test_a_failing_gcloud_leaves_the_limit_unknown_and_asks_again(box: Box) -> None:
    box.cloud.fail(
        "describe", "ERROR: (gcloud.compute.instances.describe) PERMISSION_DENIED: no compute scope"
    )
    box.tick(T0)
    assert box.limit()["status"] == "unknown" and "PERMISSION_DENIED" in box.limit()["error"]
    box.tick(T0 + MINUTE)
    assert len(box.cloud.commands("instances", "describe")) == 2


@pytest.mark.parametrize(
    "setting",
    [
        {"IDLE_MINUTES": "soon"},
        {"IDLE_MINUTES": 0},
        {"IDLE_ACTION": "reboot"},
        {"GPU_BUSY_PERCENT": "x"},
        {"MAX_RUN_SECONDS": "8h"},
    ],
)
def test_bad_settings_are_refused(box: Box, setting: dict[str, object]) -> None:
    box.configure(**setting)
    done = subprocess.run(
        ["bash", str(WATCHDOG)], env={**box.env, "WATCHDOG_NOW": str(T0)}, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert not (box.tmp / "actions.log").exists() and not box.cloud.commands("instances", "delete")


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
        actions = box.tick(
            now,
            ps=PS_SCANNERS + (PS_ALICE_TTY if ssh else ""),
            ss=SS_SCANNERS,
            gpu="95\n" if gpu_busy else "1\n",
        )
        idle_check = not ssh and not gpu_busy
        run_start = (run_start if run_start is not None else now) if idle_check else None
        expected = run_start is not None and now - run_start >= period and now - heartbeat >= period
        assert bool(actions) == expected, (m, ssh, gpu_busy, now - heartbeat, run_start)
        assert not (ssh and actions)
        acted += bool(actions)
    assert acted > 3  # the sequence exercised the action, not only the waiting
