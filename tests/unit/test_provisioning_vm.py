"""`provisioning/vm` against a fake `gcloud` on PATH that records its arguments (no cloud account needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROVISIONING = REPO / "provisioning"
VM = PROVISIONING / "vm"
sys.path.insert(0, str(PROVISIONING))

from vmctl import gcloud  # noqa: E402
from vmctl.cli import Context, clone_url, main  # noqa: E402
from vmctl.errors import VmError  # noqa: E402
from vmctl.instances import parse_list, row  # noqa: E402
from vmctl.prices import load_table, parse_table  # noqa: E402
from vmctl.profiles import PROFILES, order_zones  # noqa: E402
from vmctl.runner import DryRunRunner, Result  # noqa: E402

# The fake gcloud: appends its argv as one JSON line to $FAKE_LOG, then behaves as the test asked:
#   instances create in a zone listed in $FAKE_STOCKOUT -> stockout error; accelerator-types list -> $FAKE_ZONES;
#   instances list -> the file $FAKE_LIST; anything listed in $FAKE_FAIL (a subcommand word) -> generic error.
FAKE_GCLOUD = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as fh:
    fh.write(json.dumps(args) + "\\n")
words = [a for a in args if not a.startswith("-")]
if os.environ.get("FAKE_FAIL") and os.environ["FAKE_FAIL"] in words:
    print("ERROR: (gcloud.compute) PERMISSION_DENIED: nope", file=sys.stderr)
    sys.exit(1)
if words[:3] == ["compute", "instances", "create"]:
    zone = next(a.split("=", 1)[1] for a in args if a.startswith("--zone="))
    if zone in os.environ.get("FAKE_STOCKOUT", "").split(","):
        print("ERROR: (gcloud.compute.instances.create) Could not fetch resource:\\n - The zone '" + zone
              + "' does not have enough resources available to fulfill the request. "
              "'(resource type:compute)'. ZONE_RESOURCE_POOL_EXHAUSTED", file=sys.stderr)
        sys.exit(1)
    if os.environ.get("FAKE_EXISTS"):
        print("ERROR: (gcloud.compute.instances.create) Could not fetch resource:\\n - The resource "
              "'projects/p/zones/" + zone + "/instances/" + words[3] + "' already exists", file=sys.stderr)
        sys.exit(1)
    print("[]")
elif words[:3] == ["compute", "accelerator-types", "list"]:
    print("\\n".join(os.environ.get("FAKE_ZONES", "").split(",")))
elif words[:3] == ["compute", "instances", "list"]:
    path = os.environ.get("FAKE_LIST")
    print(open(path).read() if path else "[]")
"""


