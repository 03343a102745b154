"""Pure functions that build the exact `gcloud` argument lists `vm` runs (and `--dry-run` prints).

Nothing here runs anything; the CLI hands these lists to a runner. Keeping them pure lets the tests check
every flag of every profile without a cloud account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vmctl.errors import VmError
from vmctl.profiles import Profile

GCLOUD = "gcloud"
LABEL_KEY = "stablelm-tui"
LABEL_VALUE = "managed"
LABEL_FILTER = f"labels.{LABEL_KEY}={LABEL_VALUE}"
METADATA_PREFIX = "stablelm-tui-"
# Canonical's Ubuntu 24.04 accelerator image with the NVIDIA 580 driver already installed: no driver build at boot,
# no DKMS, no reboot. `--image-family ubuntu-2404-lts-amd64 --image-project ubuntu-os-cloud` is the plain image; the
# startup script then installs the driver itself.
IMAGE_FAMILY = "ubuntu-accelerator-2404-amd64-with-nvidia-580"
IMAGE_PROJECT = "ubuntu-os-accelerator-images"
GUEST_NAMESPACE = "stablelm-tui"  # guest attributes the startup script writes: setup state for `vm status`
BOOT_DISK_TYPE = "pd-balanced"  # G2 machines take no pd-standard; balanced works for all three profiles
TMUX_SESSION = "stablelm-tui"
SESSION_COMMAND = "stablelm-tui-session"  # installed on the VM by startup.sh

# Google's scope aliases. The default set is what a VM gets without --scopes; compute-ro lets the watchdog read its
# own hard limit from the instance (for the TUI's status line); compute-rw lets it delete its own VM; cloud-platform
# is what Secret Manager requires for the Hugging Face token.
DEFAULT_SCOPES = ("default", "compute-ro")
DELETE_SCOPE = "compute-rw"
SECRET_SCOPE = "cloud-platform"

_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise VmError(
            f"invalid VM name {name!r}: use lowercase letters, digits and '-', start with a letter, at most 63"
        )
    return name


def label_value(text: str) -> str:
    """A label value from free text (a user name): lowercase, only [a-z0-9_-], at most 63 characters."""
    value = re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]
    assert _LABEL_VALUE_RE.match(value)
    return value


def parse_duration(text: str) -> int:
    """gcloud's duration syntax (`8h`, `1d2h30m`, `90m`) to seconds; at least 30 seconds, at most 120 days."""
    match = _DURATION_RE.match(text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise VmError(f"invalid duration {text!r}: write it like 8h, 90m or 1d2h30m")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if not 30 <= total <= 120 * 86400:
        raise VmError(f"duration {text!r} is out of range (30s to 120d)")
    return total


def format_duration(seconds: float) -> str:
    """A short human duration: `3h05m`, `12m`, `45s`; negative values as `-12m`."""
    sign = "-" if seconds < 0 else ""
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d{hours:02d}h"
    if hours:
        return f"{sign}{hours}h{minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m"
    return f"{sign}{secs}s"


@dataclass(frozen=True)
class CreateSpec:
    """Everything `instances create` needs beyond the profile; built by the CLI from its flags."""

    name: str
    profile: Profile
    startup_script: Path
    watchdog_script: Path
    session_script: Path
    max_run_duration: str = "8h"
    termination_action: str = "DELETE"  # what Google does on preemption or at the hard limit: STOP or DELETE
    boot_disk_gb: int = 100
    labels: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)
    scopes: Sequence[str] = DEFAULT_SCOPES
    project: str | None = None
    image_family: str = IMAGE_FAMILY
    image_project: str = IMAGE_PROJECT


def _common(project: str | None) -> list[str]:
    return [f"--project={project}"] if project else []


def _join_pairs(pairs: Mapping[str, str], what: str) -> str:
    for key, value in pairs.items():
        # gcloud splits these flags on ',' and '='; a value holding either would silently become garbage.
        if "," in key or "=" in key or "," in value:
            raise VmError(f"{what} {key}={value!r}: ',' and '=' are not allowed here")
    return ",".join(f"{k}={v}" for k, v in pairs.items())


