"""`provisioning/vm up | ssh | down`, zone discovery and prices, against the fake gcloud of provisioning_fakes
(which prints what the real one prints: zones as URLs, int64 fields as strings, ...)."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timezone
from io import StringIO
from pathlib import Path

import pytest

from tests.unit.provisioning_fakes import PROVISIONING, FakeCloud

sys.path.insert(0, str(PROVISIONING))

from vmctl import gcloud
from vmctl.cli import Context, clone_url, main
from vmctl.errors import VmError
from vmctl.prices import load_table, parse_table
from vmctl.profiles import PROFILES, order_zones
from vmctl.runner import DryRunRunner, Result


@pytest.fixture
def cloud(tmp_path: Path) -> FakeCloud:
    return FakeCloud(tmp_path)


def flag(argv: list[str], name: str) -> str | None:
    return next((a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")), None)


def created_zones(cloud: FakeCloud) -> list[str | None]:
    return [flag(c, "zone") for c in cloud.commands("instances", "create")]


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
    cloud.offer(PROFILES[profile].gpu, "us-central1-a")
    done = cloud.vm("up", "--profile", profile, "--repo", "https://example.com/r.git")
    assert done.returncode == 0, done.stderr
    (create,) = cloud.commands("instances", "create")
    assert create[3] == f"stablelm-tui-{profile}"
    assert flag(create, "zone") == "us-central1-a"
    assert flag(create, "machine-type") == machine
    assert flag(create, "accelerator") == accelerator
    assert flag(create, "provisioning-model") == "SPOT"
    assert flag(create, "instance-termination-action") == "DELETE"
    assert flag(create, "max-run-duration") == "8h"
    assert flag(create, "image-family") == "ubuntu-accelerator-2404-amd64-with-nvidia-580"
    assert flag(create, "image-project") == "ubuntu-os-accelerator-images"
    labels = dict(pair.split("=") for pair in (flag(create, "labels") or "").split(","))
    assert labels["stablelm-tui"] == "managed" and labels["stablelm-tui-profile"] == profile
    files = flag(create, "metadata-from-file") or ""
    for key, script in (("startup-script", "startup.sh"), ("stablelm-tui-watchdog", "watchdog.sh")):
        assert f"{key}={PROVISIONING / script}" in files
    assert f"stablelm-tui-session={PROVISIONING / 'session.sh'}" in files
    metadata = dict(pair.split("=", 1) for pair in (flag(create, "metadata") or "").split(","))
    assert metadata["enable-guest-attributes"] == "TRUE"
    assert metadata["stablelm-tui-max-run-seconds"] == "28800"
    assert float(metadata["stablelm-tui-hourly-usd"]) > 0
    scopes = (flag(create, "scopes") or "").split(",")
    assert "compute-ro" in scopes and "compute-rw" in scopes  # read its limit; delete itself when idle
    # The new VM is read back from create's own output: Google confirms the limit.
    assert cloud.instance(f"stablelm-tui-{profile}")["scheduling"]["maxRunDuration"] == {"seconds": "28800"}


def test_up_flags_follow_the_options(cloud: FakeCloud) -> None:
    done = cloud.vm(
        "up", "--profile", "t4", "--zones", "asia-northeast1-c", "--max-run-duration", "3h30m",
        "--on-preempt", "stop", "--idle-action", "stop", "--idle-minutes", "45", "--repo", "git@github.com:u/r.git",
        "--name", "mine", "--project", "p1", "--disk-gb", "150",
        "--image-family", "ubuntu-2404-lts-amd64", "--image-project", "ubuntu-os-cloud",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (create,) = cloud.commands("instances", "create")
    assert flag(create, "max-run-duration") == "3h30m"
    assert flag(create, "instance-termination-action") == "STOP"
    assert (flag(create, "project"), flag(create, "boot-disk-size")) == ("p1", "150GB")
    assert flag(create, "image-family") == "ubuntu-2404-lts-amd64"
    assert flag(create, "scopes") == "default,compute-ro"
    metadata = flag(create, "metadata") or ""
    assert "stablelm-tui-idle-minutes=45" in metadata and "stablelm-tui-idle-action=stop" in metadata
    assert "stablelm-tui-repo=https://github.com/u/r.git" in metadata
    assert not cloud.commands("accelerator-types")  # --zones skips discovery entirely


# --- zones ------------------------------------------------------------------------------------------------------


def test_discovered_zones_are_read_from_the_urls_gcloud_prints(cloud: FakeCloud) -> None:
    # asia-northeast1-b is not among the built-in L4 zones: only a working discovery can pick it.
    cloud.offer("nvidia-l4", "us-central1-a", "asia-northeast1-b")
    done = cloud.vm("up", "--profile", "l4", "--repo", "r")
    assert done.returncode == 0, done.stderr
    assert created_zones(cloud) == ["asia-northeast1-b"]
    assert "could not list" not in done.stdout
    (listing,) = cloud.commands("accelerator-types", "list")
    assert flag(listing, "format") == "value(zone.basename())"


def test_stockout_in_first_zone_moves_to_the_next(cloud: FakeCloud) -> None:
    cloud.offer(
        "nvidia-tesla-a100", "us-central1-b", "asia-northeast1-c", "europe-west4-a", "asia-northeast1-a"
    )
    cloud.stockout("asia-northeast1-a", "asia-northeast1-c")
    done = cloud.vm("up", "--profile", "a100", "--repo", "r")
    assert done.returncode == 0, done.stderr
    # Ordered by the profile's regions; europe is not among them and is never tried.
    assert created_zones(cloud) == ["asia-northeast1-a", "asia-northeast1-c", "us-central1-b"]
    assert "no nvidia-tesla-a100 capacity" in done.stdout and "starting in us-central1-b" in done.stdout


def test_discovery_failure_falls_back_to_built_in_zones_of_the_requested_regions(cloud: FakeCloud) -> None:
    cloud.fail("accelerator-types")
    done = cloud.vm("up", "--profile", "l4", "--regions", "us-central1", "--repo", "r")
    assert done.returncode == 0, done.stderr
    assert created_zones(cloud) == ["us-central1-a"]
    assert (
        "could not list the zones offering nvidia-l4 (ERROR: (gcloud.compute) PERMISSION_DENIED"
        in done.stdout
    )


def test_no_zone_outside_the_requested_regions_is_ever_tried(cloud: FakeCloud) -> None:
    cloud.fail("accelerator-types")
    done = cloud.vm("up", "--regions", "europe-west4", "--repo", "r")
    assert done.returncode == 2 and "pass --zones" in done.stderr
    assert not cloud.commands("instances", "create")
    cloud.offer("nvidia-tesla-t4", "asia-northeast1-a")  # discovery works but finds nothing there
    cloud.heal("accelerator-types")
    done = cloud.vm("up", "--regions", "europe-west4", "--repo", "r")
    assert done.returncode == 2 and "no zone in europe-west4 offers nvidia-tesla-t4" in done.stderr
    dry = cloud.vm("up", "--dry-run", "--regions", "us-west1", "--repo", "r")
    assert "asia-" not in dry.stdout and "--zone=us-west1-a" in dry.stdout
    dry = cloud.vm("up", "--dry-run", "--regions", "europe-west4", "--repo", "r")
    assert dry.returncode == 0 and "asia-" not in dry.stdout and "--zone=ZONE" in dry.stdout


def test_stockout_everywhere_is_a_clear_error(cloud: FakeCloud) -> None:
    cloud.stockout("us-central1-a", "us-central1-b")
    done = cloud.vm("up", "--zones", "us-central1-a,us-central1-b", "--repo", "r")
    assert done.returncode == 2
    assert "no capacity" in done.stderr and "Traceback" not in done.stderr
    assert len(cloud.commands("instances", "create")) == 2


def test_other_create_errors_stop_at_once(cloud: FakeCloud) -> None:
    cloud.fail("create")
    done = cloud.vm("up", "--zones", "us-central1-a,us-central1-b", "--repo", "r")
    assert done.returncode == 2 and "PERMISSION_DENIED" in done.stderr
    assert len(cloud.commands("instances", "create")) == 1


def test_dry_run_prints_commands_and_runs_nothing(cloud: FakeCloud) -> None:
    done = cloud.vm("up", "--dry-run", "--profile", "t4", "--repo", "r")
    assert done.returncode == 0, done.stderr
    assert cloud.calls() == []
    lines = [line for line in done.stdout.splitlines() if not line.startswith("#")]
    assert lines[0].startswith("gcloud compute instances list")  # an existing VM is started, not re-created
    assert lines[1].startswith("gcloud compute accelerator-types list")
    assert lines[2].startswith("gcloud compute instances create stablelm-tui-t4 ")
    assert "--provisioning-model=SPOT" in lines[2]
    assert "ZONE_RESOURCE_POOL_EXHAUSTED" in done.stdout  # says what happens on stockout


# --- down, ssh ----------------------------------------------------------------------------------------------


def test_down_deletes_the_vm_and_its_disks(cloud: FakeCloud) -> None:
    cloud.add_instance()
    done = cloud.vm("down", "--yes")
    assert done.returncode == 0, done.stderr
    assert cloud.commands("instances", "delete") == [
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
    assert cloud.state()["instances"] == []


def test_down_asks_first_and_keeps_the_vm_on_no(cloud: FakeCloud) -> None:
    cloud.add_instance()
    listed = json.dumps(cloud.state()["instances"])  # what `instances list --format=json` prints
    calls: list[list[str]] = []

    class Recorder:
        dry_run = False

        def run(self, argv: list[str]) -> Result:
            calls.append(argv)
            return Result(0, listed if argv[2:4] == ["instances", "list"] else "")

        def interactive(self, argv: list[str]) -> int:
            return 0

    prompts: list[str] = []

    def say_no(text: str) -> bool:
        prompts.append(text)
        return False

    assert main(["down"], Context(runner=Recorder(), confirm=say_no)) == 0
    assert "boot disk" in prompts[0]
    assert not [c for c in calls if "delete" in c]
    done = cloud.vm("down")  # a piped stdin gets no prompt and no deletion without --yes
    assert done.returncode == 2 and "--yes" in done.stderr


def test_down_with_several_vms_wants_a_name(cloud: FakeCloud) -> None:
    cloud.add_instance("stablelm-tui-t4")
    cloud.add_instance("stablelm-tui-a100", "us-central1-a", profile="a100")
    done = cloud.vm("down", "--yes")
    assert done.returncode == 2 and "--name" in done.stderr
    assert cloud.vm("down", "--yes", "--all").returncode == 0
    assert len(cloud.commands("instances", "delete")) == 2


def test_ssh_opens_the_tmux_session(cloud: FakeCloud) -> None:
    cloud.add_instance()
    done = cloud.vm("ssh")
    assert done.returncode == 0, done.stderr
    (ssh,) = cloud.commands("ssh")
    assert ssh[2] == "stablelm-tui-t4" and "--ssh-flag=-t" in ssh
    assert flag(ssh, "command") == gcloud.SESSION_COMMAND
    cloud.vm("ssh", "--shell", "--name", "stablelm-tui-t4", "--zone", "asia-northeast1-a")
    assert cloud.commands("ssh")[-1] == ["compute", "ssh", "stablelm-tui-t4", "--zone=asia-northeast1-a"]


def test_ssh_to_a_stopped_vm_says_to_start_it_with_vm(cloud: FakeCloud) -> None:
    cloud.add_instance(status="TERMINATED")
    done = cloud.vm("ssh")
    assert done.returncode == 2
    assert "provisioning/vm start --name stablelm-tui-t4" in done.stderr and "hard limit" in done.stderr
    assert not cloud.commands("ssh")


# --- pure parts -------------------------------------------------------------------------------------------------


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
                 ["up", "--idle-minutes", "1", "--repo", "r"], ["up", "--disk-gb", "20", "--repo", "r"],
                 ["start", "--max-run-duration", "soon"]):  # fmt: skip
        done = cloud.vm(*args)
        assert done.returncode == 2 and done.stderr.startswith("vm: error: "), done.stderr
    assert cloud.commands("instances", "create") == []


def test_metadata_values_with_commas_are_refused() -> None:
    spec = gcloud.CreateSpec(
        name="a", profile=PROFILES["t4"], startup_script=Path("s"), watchdog_script=Path("w"),
        session_script=Path("x"), metadata={"stablelm-tui-repo": "https://x/a,b"},
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


def test_up_without_repo_uses_origin_or_says_what_to_pass() -> None:
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


# --- prices -------------------------------------------------------------------------------------------------


def test_every_price_names_its_source_and_the_day_it_was_read() -> None:
    table = load_table()
    figures = list(table.figures())
    assert figures and all(f.source in table.sources and f.read_date <= date.today() for f in figures)
    assert "skypilot-catalog" in table.sources and "006059e0" in table.sources["skypilot-catalog"]
    for region in table.regions:
        for p in PROFILES.values():
            price = table.hourly(region, p.machine_type, [(p.gpu, p.gpu_count)])
            assert 0.1 < price.usd < 3, (region, p.name)


@pytest.mark.parametrize(
    ("region", "profile", "usd"),
    [
        # SkyPilot's GCP catalog, SpotPrice: the machine's row plus the GPU's row (see prices.json's sources).
        ("us-central1", "t4", 0.12932 + 0.175),
        ("us-central1", "a100", 0.36975 + 1.4341),
        ("asia-northeast1", "t4", 0.16581 + 0.1311),
        ("asia-northeast1", "l4", 0.18845 + 0.3564),
    ],
)
def test_hourly_price_adds_every_gpu_also_the_bundled_ones(region: str, profile: str, usd: float) -> None:
    p = PROFILES[profile]
    assert load_table().hourly(region, p.machine_type, [(p.gpu, p.gpu_count)]).usd == pytest.approx(usd)


def test_price_table_rejects_broken_data() -> None:
    good = {"usd": 0.1, "source": "s", "read": "2026-12-01"}
    base = {"version": 2, "note": "n", "default_region": "r", "sources": {"s": "somewhere"}}
    with pytest.raises(VmError, match="version"):
        parse_table({**base, "version": 1, "regions": {"r": {"machine": {"x": good}}}})
    with pytest.raises(VmError, match="non-negative"):
        parse_table({**base, "regions": {"r": {"machine": {"x": {**good, "usd": -1}}}}})
    with pytest.raises(VmError, match="must name one of"):
        parse_table({**base, "regions": {"r": {"machine": {"x": {**good, "source": "rumour"}}}}})
    with pytest.raises(VmError, match="date the figure was read"):
        parse_table({**base, "regions": {"r": {"machine": {"x": {**good, "read": "recently"}}}}})
    table = parse_table({**base, "regions": {"r": {"machine": {"x": good}}}})
    with pytest.raises(VmError, match="no price"):
        table.hourly("r", "n1-highmem-8")
    assert table.oldest == date(2026, 12, 1)
    assert datetime(2026, 12, 1, tzinfo=timezone.utc).date() == table.oldest