def make_fake(bin_dir: Path, name: str, body: str, *, python: bool = False) -> Path:
    """An executable on a test PATH; Python fakes run with this interpreter, shell fakes with bash."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    shebang = f"#!{sys.executable}\n" if python else "#!/usr/bin/env bash\n"
    path.write_text(shebang + body)
    path.chmod(0o755)
    return path


class FakeCloud:
    def __init__(self, tmp_path: Path) -> None:
        self.bin = tmp_path / "bin"
        self.log = tmp_path / "gcloud.log"
        make_fake(self.bin, "gcloud", FAKE_GCLOUD, python=True)
        self.env = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_LOG": str(self.log),
        }

    def vm(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(VM), *args],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            timeout=60,
        )

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def creates(self) -> list[list[str]]:
        return [c for c in self.calls() if c[:3] == ["compute", "instances", "create"]]


@pytest.fixture
def cloud(tmp_path: Path) -> FakeCloud:
    return FakeCloud(tmp_path)


def flag(argv: list[str], name: str) -> str | None:
    return next((a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")), None)


@pytest.mark.parametrize(
    ("profile", "machine", "accelerator"),
    [
        ("t4", "n1-highmem-8", "type=nvidia-tesla-t4,count=1"),
        ("l4", "g2-standard-8", None),
        ("a100", "a2-highgpu-1g", None),
    ],
)
def test_up_sends_spot_limit_and_label_flags_for_each_profile(
    cloud: FakeCloud, profile: str, machine: str, accelerator: str | None
) -> None:
    done = cloud.vm(
        "up", "--profile", profile, "--repo", "https://example.com/r.git", FAKE_ZONES="us-central1-a"
    )
    assert done.returncode == 0, done.stderr
    (create,) = cloud.creates()
    assert create[3] == f"stablelm-tui-{profile}"
    assert flag(create, "zone") == "us-central1-a"
    assert flag(create, "machine-type") == machine
    assert flag(create, "accelerator") == accelerator
    assert flag(create, "provisioning-model") == "SPOT"
    assert flag(create, "instance-termination-action") == "DELETE"
    assert flag(create, "max-run-duration") == "8h"
    assert flag(create, "maintenance-policy") == "TERMINATE"
    labels = dict(pair.split("=") for pair in (flag(create, "labels") or "").split(","))
    assert labels["stablelm-tui"] == "managed"
    assert labels["stablelm-tui-profile"] == profile
    files = flag(create, "metadata-from-file") or ""
    assert f"startup-script={PROVISIONING / 'startup.sh'}" in files
    assert f"stablelm-tui-watchdog={PROVISIONING / 'watchdog.sh'}" in files
    metadata = dict(pair.split("=", 1) for pair in (flag(create, "metadata") or "").split(","))
    assert metadata["stablelm-tui-max-run-seconds"] == "28800"
    assert float(metadata["stablelm-tui-hourly-usd"]) > 0
    assert "compute-rw" in (flag(create, "scopes") or "")  # the watchdog's default action is delete


def test_up_flags_follow_the_options(cloud: FakeCloud) -> None:
    done = cloud.vm(
        "up", "--profile", "t4", "--zones", "asia-northeast1-c", "--max-run-duration", "3h30m",
        "--on-preempt", "stop", "--idle-action", "stop", "--idle-minutes", "45", "--repo", "git@github.com:u/r.git",
        "--name", "mine", "--project", "p1", "--disk-gb", "150",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (create,) = cloud.creates()
    assert flag(create, "max-run-duration") == "3h30m"
    assert flag(create, "instance-termination-action") == "STOP"
    assert flag(create, "project") == "p1"
    assert flag(create, "boot-disk-size") == "150GB"
    assert flag(create, "scopes") == "default"
    metadata = flag(create, "metadata") or ""
    assert "stablelm-tui-idle-minutes=45" in metadata
    assert "stablelm-tui-idle-action=stop" in metadata
    assert "stablelm-tui-repo=https://github.com/u/r.git" in metadata
    # --zones skips discovery entirely.
    assert not [c for c in cloud.calls() if c[1] == "accelerator-types"]


def test_stockout_in_first_zone_moves_to_the_next(cloud: FakeCloud) -> None:
    done = cloud.vm(
        "up", "--profile", "a100", "--repo", "r",
        FAKE_ZONES="us-central1-b,asia-northeast1-c,europe-west4-a,asia-northeast1-a",
        FAKE_STOCKOUT="asia-northeast1-a,asia-northeast1-c",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Discovered zones are ordered by the profile's regions; europe is not among them and is never tried.
    assert [flag(c, "zone") for c in cloud.creates()] == [
        "asia-northeast1-a",
        "asia-northeast1-c",
        "us-central1-b",
    ]
    assert "no nvidia-tesla-a100 capacity" in done.stdout
    assert "starting in us-central1-b" in done.stdout


def test_stockout_everywhere_is_a_clear_error(cloud: FakeCloud) -> None:
    done = cloud.vm("up", "--zones", "us-central1-a,us-central1-b", "--repo", "r",
                    FAKE_STOCKOUT="us-central1-a,us-central1-b")  # fmt: skip
    assert done.returncode == 2
    assert "no capacity" in done.stderr and "Traceback" not in done.stderr
    assert len(cloud.creates()) == 2


def test_other_create_errors_stop_at_once(cloud: FakeCloud) -> None:
    done = cloud.vm("up", "--zones", "us-central1-a,us-central1-b", "--repo", "r", FAKE_FAIL="create")
    assert done.returncode == 2
    assert "PERMISSION_DENIED" in done.stderr
    assert len(cloud.creates()) == 1


def test_discovery_failure_falls_back_to_the_profile_zones(cloud: FakeCloud) -> None:
    done = cloud.vm("up", "--profile", "l4", "--repo", "r", FAKE_FAIL="accelerator-types")
    assert done.returncode == 0, done.stderr
    assert flag(cloud.creates()[0], "zone") == PROFILES["l4"].zones[0]


def test_dry_run_prints_commands_and_runs_nothing(cloud: FakeCloud) -> None:
    done = cloud.vm("up", "--dry-run", "--profile", "t4", "--repo", "r")
    assert done.returncode == 0, done.stderr
    assert cloud.calls() == []
    lines = [line for line in done.stdout.splitlines() if not line.startswith("#")]
    assert lines[0].startswith("gcloud compute accelerator-types list")
    assert lines[1].startswith("gcloud compute instances create stablelm-tui-t4 ")
    assert "--provisioning-model=SPOT" in lines[1]
    assert "ZONE_RESOURCE_POOL_EXHAUSTED" in done.stdout  # says what happens on stockout


@pytest.fixture
def listed(tmp_path: Path) -> Path:
    start = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    data = [
        {
            "name": "stablelm-tui-t4",
            "zone": "https://www.googleapis.com/compute/v1/projects/p/zones/asia-northeast1-a",
            "status": "RUNNING",
            "machineType": "https://www.googleapis.com/compute/v1/projects/p/zones/x/machineTypes/n1-highmem-8",
            "guestAccelerators": [
                {"acceleratorCount": 1, "acceleratorType": "projects/p/acceleratorTypes/nvidia-tesla-t4"}
            ],
            "labels": {"stablelm-tui": "managed", "stablelm-tui-profile": "t4"},
            "disks": [{"boot": True, "diskSizeGb": "100"}],
            "lastStartTimestamp": start,
            "scheduling": {"provisioningModel": "SPOT", "maxRunDuration": {"seconds": "28800"}},
        }
    ]
    path = tmp_path / "list.json"
    path.write_text(json.dumps(data))
    return path


def test_down_deletes_the_vm_and_its_disks(cloud: FakeCloud, listed: Path) -> None:
    done = cloud.vm("down", "--yes", FAKE_LIST=str(listed))
    assert done.returncode == 0, done.stderr
    deletes = [c for c in cloud.calls() if c[:3] == ["compute", "instances", "delete"]]
    assert deletes == [
        [
            "compute",
            "instances",
            "delete",
            "stablelm-tui-t4",
            "--zone=asia-northeast1-a",
            "--delete-disks=all",
            "--quiet",
        ]
    ]


def test_down_asks_first_and_keeps_the_vm_on_no(cloud: FakeCloud, listed: Path) -> None:
    calls: list[list[str]] = []

    class Recorder:
        dry_run = False

        def run(self, argv: list[str]) -> Result:
            calls.append(argv)
            return Result(0, listed.read_text() if argv[2:4] == ["instances", "list"] else "")

        def interactive(self, argv: list[str]) -> int:
            return 0

    prompts: list[str] = []

    def say_no(text: str) -> bool:
        prompts.append(text)
        return False

    ctx = Context(runner=Recorder(), confirm=say_no)
    assert main(["down"], ctx) == 0
    assert "boot disk" in prompts[0]
    assert not [c for c in calls if "delete" in c]
    # A piped stdin gets no prompt and no deletion without --yes.
    done = cloud.vm("down", FAKE_LIST=str(listed))
    assert done.returncode == 2 and "--yes" in done.stderr


def test_down_with_several_vms_wants_a_name(cloud: FakeCloud, tmp_path: Path, listed: Path) -> None:
    data = json.loads(listed.read_text())
    data.append({**data[0], "name": "stablelm-tui-a100"})
    two = tmp_path / "two.json"
    two.write_text(json.dumps(data))
    done = cloud.vm("down", "--yes", FAKE_LIST=str(two))
    assert done.returncode == 2 and "--name" in done.stderr
    done = cloud.vm("down", "--yes", "--all", FAKE_LIST=str(two))
    assert done.returncode == 0
    assert len([c for c in cloud.calls() if "delete" in c]) == 2


def test_ssh_opens_the_tmux_session(cloud: FakeCloud, listed: Path) -> None:
    done = cloud.vm("ssh", FAKE_LIST=str(listed))
    assert done.returncode == 0, done.stderr
    ssh = next(c for c in cloud.calls() if c[:2] == ["compute", "ssh"])
    assert ssh[2] == "stablelm-tui-t4"
    assert "--ssh-flag=-t" in ssh
    assert flag(ssh, "command") == gcloud.SESSION_COMMAND
    done = cloud.vm("ssh", "--shell", "--name", "x1", "--zone", "us-central1-a")
    assert [c for c in cloud.calls() if c[:2] == ["compute", "ssh"]][-1] == [
        "compute",
        "ssh",
        "x1",
        "--zone=us-central1-a",
    ]


def test_ssh_to_a_stopped_vm_says_how_to_start_it(cloud: FakeCloud, listed: Path) -> None:
    listed.write_text(listed.read_text().replace('"RUNNING"', '"TERMINATED"'))
    done = cloud.vm("ssh", FAKE_LIST=str(listed))
    assert done.returncode == 2
    assert "gcloud compute instances start stablelm-tui-t4 --zone=asia-northeast1-a" in done.stderr
    assert not [c for c in cloud.calls() if c[:2] == ["compute", "ssh"]]


def test_an_existing_vm_is_not_retried_elsewhere(cloud: FakeCloud) -> None:
    done = cloud.vm("up", "--zones", "us-central1-a,us-central1-b", "--repo", "r", FAKE_EXISTS="1")
    assert done.returncode == 2 and "already exists" in done.stderr and "vm down" in done.stderr
    assert len(cloud.creates()) == 1


def test_status_shows_uptime_cost_and_time_left(cloud: FakeCloud, listed: Path) -> None:
    done = cloud.vm("status", FAKE_LIST=str(listed))
    assert done.returncode == 0, done.stderr
    assert [
        "compute",
        "instances",
        "list",
        f"--filter={gcloud.LABEL_FILTER}",
        "--format=json",
    ] in cloud.calls()
    header, line = done.stdout.splitlines()[:2]
    assert "COST SO FAR" in header
    assert "stablelm-tui-t4" in line and "RUNNING" in line
    assert "2h00m" in line or "1h59m" in line  # uptime
    assert "6h00m" in line or "5h59m" in line  # hard limit left of 8h
    # Tokyo T4 + n1-highmem-8 is 0.36/h plus the disk: two hours are about 0.75 USD.
    assert "$0.75" in line or "$0.76" in line
    assert "2026-11" in done.stdout


def test_status_with_nothing_running(cloud: FakeCloud) -> None:
    done = cloud.vm("status")
    assert done.returncode == 0 and "nothing is billing" in done.stdout


def test_stopped_vm_row_mentions_the_disk_bill(listed: Path) -> None:
    (inst,) = parse_list(listed.read_text().replace('"RUNNING"', '"TERMINATED"'))
    r = row(inst, load_table(), datetime.now(timezone.utc))
    assert r.uptime_s is None and r.cost_usd is None and r.limit_left_s is None
    assert r.disk_monthly_usd == pytest.approx(12.0)


@pytest.mark.parametrize(
    ("text", "seconds"), [("8h", 28800), ("90m", 5400), ("1d2h3m4s", 93784), ("30s", 30)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert gcloud.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "8", "h", "8x", "10s", "200d", "-1h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(VmError):
        gcloud.parse_duration(text)


def test_bad_input_is_one_line_not_a_traceback(cloud: FakeCloud) -> None:
    for args in (["up", "--max-run-duration", "forever", "--repo", "r"], ["up", "--name", "Bad_Name", "--repo", "r"],
                 ["up", "--idle-minutes", "1", "--repo", "r"], ["up", "--disk-gb", "20", "--repo", "r"]):  # fmt: skip
        done = cloud.vm(*args)
        assert done.returncode == 2 and done.stderr.startswith("vm: error: "), done.stderr
    assert cloud.creates() == []


def test_metadata_values_with_commas_are_refused() -> None:
    spec = gcloud.CreateSpec(
        name="a", profile=PROFILES["t4"], startup_script=Path("s"), watchdog_script=Path("w"),
        metadata={"stablelm-tui-repo": "https://x/a,b"},
    )  # fmt: skip
    with pytest.raises(VmError, match="not allowed"):
        gcloud.create_command(spec, "us-central1-a")


def test_clone_url_turns_ssh_remotes_into_https() -> None:
    assert clone_url("git@github.com:me/stablelm-tui.git") == "https://github.com/me/stablelm-tui.git"
    assert clone_url("ssh://git@github.com/me/x.git") == "https://github.com/me/x.git"
    assert clone_url("https://github.com/me/x.git") == "https://github.com/me/x.git"


def test_order_zones_keeps_preferred_regions_in_order() -> None:
    found = ["us-central1-c", "europe-west4-a", "asia-northeast1-c", "us-central1-a", "asia-northeast1-a"]
    assert order_zones(found, ("asia-northeast1", "us-central1")) == [
        "asia-northeast1-a", "asia-northeast1-c", "us-central1-a", "us-central1-c",
    ]  # fmt: skip


def test_price_table_is_dated_sourced_and_covers_every_profile() -> None:
    table = load_table()
    assert table.date == "2026-11"
    assert "APPROXIMATE" in table.note
    assert all(s.startswith("https://cloud.google.com/") for s in table.sources)
    for region in table.regions:
        for p in PROFILES.values():
            price = table.hourly(region, p.machine_type, p.gpu if p.attach_gpu else None, p.gpu_count)
            assert 0.05 < price.usd < 5, (region, p.name)
    # The user's own figure for a Tokyo spot T4 on n1-highmem-8 (work log): about 0.36 USD an hour.
    assert table.hourly("asia-northeast1", "n1-highmem-8", "nvidia-tesla-t4", 1).usd == pytest.approx(0.36)


def test_price_table_rejects_broken_data() -> None:
    with pytest.raises(VmError, match="date"):
        parse_table({"note": "n", "default_region": "r", "regions": {"r": {}}, "sources": ["s"]})
    with pytest.raises(VmError, match="non-negative"):
        parse_table({"date": "d", "note": "n", "default_region": "r", "sources": ["s"],
                     "regions": {"r": {"machine": {"x": -1}}}})  # fmt: skip
    table = parse_table(
        {"date": "d", "note": "n", "default_region": "r", "sources": ["s"], "regions": {"r": {}}}
    )
    with pytest.raises(VmError, match="no price"):
        table.hourly("r", "n1-highmem-8", None, 0)


def test_up_without_repo_uses_origin_or_says_what_to_pass() -> None:
    from io import StringIO

    out, err = StringIO(), StringIO()
    ctx = Context(runner=DryRunRunner(out=out), out=out, err=err, git_origin=lambda: None)
    assert main(["up", "--dry-run"], ctx) == 2
    assert "pass --repo" in err.getvalue()
    out = StringIO()
    ctx = Context(
        runner=DryRunRunner(out=out), out=out, err=err, git_origin=lambda: "git@github.com:me/s.git"
    )
    assert main(["up", "--dry-run"], ctx) == 0
    assert "stablelm-tui-repo=https://github.com/me/s.git" in out.getvalue()
