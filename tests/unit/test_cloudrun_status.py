"""`provisioning/cloudrun status`: instances now and this month's cost from Cloud Monitoring, and every leftover
that bills while no one uses the app; plus the price table's arithmetic."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.unit.cloudrun_fakes import CloudRunFake, monitoring_api
from tests.unit.provisioning_fakes import PROVISIONING

sys.path.insert(0, str(PROVISIONING))

from runctl.errors import RunError
from runctl.prices import PRICES_FILE, load_table, parse_table


@pytest.fixture
def cloud(tmp_path: Path) -> CloudRunFake:
    fake = CloudRunFake(tmp_path)
    done = fake.cloudrun("up")
    assert done.returncode == 0, done.stderr
    fake.forget_calls()
    return fake


def status(cloud: CloudRunFake) -> str:
    with monitoring_api(cloud) as env:
        done = cloud.cloudrun("status", **env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_status_shows_instances_now_and_the_cost_so_far_at_the_list_price(cloud: CloudRunFake) -> None:
    cloud.set(monitoring={"stablelm-tui": {"active": 1, "idle": 0, "billable_s": 2 * 3600 + 30 * 60}})
    out = status(cloud)
    assert "stablelm-tui (us-central1): ready True" in out
    assert "1 x nvidia-l4, 8 CPU, 32Gi; min instances 0 (service) / 0 (revision), max 1; private (IAM)" in out
    assert "instances now: 1 active, 0 idle" in out
    # 2.5 h x (0.0001867 + 8 x 0.000018 + 32 x 0.000002) $/s x 3600 = 2.5 x 1.4209 = $3.55
    assert "this month: 2h30m billable ≈ $3.55" in out and "at $1.42/h list price" in out
    assert "read 2026-12-01" in out


def test_a_scaled_to_zero_service_bills_only_its_storage_while_idle(cloud: CloudRunFake) -> None:
    out = status(cloud)
    assert "instances now: none" in out
    assert "minimum instances" not in out and "keeps" not in out and "PUBLIC" not in out
    assert "bucket gs://my-project-stablelm-tui-weights: the weights, per GB-month" in out
    assert "orphaned" not in out


def test_warm_minimums_at_the_service_and_the_revision_level_are_both_found(cloud: CloudRunFake) -> None:
    cloud.gcloud("run", "services", "update", "stablelm-tui", "--region=us-central1", "--min-instances=1")
    out = status(cloud)
    assert "revision stablelm-tui-00002-" in out and "keeps 1 instance(s) warm and serves 100%" in out
    assert "of the traffic (≈ $1,037 a month)" in out  # 730 h x $1.4209
    cloud.gcloud(
        "run", "services", "update", "stablelm-tui", "--region=us-central1", "--min-instances=0", "--min=2"
    )
    out = status(cloud)
    assert "minimum instances 2 at the service level" in out
    assert "keeps" not in out  # the old warm revision serves no traffic any more


def test_a_public_service_is_reported(cloud: CloudRunFake) -> None:
    cloud.gcloud("run", "services", "add-iam-policy-binding", "stablelm-tui", "--region=us-central1",
                 "--member=allUsers", "--role=roles/run.invoker")  # fmt: skip
    out = status(cloud)
    assert "PUBLIC (allUsers may invoke it)" in out
    assert "; PUBLIC" in out


def test_what_the_service_left_behind_is_reported_as_orphaned(cloud: CloudRunFake) -> None:
    cloud.gcloud("run", "services", "delete", "stablelm-tui", "--region=us-central1", "--quiet")
    out = status(cloud)
    assert "no Cloud Run service with our label" in out
    assert "bucket gs://my-project-stablelm-tui-weights: the weights, per GB-month (orphaned" in out
    assert (
        "Artifact Registry repository stablelm-tui in us-central1: the image, per GB-month (orphaned" in out
    )
    assert "secret stablelm-tui-web-token: per active version (orphaned" in out
    assert "`provisioning/cloudrun down` removes all of it." in out
    assert cloud.cloudrun("down", "--yes").returncode == 0
    assert "nothing is billing" in status(cloud)


def test_status_survives_monitoring_being_unreachable(cloud: CloudRunFake) -> None:
    done = cloud.cloudrun("status", CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING="http://127.0.0.1:9/")
    assert done.returncode == 0, done.stderr
    assert "instances now and this month's cost: unknown (could not reach Cloud Monitoring" in done.stdout


def test_monitoring_refusing_the_token_is_said_in_one_line(cloud: CloudRunFake) -> None:
    cloud.set(access_token="ya29.expired")
    out = status(cloud)
    assert "unknown (Cloud Monitoring answered 401: Request had invalid authentication credentials.)" in out


def test_the_price_table_is_dated_and_sourced() -> None:
    table = load_table()
    data = json.loads(PRICES_FILE.read_text())
    for figure in [
        *data["regions"]["us-central1"]["gpu_second"].values(),
        data["regions"]["us-central1"]["vcpu_second"],
    ]:
        assert figure["source"] in data["sources"] and figure["read"] == "2026-12-01"
    hourly = table.instance_hourly("us-central1", 4, 16)
    assert hourly.usd == pytest.approx(0.67212 + 0.2592 + 0.1152, abs=1e-4)
    other = table.instance_hourly("asia-southeast1", 8, 32)
    assert (other.region, other.exact) == ("us-central1", False)


def test_a_price_table_without_its_sources_is_refused() -> None:
    data = json.loads(PRICES_FILE.read_text())
    data["regions"]["us-central1"]["vcpu_second"]["source"] = "somewhere"
    with pytest.raises(RunError, match="must name one of the table's sources"):
        parse_table(data)