def create_command(spec: CreateSpec, zone: str) -> list[str]:
    """`gcloud compute instances create` for one zone (the CLI calls it again for the next zone on stockout)."""
    profile = spec.profile
    labels = {LABEL_KEY: LABEL_VALUE, "stablelm-tui-profile": profile.name, **spec.labels}
    for key, value in labels.items():
        if not _LABEL_VALUE_RE.match(value):
            raise VmError(
                f"label {key}={value!r}: values may only hold lowercase letters, digits, '_' and '-'"
            )
    argv = [
        GCLOUD,
        "compute",
        "instances",
        "create",
        check_name(spec.name),
        *_common(spec.project),
        f"--zone={zone}",
        f"--machine-type={profile.machine_type}",
    ]
    if profile.attach_gpu:
        argv.append(f"--accelerator=type={profile.gpu},count={profile.gpu_count}")
    argv += [
        # GPUs cannot live-migrate; spot VMs must be TERMINATE on host maintenance anyway.
        "--maintenance-policy=TERMINATE",
        "--provisioning-model=SPOT",
        f"--instance-termination-action={spec.termination_action}",
        # The hard limit: Google ends the VM at this age even if it hangs and the watchdog never runs.
        f"--max-run-duration={spec.max_run_duration}",
        f"--image-family={spec.image_family}",
        f"--image-project={spec.image_project}",
        f"--boot-disk-size={spec.boot_disk_gb}GB",
        f"--boot-disk-type={BOOT_DISK_TYPE}",
        "--boot-disk-auto-delete",
        f"--labels={_join_pairs(labels, 'label')}",
        f"--metadata-from-file=startup-script={spec.startup_script},"
        f"{METADATA_PREFIX}watchdog={spec.watchdog_script},{METADATA_PREFIX}session={spec.session_script}",
    ]
    # Guest attributes carry the setup's state (setting up, ready, failed and why) back to `vm status`.
    metadata = {"enable-guest-attributes": "TRUE", **spec.metadata}
    argv.append(f"--metadata={_join_pairs(metadata, 'metadata')}")
    argv += [f"--scopes={','.join(spec.scopes)}", "--format=json"]
    return argv


def discover_zones_command(gpu: str, project: str | None = None) -> list[str]:
    """Which zones offer the GPU at all (capacity is another matter: that is what the stockout retry is for)."""
    return [
        GCLOUD,
        "compute",
        "accelerator-types",
        "list",
        *_common(project),
        f"--filter=name={gpu}",
        # `zone` is the zone's full URL in the API's answer; gcloud's own table prints zone.basename().
        "--format=value(zone.basename())",
    ]


def list_command(project: str | None = None) -> list[str]:
    """Every VM with our label, in every zone (no --zones means all of them)."""
    return [
        GCLOUD,
        "compute",
        "instances",
        "list",
        *_common(project),
        f"--filter={LABEL_FILTER}",
        "--format=json",
    ]


def describe_command(name: str, zone: str, project: str | None = None) -> list[str]:
    return [
        GCLOUD,
        "compute",
        "instances",
        "describe",
        name,
        *_common(project),
        f"--zone={zone}",
        "--format=json",
    ]


def set_limit_command(
    name: str, zone: str, max_run_duration: str, termination_action: str, project: str | None = None
) -> list[str]:
    """Re-applies the hard limit and the spot settings `up` creates with; Compute Engine accepts it only while
    the VM is stopped (TERMINATED). The spot flags are restated so the call cannot turn the VM into anything else."""
    return [
        GCLOUD,
        "compute",
        "instances",
        "set-scheduling",
        name,
        *_common(project),
        f"--zone={zone}",
        f"--max-run-duration={max_run_duration}",
        f"--instance-termination-action={termination_action}",
        "--provisioning-model=SPOT",
        "--maintenance-policy=TERMINATE",
        "--no-restart-on-failure",
    ]


def start_command(name: str, zone: str, project: str | None = None) -> list[str]:
    return [GCLOUD, "compute", "instances", "start", name, *_common(project), f"--zone={zone}"]


def stop_command(name: str, zone: str, project: str | None = None) -> list[str]:
    return [GCLOUD, "compute", "instances", "stop", name, *_common(project), f"--zone={zone}"]


def guest_attributes_command(name: str, zone: str, project: str | None = None) -> list[str]:
    return [
        GCLOUD,
        "compute",
        "instances",
        "get-guest-attributes",
        name,
        *_common(project),
        f"--zone={zone}",
        f"--query-path={GUEST_NAMESPACE}/",
        "--format=json",
    ]


def delete_command(name: str, zone: str, project: str | None = None) -> list[str]:
    # --delete-disks=all removes the boot disk even if someone turned auto-delete off: no disk keeps billing.
    return [
        GCLOUD,
        "compute",
        "instances",
        "delete",
        name,
        *_common(project),
        f"--zone={zone}",
        "--delete-disks=all",
        "--quiet",
    ]


def ssh_command(
    name: str, zone: str, project: str | None = None, *, remote: str | None = SESSION_COMMAND
) -> list[str]:
    """`gcloud compute ssh`; by default it runs the session script that attaches to (or starts) the tmux TUI.

    `-t` forces a terminal: without it a remote command gets none and tmux refuses to start.
    """
    argv = [GCLOUD, "compute", "ssh", name, *_common(project), f"--zone={zone}"]
    if remote:
        argv += ["--ssh-flag=-t", f"--command={remote}"]
    return argv


def is_stockout(stderr: str) -> bool:
    """True when creation failed for lack of capacity in the zone, so the next zone is worth a try."""
    markers = (
        "ZONE_RESOURCE_POOL_EXHAUSTED",  # also matches ..._WITH_DETAILS
        "does not have enough resources available",
        "STOCKOUT",
    )
    return any(marker in stderr for marker in markers)
