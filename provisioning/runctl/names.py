"""What `up` creates and `down`/`status` find, named from the project, region and service, and the rules on them.

Everything `up` creates carries the label stablelm-tui=managed where the resource takes labels (service, bucket,
Artifact Registry repository, secret); the service account takes none, so it is found by its fixed name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runctl.errors import RunError

LABEL_KEY = "stablelm-tui"
LABEL_VALUE = "managed"
LABELS = f"{LABEL_KEY}={LABEL_VALUE}"
GPU_TYPE = "nvidia-l4"
# Cloud Run regions with the L4, as "GPU support for services" listed them on 2026-12-01 (docs/cloudrun.md).
# asia-south1 is left out: Google offers it by invitation only. Tokyo (asia-northeast1) has no Cloud Run GPU.
L4_REGIONS = ("us-central1", "us-east4", "europe-west1", "europe-west4", "asia-southeast1")
DEFAULT_REGION = "us-central1"
DEFAULT_SERVICE = "stablelm-tui"
REPOSITORY = "stablelm-tui"
SERVICE_ACCOUNT = "stablelm-tui-run"
MAX_TIMEOUT_S = 3600  # Cloud Run's ceiling for a request, a websocket included
MIN_CPU = 4  # Cloud Run's minimum for an L4 instance
MIN_MEMORY_GIB = 16

_SERVICE_RE = re.compile(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$")
_PROJECT_RE = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")


def check_region(region: str) -> str:
    if region not in L4_REGIONS:
        raise RunError(
            f"Cloud Run has no NVIDIA L4 in {region}; pick one of {', '.join(L4_REGIONS)} "
            "(asia-southeast1 is the closest to Japan)"
        )
    return region


def check_service(name: str) -> str:
    if not _SERVICE_RE.match(name):
        raise RunError(
            f"invalid service name {name!r}: lowercase letters, digits and '-', start with a letter, at most 49"
        )
    return name


def check_project(project: str) -> str:
    if not _PROJECT_RE.match(project):
        raise RunError(f"invalid project id {project!r}")
    return project


def parse_memory_gib(text: str) -> float:
    """Cloud Run's memory syntax (`32Gi`, `16384Mi`) to GiB."""
    match = re.fullmatch(r"(\d+)(Gi|Mi)", text.strip())
    if not match:
        raise RunError(f"invalid memory {text!r}: write it like 32Gi or 16384Mi")
    number, unit = int(match.group(1)), match.group(2)
    return number if unit == "Gi" else number / 1024


@dataclass(frozen=True)
class Names:
    project: str
    region: str
    service: str

    @property
    def repository(self) -> str:
        return REPOSITORY

    @property
    def image(self) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{REPOSITORY}/web:latest"

    @property
    def bucket(self) -> str:
        # Bucket names are global; project ids are too, so this one cannot collide with anyone else's.
        return f"{self.project}-stablelm-tui-weights"

    @property
    def state_bucket(self) -> str:
        """The app's saved files (sessions, settings), copied there by the container (cloudrun_state.py)."""
        return f"{self.project}-stablelm-tui-state"

    @property
    def token_secret(self) -> str:
        return f"{self.service}-web-token"

    @property
    def service_account(self) -> str:
        return f"{SERVICE_ACCOUNT}@{self.project}.iam.gserviceaccount.com"

    def weights_marker(self, preset: str) -> str:
        """The object the weights build writes last: its presence means every file of the preset is there."""
        return f"gs://{self.bucket}/complete/{preset}"
