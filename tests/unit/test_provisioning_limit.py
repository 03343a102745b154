"""The hard limit across stops and starts, and what `vm status` reports, against the fake gcloud (which, like the
real one, keeps scheduling.maxRunDuration across a stop, drops the termination timestamp, and accepts
set-scheduling only on a stopped VM)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from io import StringIO
from pathlib import Path

import pytest

from tests.unit.provisioning_fakes import PROVISIONING, FakeCloud

sys.path.insert(0, str(PROVISIONING))

from vmctl.cli import Context, main
from vmctl.instances import parse_one
from vmctl.runner import Result


@pytest.fixture
def cloud(tmp_path: Path) -> FakeCloud:
    return FakeCloud(tmp_path)


def termination_in(inst: dict[str, object]) -> float:
    """Seconds from now until the termination timestamp Google set for this run."""
    stamp = inst["resourceStatus"]["scheduling"]["terminationTimestamp"]  # type: ignore[index]
    return datetime.fromisoformat(stamp).timestamp() - time.time()


def test_up_on_a_stopped_vm_without_a_limit_sets_one_before_starting(cloud: FakeCloud) -> None:
    cloud.add_instance(max_run=None, status="TERMINATED")
    done = cloud.vm("up", "--repo", "r")
    assert done.returncode == 0, done.stderr
    words = [c[2] for c in cloud.calls() if c[1] == "instances"]
    assert words == ["list", "set-scheduling", "start", "describe"]
    inst = cloud.instance("stablelm-tui-t4")
    assert inst["status"] == "RUNNING"
    assert inst["scheduling"]["maxRunDuration"] == {"seconds": "28800"}
    assert inst["scheduling"]["provisioningModel"] == "SPOT"
    assert termination_in(inst) == pytest.approx(8 * 3600, abs=60)
    assert not cloud.commands("instances", "create")


def test_start_re_applies_the_limit_asked_for(cloud: FakeCloud) -> None:
    cloud.add_instance(max_run="8h", status="TERMINATED")
    done = cloud.vm("start", "--max-run-duration", "4h", "--on-preempt", "stop")
    assert done.returncode == 0, done.stderr
    (scheduling,) = cloud.commands("instances", "set-scheduling")
    assert "--max-run-duration=4h" in scheduling and "--instance-termination-action=STOP" in scheduling
    inst = cloud.instance("stablelm-tui-t4")
    assert inst["scheduling"]["maxRunDuration"] == {"seconds": "14400"}
    assert termination_in(inst) == pytest.approx(4 * 3600, abs=60)
    assert "hard limit of 4h00m" in done.stdout


def test_start_refuses_to_start_when_the_limit_cannot_be_set(cloud: FakeCloud) -> None:
    cloud.add_instance(max_run=None, status="TERMINATED")
    cloud.fail("set-scheduling", "ERROR: (gcloud.compute.instances.set-scheduling) PERMISSION_DENIED: nope")
    done = cloud.vm("start")
    assert done.returncode == 2
    assert "stays stopped" in done.stderr and "PERMISSION_DENIED" in done.stderr
    assert not cloud.commands("instances", "start")
    assert cloud.instance("stablelm-tui-t4")["status"] == "TERMINATED"


def test_a_running_vm_without_a_limit_is_stopped_and_started_with_one(cloud: FakeCloud) -> None:
    cloud.add_instance(max_run=None)
    done = cloud.vm("start")
    assert done.returncode == 0, done.stderr
    assert "WITHOUT a hard limit" in done.stderr
    words = [c[2] for c in cloud.calls() if c[1] == "instances"]
    assert words == ["list", "stop", "set-scheduling", "start", "describe"]
    assert cloud.instance("stablelm-tui-t4")["scheduling"]["maxRunDuration"] == {"seconds": "28800"}


def test_a_running_vm_with_a_limit_is_left_alone(cloud: FakeCloud) -> None:
    cloud.add_instance()
    done = cloud.vm("start", "--name", "stablelm-tui-t4", "--zone", "asia-northeast1-a")
    assert done.returncode == 0, done.stderr
    assert [c[2] for c in cloud.calls() if c[1] == "instances"] == ["describe"]


def test_a_vm_that_comes_up_without_a_limit_is_stopped_again(cloud: FakeCloud) -> None:
    """Should Google ever start it without the limit just set, vm does not leave it running."""
    listed = cloud.add_instance(max_run=None, status="TERMINATED")
    assert not parse_one(json.dumps(listed)).has_hard_limit
    calls: list[list[str]] = []

    class Cloud:
        dry_run = False

        def run(self, argv: list[str]) -> Result:
            calls.append(argv)
            if argv[3] == "list":
                return Result(0, json.dumps([listed]))
            if argv[3] == "describe":
                return Result(0, json.dumps({**listed, "status": "RUNNING"}))
            return Result(0)

        def interactive(self, argv: list[str]) -> int:
            return 0

    err = StringIO()
    assert main(["start"], Context(runner=Cloud(), out=StringIO(), err=err)) == 2
    assert "came up without a hard limit" in err.getvalue()
    assert [c[3] for c in calls] == ["list", "set-scheduling", "start", "describe", "stop"]


def test_ssh_warns_about_a_vm_without_a_limit(cloud: FakeCloud) -> None:
    cloud.add_instance(max_run=None)
    done = cloud.vm("ssh")
    assert done.returncode == 0
    assert "WITHOUT a hard limit" in done.stderr and "vm start --name stablelm-tui-t4" in done.stderr


# --- status ---------------------------------------------------------------------------------------------------


def test_status_shows_uptime_cost_and_the_limit_google_reports(cloud: FakeCloud) -> None:
    cloud.add_instance(started=time.time() - 2 * 3600)
    done = cloud.vm("status")
    assert done.returncode == 0, done.stderr
    header, line = done.stdout.splitlines()[:2]
    assert "COST SO FAR" in header and "HARD LIMIT IN" in header
    assert "stablelm-tui-t4" in line and "RUNNING" in line
    assert "2h00m" in line or "1h59m" in line  # uptime
    assert "6h00m" in line or "5h59m" in line  # from resourceStatus.scheduling.terminationTimestamp
    # Tokyo T4 on n1-highmem-8 (0.16581 + 0.1311) plus the 100 GB disk (0.12 * 100 / 730): two hours ≈ 0.63.
    assert "$0.63" in line or "$0.62" in line


def test_status_flags_a_running_vm_without_a_limit(cloud: FakeCloud) -> None:
    cloud.add_instance(max_run=None)
    done = cloud.vm("status")
    line = done.stdout.splitlines()[1]
    assert line.rstrip().endswith("NONE")
    assert "running WITHOUT a hard limit: `provisioning/vm start --name stablelm-tui-t4`" in done.stdout


def test_status_says_how_old_the_prices_are(cloud: FakeCloud) -> None:
    cloud.add_instance()
    out = StringIO()
    later = datetime(2027, 3, 1, tzinfo=timezone.utc)
    ctx = Context(runner=_Replay(cloud), out=out, err=StringIO(), now=lambda: later)
    assert main(["status"], ctx) == 0
    text = out.getvalue()
    assert "read 2026-12-01 (90 days ago)" in text  # the figures this VM's row used
    assert "more than 30 days old" in text
    out = StringIO()
    ctx = Context(runner=_Replay(cloud), out=out, err=StringIO(), now=lambda: later - timedelta(days=85))
    assert main(["status"], ctx) == 0
    assert "(5 days ago)" in out.getvalue() and "more than 30 days" not in out.getvalue()


class _Replay:
    """Runs the fake gcloud in-process for code that takes a Context (to set the clock)."""

    dry_run = False

    def __init__(self, cloud: FakeCloud) -> None:
        self.cloud = cloud

    def run(self, argv: list[str]) -> Result:
        done = subprocess.run(argv, env=self.cloud.env, capture_output=True, text=True, check=False)
        return Result(done.returncode, done.stdout, done.stderr)

    def interactive(self, argv: list[str]) -> int:
        return 0


def write_guest(root: Path, **values: str) -> None:
    for key, value in values.items():
        path = root / "stablelm-tui" / key.replace("_", "-")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)


def test_status_and_ssh_explain_a_failed_setup_with_the_log_tail(cloud: FakeCloud, tmp_path: Path) -> None:
    cloud.add_instance()
    cloud.guest_dir("stablelm-tui-t4", tmp_path / "guest")
    write_guest(
        tmp_path / "guest",
        state="failed",
        message="step packages failed: apt-get install -y -q tmux exited 100: E: Unable to locate package tmux",
        log_tail="Reading package lists...\nE: Unable to locate package tmux\n",
    )
    done = cloud.vm("status")
    assert "stablelm-tui-t4: SETUP FAILED: step packages failed: apt-get install" in done.stdout
    assert "    E: Unable to locate package tmux" in done.stdout
    done = cloud.vm("ssh")
    assert "SETUP FAILED" in done.stderr and "E: Unable to locate package tmux" in done.stderr
    assert cloud.commands("ssh")  # and still connects: the session script shows the rest


def test_status_without_guest_attributes_says_nothing_about_setup(cloud: FakeCloud) -> None:
    cloud.add_instance()
    done = cloud.vm("status")
    assert done.returncode == 0 and "SETUP" not in done.stdout
    assert cloud.commands("instances", "get-guest-attributes")


def test_status_with_nothing_running(cloud: FakeCloud) -> None:
    done = cloud.vm("status")
    assert done.returncode == 0 and "nothing is billing" in done.stdout


def test_stopped_vm_row_mentions_the_disk_bill(cloud: FakeCloud) -> None:
    cloud.add_instance(status="TERMINATED")
    done = cloud.vm("status")
    assert "TERMINATED" in done.stdout and "100 GB disk still costs about $12.00" in done.stdout
    assert not cloud.commands("instances", "get-guest-attributes")
