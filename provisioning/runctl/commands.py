"""Pure functions that build the exact `gcloud` argument lists `cloudrun` runs (and `--dry-run` prints).

Nothing here runs anything, so the tests check every flag without a cloud account. Values always go as
`--flag=value`: one argument each, nothing for a shell to split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runctl.names import GPU_TYPE, LABEL_KEY, LABEL_VALUE, LABELS, Names

GCLOUD = "gcloud"
HERE = Path(__file__).resolve().parent.parent  # provisioning/
ROOT = HERE.parent
IMAGE_BUILD = HERE / "cloudbuild-image.yaml"
WEIGHTS_BUILD = HERE / "cloudbuild-weights.yaml"
IGNORE_FILE = "provisioning/cloudrun.gcloudignore"  # relative to the uploaded source, as gcloud wants it
LABEL_FILTER = f"labels.{LABEL_KEY}={LABEL_VALUE}"
APIS = (
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "monitoring.googleapis.com",
)
TOKEN_ENV = "STABLELM_TUI_WEB_TOKEN"
WEIGHTS_MOUNT = "/models"
STATE_MOUNT = "/state"
INVOKER = "roles/run.invoker"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


def _p(project: str) -> str:
    return f"--project={project}"


def get_project() -> list[str]:
    return [GCLOUD, "config", "get-value", "project"]


def enable_apis(project: str) -> list[str]:
    return [GCLOUD, "services", "enable", *APIS, _p(project)]


def access_token() -> list[str]:
    return [GCLOUD, "auth", "print-access-token"]


# --- Artifact Registry ------------------------------------------------------------------------------------------


def repo_describe(n: Names) -> list[str]:
    return [GCLOUD, "artifacts", "repositories", "describe", n.repository, f"--location={n.region}",
            _p(n.project), "--format=json"]  # fmt: skip


def repo_create(n: Names) -> list[str]:
    return [GCLOUD, "artifacts", "repositories", "create", n.repository, "--repository-format=docker",
            f"--location={n.region}", f"--labels={LABELS}", _p(n.project)]  # fmt: skip


def repo_list(project: str, region: str) -> list[str]:
    return [GCLOUD, "artifacts", "repositories", "list", f"--location={region}", f"--filter={LABEL_FILTER}",
            _p(project), "--format=json"]  # fmt: skip


def repo_delete(project: str, location: str, repository: str) -> list[str]:
    # Deleting the repository deletes the images in it: nothing is left to bill per GB-month.
    return [GCLOUD, "artifacts", "repositories", "delete", repository, f"--location={location}", _p(project),
            "--quiet"]  # fmt: skip


# --- Cloud Build ------------------------------------------------------------------------------------------------


def build_image(n: Names) -> list[str]:
    """The container, built by Cloud Build from this checkout: the user needs no local Docker."""
    return [GCLOUD, "builds", "submit", str(ROOT), f"--config={IMAGE_BUILD}", f"--ignore-file={IGNORE_FILE}",
            f"--substitutions=_IMAGE={n.image}", f"--region={n.region}", _p(n.project)]  # fmt: skip


def build_weights(n: Names, preset: str, hf_secret: str | None) -> list[str]:
    """Downloads the preset's models inside Cloud Build (fast network, nothing through the user's line) into the
    bucket. A gated model's token is read there from Secret Manager by name; the token itself is in no flag."""
    subs = f"_IMAGE={n.image},_BUCKET={n.bucket},_PRESET={preset},_HF_SECRET={hf_secret or ''}"
    return [GCLOUD, "builds", "submit", "--no-source", f"--config={WEIGHTS_BUILD}", f"--substitutions={subs}",
            f"--region={n.region}", _p(n.project)]  # fmt: skip


# --- Cloud Storage ----------------------------------------------------------------------------------------------


def bucket_describe(n: Names, bucket: str) -> list[str]:
    return [GCLOUD, "storage", "buckets", "describe", f"gs://{bucket}", _p(n.project), "--format=json"]


def bucket_create(n: Names, bucket: str) -> list[str]:
    return [GCLOUD, "storage", "buckets", "create", f"gs://{bucket}", f"--location={n.region}",
            "--uniform-bucket-level-access", "--public-access-prevention", _p(n.project)]  # fmt: skip


def bucket_label(n: Names, bucket: str) -> list[str]:
    return [GCLOUD, "storage", "buckets", "update", f"gs://{bucket}", f"--update-labels={LABELS}",
            _p(n.project)]  # fmt: skip


def bucket_grant(n: Names, bucket: str, role: str) -> list[str]:
    """`role`: objectViewer on the weights (read-only), objectUser on the state (the app's files)."""
    return [GCLOUD, "storage", "buckets", "add-iam-policy-binding", f"gs://{bucket}",
            f"--member=serviceAccount:{n.service_account}", f"--role=roles/storage.{role}",
            _p(n.project)]  # fmt: skip


def bucket_list(project: str) -> list[str]:
    return [GCLOUD, "storage", "buckets", "list", f"--filter={LABEL_FILTER}", _p(project), "--format=json"]


def bucket_delete(project: str, bucket: str) -> list[str]:
    # `rm --recursive` on the bucket URL removes every object and then the bucket itself.
    return [GCLOUD, "storage", "rm", "--recursive", f"gs://{bucket}", _p(project)]


def weights_present(n: Names, preset: str) -> list[str]:
    return [GCLOUD, "storage", "ls", n.weights_marker(preset), _p(n.project)]


