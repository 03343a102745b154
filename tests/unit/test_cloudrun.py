"""`provisioning/cloudrun up | proxy | down` against the fake gcloud: the flags Cloud Run GPUs need, the guards,
and `down` leaving nothing of what `up` created."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from tests.unit.cloudrun_fakes import CloudRunFake


@pytest.fixture
def cloud(tmp_path: Path) -> CloudRunFake:
    return CloudRunFake(tmp_path)


def flag(argv: list[str], name: str) -> str | None:
    values = [
        a.split("=", 1)[1] if "=" in a else "" for a in argv if a == f"--{name}" or a.startswith(f"--{name}=")
    ]
    return values[-1] if values else None


def flags(argv: list[str], name: str) -> list[str]:
    return [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]


def up(cloud: CloudRunFake, *args: str) -> None:
    done = cloud.cloudrun("up", *args)
    assert done.returncode == 0, done.stderr


def test_up_deploys_one_l4_scaled_to_zero_private_with_weights_mounted_read_only(cloud: CloudRunFake) -> None:
    up(cloud)
    (deploy,) = cloud.argv_of("run", "deploy")
    assert deploy[2] == "stablelm-tui"
    assert (flag(deploy, "gpu"), flag(deploy, "gpu-type")) == ("1", "nvidia-l4")
    assert flag(deploy, "no-cpu-throttling") == ""  # instance-based billing: required for a GPU
    assert (flag(deploy, "min"), flag(deploy, "min-instances"), flag(deploy, "max-instances")) == (
        "0",
        "0",
        "1",
    )
    assert flag(deploy, "no-allow-unauthenticated") == "" and flag(deploy, "allow-unauthenticated") is None
    assert flag(deploy, "timeout") == "3600"
    assert (flag(deploy, "cpu"), flag(deploy, "memory")) == ("8", "32Gi")
    assert flags(deploy, "add-volume") == [
        "name=weights,type=cloud-storage,bucket=my-project-stablelm-tui-weights,readonly=true",
        "name=state,type=cloud-storage,bucket=my-project-stablelm-tui-state",
    ]
    assert flags(deploy, "add-volume-mount") == [
        "volume=weights,mount-path=/models",
        "volume=state,mount-path=/state",
    ]
    assert flag(deploy, "set-secrets") == "STABLELM_TUI_WEB_TOKEN=stablelm-tui-web-token:latest"
    assert flag(deploy, "labels") == "stablelm-tui=managed"
    # What Cloud Run now holds (the fake applies the flags as the API does).
    (svc,) = cloud.state()["services"]
    template = svc["spec"]["template"]
    assert template["metadata"]["annotations"]["autoscaling.knative.dev/minScale"] == "0"
    assert svc["metadata"]["annotations"]["run.googleapis.com/minScale"] == "0"
    assert template["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    weights, state = template["spec"]["volumes"]
    assert (weights["csi"]["readOnly"], state["csi"]["readOnly"]) == (True, False)
    assert cloud.gcloud("run", "services", "get-iam-policy", "stablelm-tui", "--region=us-central1",
                        "--format=json").stdout.count("allUsers") == 0  # fmt: skip


def test_up_builds_with_cloud_build_and_labels_everything_it_creates(cloud: CloudRunFake) -> None:
    up(cloud)
    state = cloud.state()
    assert [b["kind"] for b in state["builds"]] == ["image", "weights"]
    (image_build, weights_build) = cloud.argv_of("builds", "submit")
    assert (flag(image_build, "config") or "").endswith("provisioning/cloudbuild-image.yaml")
    assert (flag(weights_build, "config") or "").endswith("provisioning/cloudbuild-weights.yaml")
    assert state["images"] == ["us-central1-docker.pkg.dev/my-project/stablelm-tui/web:latest"]
    assert [b["name"] for b in state["buckets"]] == [
        "my-project-stablelm-tui-weights",
        "my-project-stablelm-tui-state",
    ]
    for bucket in state["buckets"]:
        assert (
            bucket["labels"] == {"stablelm-tui": "managed"}
            and bucket["public_access_prevention"] == "enforced"
        )
    roles = {name: [role for _, role in grants] for name, grants in state["bucket_policies"].items()}
    assert roles == {"my-project-stablelm-tui-weights": ["roles/storage.objectViewer"],
                     "my-project-stablelm-tui-state": ["roles/storage.objectUser"]}  # fmt: skip
    assert state["repositories"][0]["labels"] == {"stablelm-tui": "managed"}
    assert state["secrets"][0]["labels"] == {"stablelm-tui": "managed"}
    assert [a["email"] for a in state["service_accounts"]] == [
        "stablelm-tui-run@my-project.iam.gserviceaccount.com"
    ]
    assert state["services"][0]["metadata"]["labels"]["stablelm-tui"] == "managed"


def test_the_app_token_reaches_secret_manager_on_stdin_and_in_no_argument(cloud: CloudRunFake) -> None:
    up(cloud)
    token = cloud.state()["secret_values"]["stablelm-tui-web-token"]
    assert len(token) >= 40
    assert not any(token in arg for call in cloud.calls() for arg in call)
    done = cloud.cloudrun("up")
    assert done.returncode == 0
    assert cloud.state()["secret_values"]["stablelm-tui-web-token"] == token  # kept, not replaced


def test_weights_are_uploaded_once_and_a_gated_model_names_its_token_secret(cloud: CloudRunFake) -> None:
    cloud.set(secrets=[{"name": "projects/123456789012/secrets/hf-token", "labels": {}}])
    up(cloud, "--hf-token-secret", "hf-token")
    up(cloud, "--hf-token-secret", "hf-token")
    builds = cloud.state()["builds"]
    assert [b["kind"] for b in builds] == ["image", "weights", "image"]
    assert builds[1]["secret"] == "hf-token"
    assert "_HF_SECRET=hf-token" in (flag(cloud.argv_of("builds", "submit")[1], "substitutions") or "")
    assert len(cloud.argv_of("run", "deploy")) == 2


def test_tokyo_is_refused_with_the_regions_that_have_an_l4(cloud: CloudRunFake) -> None:
    done = cloud.cloudrun("up", "--region", "asia-northeast1")
    assert done.returncode == 2
    assert "no NVIDIA L4 in asia-northeast1" in done.stderr
    for region in ("us-central1", "europe-west4", "asia-southeast1"):
        assert region in done.stderr
    assert cloud.calls() == []


def test_public_access_is_refused(cloud: CloudRunFake) -> None:
    done = cloud.cloudrun("up", "--allow-unauthenticated")
    assert done.returncode == 2 and "refusing public access" in done.stderr
    assert cloud.calls() == []


def test_a_service_someone_made_public_is_not_redeployed(cloud: CloudRunFake) -> None:
    up(cloud)
    cloud.gcloud("run", "services", "add-iam-policy-binding", "stablelm-tui", "--region=us-central1",
                 "--member=allUsers", "--role=roles/run.invoker")  # fmt: skip
    cloud.forget_calls()
    done = cloud.cloudrun("up")
    assert done.returncode == 2
    assert "is public (allUsers may invoke it)" in done.stderr and "remove-iam-policy-binding" in done.stderr
    assert not cloud.argv_of("run", "deploy")


def test_warm_instances_need_asking_twice(cloud: CloudRunFake) -> None:
    done = cloud.cloudrun("up", "--min-instances", "1")
    assert done.returncode == 2 and "--yes-keep-warm" in done.stderr
    assert cloud.calls() == []
    up(cloud, "--min-instances", "1", "--yes-keep-warm")
    (deploy,) = cloud.argv_of("run", "deploy")
    assert (flag(deploy, "min"), flag(deploy, "min-instances")) == ("1", "1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--cpu", "2"), "takes 4 to 8 CPUs"),
        (("--memory", "8Gi"), "takes 16Gi to 32Gi"),
        (("--memory", "lots"), "invalid memory"),
        (("--timeout", "7200"), "1 to 3600 seconds"),
        (("--service", "Bad_Name"), "invalid service name"),
    ],
)
def test_settings_cloud_run_would_refuse_are_refused_first(
    cloud: CloudRunFake, args: tuple[str, ...], message: str
) -> None:
    done = cloud.cloudrun("up", *args)
    assert done.returncode == 2 and message in done.stderr
    assert cloud.calls() == []


def test_the_fake_refuses_a_gpu_without_instance_based_billing_as_cloud_run_does(cloud: CloudRunFake) -> None:
    up(cloud)
    done = subprocess_gcloud(cloud, "run", "services", "update", "stablelm-tui", "--region=us-central1",
                             "--cpu-throttling")  # fmt: skip
    assert done.returncode == 1 and "CPU to be always allocated" in done.stderr


def subprocess_gcloud(cloud: CloudRunFake, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["gcloud", *args], capture_output=True, text=True, env=cloud.env)


def test_down_removes_everything_up_created(cloud: CloudRunFake) -> None:
    cloud.set(secrets=[{"name": "projects/123456789012/secrets/hf-token", "labels": {}}])
    up(cloud, "--hf-token-secret", "hf-token")
    done = cloud.cloudrun("down", "--yes")
    assert done.returncode == 0, done.stderr
    state = cloud.state()
    for kind in ("services", "revisions", "buckets", "repositories", "images", "service_accounts"):
        assert state.get(kind) == [], kind
    # The user's own Hugging Face secret carries no label: it stays.
    assert [s["name"] for s in state["secrets"]] == ["projects/123456789012/secrets/hf-token"]
    again = cloud.cloudrun("down", "--yes")
    assert again.returncode == 0 and "nothing to delete" in again.stdout


def test_down_asks_first_and_refuses_to_ask_without_a_terminal(cloud: CloudRunFake) -> None:
    up(cloud)
    done = cloud.cloudrun("down")
    assert done.returncode == 2 and "pass --yes" in done.stderr
    assert cloud.state()["services"]


def test_down_finds_what_up_left_in_another_region(cloud: CloudRunFake) -> None:
    up(cloud, "--region", "europe-west4")
    up(cloud)
    assert cloud.cloudrun("down", "--yes").returncode == 0
    state = cloud.state()
    assert state["services"] == [] and state["repositories"] == []


def test_proxy_opens_the_service_with_the_users_own_identity(cloud: CloudRunFake) -> None:
    up(cloud)
    cloud.forget_calls()
    done = cloud.cloudrun("proxy", "--port", "8123")
    assert done.returncode == 0, done.stderr
    (proxy,) = cloud.argv_of("run", "services", "proxy")
    assert proxy[3] == "stablelm-tui"
    assert (flag(proxy, "region"), flag(proxy, "port"), flag(proxy, "token")) == ("us-central1", "8123", None)


def test_dry_run_prints_a_script_of_the_exact_commands_and_changes_nothing(cloud: CloudRunFake) -> None:
    before = cloud.state()
    done = cloud.cloudrun("up", "--dry-run", "--project", "my-project")
    assert done.returncode == 0, done.stderr
    assert cloud.state() == before
    lines = [shlex.split(line) for line in done.stdout.splitlines() if not line.startswith("#")]
    deploy = next(argv for argv in lines if argv[:3] == ["gcloud", "run", "deploy"])
    assert flag(deploy, "gpu-type") == "nvidia-l4" and flag(deploy, "min-instances") == "0"
    assert "reads a secret on its standard input (not shown)" in done.stdout
    down = cloud.cloudrun("down", "--dry-run", "--project", "my-project")
    assert down.returncode == 0 and "gcloud run services list" in down.stdout
