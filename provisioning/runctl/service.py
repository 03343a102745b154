"""Reading what gcloud prints about a Cloud Run service and its revisions (`--format=json`, the Knative-style
resource of the v1 API): settings, scale limits at both levels, and who may invoke it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from runctl.commands import INVOKER, PUBLIC_MEMBERS
from runctl.errors import RunError

SERVICE_MIN = "run.googleapis.com/minScale"  # the service level, across revisions (`--min`)
REVISION_MIN = "autoscaling.knative.dev/minScale"  # one revision (`--min-instances`)
REVISION_MAX = "autoscaling.knative.dev/maxScale"
INVOKER_CHECK_OFF = "run.googleapis.com/invoker-iam-disabled"  # `--no-invoker-iam-check`: anyone with the URL
GPU_SELECTOR = "run.googleapis.com/accelerator"
REGION_LABEL = "cloud.googleapis.com/location"


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _load(stdout: str, what: str) -> Any:
    try:
        return json.loads(stdout or "null")
    except json.JSONDecodeError:
        raise RunError(f"gcloud printed something that is not JSON for {what}") from None


@dataclass(frozen=True)
class Revision:
    name: str
    min_instances: int
    traffic_percent: int


@dataclass(frozen=True)
class Service:
    name: str
    region: str
    url: str
    ready: str
    """The Ready condition: "True", "False" or "Unknown", and its message when not True."""
    service_min: int
    revision_min: int
    max_instances: int
    cpu: str
    memory: str
    gpu: str
    invoker_check_off: bool
    traffic: dict[str, int]

    @property
    def warm(self) -> int:
        return max(self.service_min, self.revision_min)


def parse_service(resource: dict[str, Any]) -> Service:
    meta = resource.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    template = (resource.get("spec") or {}).get("template") or {}
    t_annotations = (template.get("metadata") or {}).get("annotations") or {}
    t_spec = template.get("spec") or {}
    containers = t_spec.get("containers") or [{}]
    limits = (containers[0].get("resources") or {}).get("limits") or {}
    status = resource.get("status") or {}
    ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    ready_text = str(ready.get("status", "Unknown"))
    if ready_text != "True" and ready.get("message"):
        ready_text += f": {ready['message']}"
    gpus = _int(limits.get("nvidia.com/gpu"))
    selector = (t_spec.get("nodeSelector") or {}).get(GPU_SELECTOR, "")
    return Service(
        name=str(meta.get("name", "")),
        region=str((meta.get("labels") or {}).get(REGION_LABEL, "")),
        url=str(status.get("url", "")),
        ready=ready_text,
        service_min=_int(annotations.get(SERVICE_MIN)),
        revision_min=_int(t_annotations.get(REVISION_MIN)),
        max_instances=_int(t_annotations.get(REVISION_MAX), default=-1),
        cpu=str(limits.get("cpu", "")),
        memory=str(limits.get("memory", "")),
        gpu=f"{gpus} x {selector}" if gpus else "none",
        invoker_check_off=str(annotations.get(INVOKER_CHECK_OFF, "")).lower() == "true",
        traffic={
            str(t.get("revisionName")): _int(t.get("percent"))
            for t in status.get("traffic") or []
            if t.get("revisionName")
        },
    )


def parse_services(stdout: str) -> list[Service]:
    items = _load(stdout, "the service list")
    return [parse_service(i) for i in items or [] if isinstance(i, dict)]


def parse_one(stdout: str) -> Service:
    item = _load(stdout, "the service")
    if not isinstance(item, dict):
        raise RunError("gcloud printed no service")
    return parse_service(item)


def parse_revisions(stdout: str, traffic: dict[str, int]) -> list[Revision]:
    items = _load(stdout, "the revision list") or []
    revisions = []
    for item in items:
        meta = item.get("metadata") or {}
        name = str(meta.get("name", ""))
        minimum = _int((meta.get("annotations") or {}).get(REVISION_MIN))
        revisions.append(Revision(name, minimum, traffic.get(name, 0)))
    return revisions


def public_members(policy_stdout: str) -> list[str]:
    """Members that make the service public: allUsers or allAuthenticatedUsers holding the invoker role."""
    policy = _load(policy_stdout, "the IAM policy") or {}
    found = []
    for binding in policy.get("bindings") or []:
        if binding.get("role") == INVOKER:
            found += [m for m in binding.get("members") or [] if m in PUBLIC_MEMBERS]
    return found