# --- Secret Manager and the service account ---------------------------------------------------------------------


def secret_describe(n: Names) -> list[str]:
    return [GCLOUD, "secrets", "describe", n.token_secret, _p(n.project), "--format=json"]


def secret_create(n: Names) -> list[str]:
    """The app token goes in on standard input (`--data-file=-`), never as an argument."""
    return [GCLOUD, "secrets", "create", n.token_secret, "--data-file=-", "--replication-policy=automatic",
            f"--labels={LABELS}", _p(n.project)]  # fmt: skip


def secret_grant(n: Names, secret: str) -> list[str]:
    return [GCLOUD, "secrets", "add-iam-policy-binding", secret, f"--member=serviceAccount:{n.service_account}",
            "--role=roles/secretmanager.secretAccessor", _p(n.project)]  # fmt: skip


def secret_list(project: str) -> list[str]:
    return [GCLOUD, "secrets", "list", f"--filter={LABEL_FILTER}", _p(project), "--format=json"]


def secret_delete(project: str, secret: str) -> list[str]:
    return [GCLOUD, "secrets", "delete", secret, _p(project), "--quiet"]


def sa_describe(project: str, email: str) -> list[str]:
    return [GCLOUD, "iam", "service-accounts", "describe", email, _p(project), "--format=json"]


def sa_create(n: Names) -> list[str]:
    name = n.service_account.split("@", 1)[0]
    return [GCLOUD, "iam", "service-accounts", "create", name, "--display-name=stablelm-tui on Cloud Run",
            "--description=Created by provisioning/cloudrun up; removed by cloudrun down", _p(n.project)]  # fmt: skip


def sa_delete(project: str, email: str) -> list[str]:
    return [GCLOUD, "iam", "service-accounts", "delete", email, _p(project), "--quiet"]


# --- Cloud Run --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeploySpec:
    names: Names
    preset: str
    cpu: int = 8
    memory: str = "32Gi"
    timeout_s: int = 3600
    min_instances: int = 0
    idle_minutes: int = 15


def deploy(spec: DeploySpec) -> list[str]:
    n = spec.names
    env = f"STABLELM_TUI_PRESET={spec.preset},STABLELM_TUI_IDLE_MINUTES={spec.idle_minutes}"
    return [
        GCLOUD, "run", "deploy", n.service, f"--image={n.image}", f"--region={n.region}", _p(n.project),
        # One L4; Cloud Run attaches it only with instance-based billing (--no-cpu-throttling), 4+ CPU, 16+ GiB.
        "--gpu=1", f"--gpu-type={GPU_TYPE}",
        # Best-effort capacity, the cheaper GPU rate: fine for one person's console.
        "--no-gpu-zonal-redundancy",
        f"--cpu={spec.cpu}", f"--memory={spec.memory}", "--no-cpu-throttling",
        # Scale to zero: --min (the service) and --min-instances (the revision) both set, so neither level keeps
        # an instance warm from an earlier deploy. One instance at most: one GPU, one model load.
        f"--min={spec.min_instances}", f"--min-instances={spec.min_instances}", "--max-instances=1",
        # A websocket lives inside one request: the timeout is the longest a browser tab stays connected.
        f"--timeout={spec.timeout_s}",
        # Only identities with roles/run.invoker (the owner, through `cloudrun proxy`) reach the app.
        "--no-allow-unauthenticated", "--ingress=all",
        f"--service-account={n.service_account}",
        f"--labels={LABELS}",
        f"--set-secrets={TOKEN_ENV}={n.token_secret}:latest",
        f"--set-env-vars={env}",
        f"--add-volume=name=weights,type=cloud-storage,bucket={n.bucket},readonly=true",
        f"--add-volume-mount=volume=weights,mount-path={WEIGHTS_MOUNT}",
        f"--add-volume=name=state,type=cloud-storage,bucket={n.state_bucket}",
        f"--add-volume-mount=volume=state,mount-path={STATE_MOUNT}",
    ]  # fmt: skip


def service_describe(project: str, region: str, service: str) -> list[str]:
    return [
        GCLOUD,
        "run",
        "services",
        "describe",
        service,
        f"--region={region}",
        _p(project),
        "--format=json",
    ]


def service_list(project: str, region: str | None = None) -> list[str]:
    """Our services; without a region gcloud lists every region's."""
    where = [f"--region={region}"] if region else []
    return [GCLOUD, "run", "services", "list", *where, f"--filter=metadata.{LABEL_FILTER}", _p(project),
            "--format=json"]  # fmt: skip


def service_iam_policy(project: str, region: str, service: str) -> list[str]:
    return [GCLOUD, "run", "services", "get-iam-policy", service, f"--region={region}", _p(project),
            "--format=json"]  # fmt: skip


def revision_list(project: str, region: str, service: str) -> list[str]:
    return [GCLOUD, "run", "revisions", "list", f"--service={service}", f"--region={region}", _p(project),
            "--format=json"]  # fmt: skip


def service_delete(project: str, region: str, service: str) -> list[str]:
    return [GCLOUD, "run", "services", "delete", service, f"--region={region}", _p(project), "--quiet"]


def proxy(project: str, region: str, service: str, port: int) -> list[str]:
    """A localhost server that adds the user's own identity token to every request (their gcloud login)."""
    return [GCLOUD, "run", "services", "proxy", service, f"--region={region}", f"--port={port}", _p(project)]
