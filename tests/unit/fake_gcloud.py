"""A stand-in for the Google Cloud CLI that answers the commands `vm` and the VM's scripts run, as the real one does.

What "as the real one does" rests on (google-cloud-sdk 578.0.0 source, the Compute API reference):
- resources are printed by gcloud's JSON printer: `json.dumps(..., indent=2, sort_keys=True)`, a list for
  `list`/`create`, one object for `describe`;
- references inside a resource are full URLs (`zone`, `machineType`, `acceleratorType`), which is why gcloud's own
  table formats use `zone.basename()`; `--format=value(zone)` prints the URL, `value(zone.basename())` the name;
- int64 fields come out as strings (`"diskSizeGb": "100"`, `"maxRunDuration": {"seconds": "28800"}`);
- timestamps are RFC 3339 in Pacific time with milliseconds (`2026-11-28T09:00:00.000-08:00`);
- `set-scheduling` works only on a stopped (TERMINATED) instance;
- stopping removes `resourceStatus.scheduling.terminationTimestamp`, keeps `scheduling.maxRunDuration`, and the
  next start sets a new timestamp from it (`--max-run-duration` help text);
- unknown flags are refused (`unrecognized arguments`).
Error texts for cases the code only relays (not parses) are marked as not verified.

State lives in the JSON file $FAKE_GCLOUD_STATE; every call is appended to $FAKE_GCLOUD_STATE.log as one JSON
list. $FAKE_NOW (epoch seconds) replaces the clock.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

API = "https://www.googleapis.com/compute/v1"
PACIFIC = timezone(timedelta(hours=-8))
COMMON = {"project", "format", "quiet", "verbosity"}
# The flags of each command that the fake accepts: the ones `vm` and the scripts use, all real (see the SDK).
FLAGS = {
    ("accelerator-types", "list"): {"filter", "zones", "limit"},
    ("instances", "list"): {"filter", "zones", "limit"},
    ("instances", "describe"): {"zone"},
    ("instances", "start"): {"zone", "async"},
    ("instances", "stop"): {"zone", "async", "discard-local-ssd"},
    ("instances", "delete"): {"zone", "delete-disks", "keep-disks"},
    ("instances", "get-guest-attributes"): {"zone", "query-path"},
    ("instances", "set-scheduling"): {
        "zone",
        "max-run-duration",
        "clear-max-run-duration",
        "termination-time",
        "clear-termination-time",
        "instance-termination-action",
        "clear-instance-termination-action",
        "provisioning-model",
        "maintenance-policy",
        "restart-on-failure",
        "no-restart-on-failure",
        "preemptible",
    },
    ("instances", "create"): {
        "zone",
        "machine-type",
        "accelerator",
        "maintenance-policy",
        "provisioning-model",
        "instance-termination-action",
        "max-run-duration",
        "image-family",
        "image-project",
        "boot-disk-size",
        "boot-disk-type",
        "boot-disk-auto-delete",
        "labels",
        "metadata",
        "metadata-from-file",
        "scopes",
    },
    ("ssh",): {"zone", "ssh-flag", "command", "tunnel-through-iap"},
}
BUNDLED_GPUS = {"g2-standard-8": "nvidia-l4", "a2-highgpu-1g": "nvidia-tesla-a100"}


class GcloudError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def now() -> float:
    return float(os.environ.get("FAKE_NOW") or time.time())


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, PACIFIC).isoformat(timespec="milliseconds")


def duration(text: str) -> int:
    """gcloud's arg_parsers.Duration(): `8h`, `1d2h3m4s`, or plain seconds."""
    if text.isdigit():
        return int(text)
    match = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.lower())
    if not text or not match:
        raise GcloudError(f"argument --max-run-duration: Failed to parse duration: {text}", 2)
    d, h, m, s = (int(g or 0) for g in match.groups())
    return ((d * 24 + h) * 60 + m) * 60 + s


def basename(value: Any) -> str:
    text = str(value or "")
    return text[text.rfind("/") + 1 :] if "/" in text else text


def split_args(args: list[str]) -> tuple[list[str], dict[str, str]]:
    words, flags = [], {}
    for arg in args:
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            flags[name] = value
        else:
            words.append(arg)
    return words, flags


def printed(resource: Any, fmt: str) -> str:
    """The value() and json projections gcloud offers, for the keys the callers ask for."""
    if fmt == "json":
        return json.dumps(resource, indent=2, sort_keys=True)
    match = re.fullmatch(r"value\((.+)\)", fmt)
    if not match:
        raise GcloudError(f"fake gcloud: format {fmt!r} is not modelled", 2)
    lines = []
    for item in resource if isinstance(resource, list) else [resource]:
        cells = []
        for key in match.group(1).split(","):
            transform = key.endswith(".basename()")
            value: Any = item
            for part in key.removesuffix(".basename()").split("."):
                value = value.get(part) if isinstance(value, dict) else None
            cells.append(basename(value) if transform else ("" if value is None else str(value)))
        lines.append("\t".join(cells))
    return "\n".join(lines)


class Cloud:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.state: dict[str, Any] = json.loads(path.read_text())
        self.project = self.state.get("project", "p")

    def save(self) -> None:
        self.path.write_text(json.dumps(self.state, indent=1))

    def url(self, zone: str, *rest: str) -> str:
        return "/".join([API, "projects", self.project, "zones", zone, *rest])

    def find(self, name: str, zone: str, what: str) -> dict[str, Any]:
        for inst in self.state.get("instances", []):
            if inst["name"] == name and basename(inst["zone"]) == zone:
                return dict(inst)
        raise GcloudError(
            f"ERROR: (gcloud.compute.instances.{what}) Could not fetch resource:\n"
            f" - The resource 'projects/{self.project}/zones/{zone}/instances/{name}' was not found\n"
        )

    def put(self, inst: dict[str, Any]) -> None:
        others = [i for i in self.state.get("instances", []) if i["name"] != inst["name"]]
        self.state["instances"] = [*others, inst]

    def injected(self, what: str) -> None:
        message = self.state.get("fail", {}).get(what)
        if message:
            raise GcloudError(message)

    # --- commands -------------------------------------------------------------------------------------------

    def accelerator_types(self, flags: dict[str, str]) -> str:
        wanted = flags.get("filter", "").removeprefix("name=")
        items = [a for a in self.state.get("accelerators", []) if not wanted or a["name"] == wanted]
        return printed(items, flags.get("format", "json"))

    def instances_list(self, flags: dict[str, str]) -> str:
        key, _, value = flags.get("filter", "").removeprefix("labels.").partition("=")
        items = [
            i for i in self.state.get("instances", []) if not key or i.get("labels", {}).get(key) == value
        ]
        return printed(items, flags.get("format", "json"))

    def create(self, name: str, flags: dict[str, str]) -> str:
        zone = flags["zone"]
        if zone in self.state.get("stockout", []):
            raise GcloudError(
                "ERROR: (gcloud.compute.instances.create) Could not fetch resource:\n"
                f" - The zone 'projects/{self.project}/zones/{zone}' does not have enough resources available "
                "to fulfill the request.  '(resource type:compute)'.\n"
            )
        if any(i["name"] == name for i in self.state.get("instances", [])):
            raise GcloudError(
                "ERROR: (gcloud.compute.instances.create) Could not fetch resource:\n"
                f" - The resource 'projects/{self.project}/zones/{zone}/instances/{name}' already exists\n"
            )
        machine = flags["machine-type"]
        gpus = []
        if "accelerator" in flags:
            parts = dict(p.split("=", 1) for p in flags["accelerator"].split(","))
            gpus.append((parts["type"], int(parts.get("count", "1"))))
        elif machine in BUNDLED_GPUS:
            gpus.append((BUNDLED_GPUS[machine], 1))
        scheduling: dict[str, Any] = {
            "automaticRestart": False,
            "onHostMaintenance": flags.get("maintenance-policy", "MIGRATE"),
            "provisioningModel": flags.get("provisioning-model", "STANDARD"),
        }
        if "instance-termination-action" in flags:
            scheduling["instanceTerminationAction"] = flags["instance-termination-action"]
        if "max-run-duration" in flags:
            scheduling["maxRunDuration"] = {"seconds": str(duration(flags["max-run-duration"]))}
        metadata = [
            {"key": k, "value": v}
            for pair in flags.get("metadata", "").split(",")
            if pair
            for k, v in [pair.split("=", 1)]
        ]
        for pair in flags.get("metadata-from-file", "").split(","):
            if pair:
                key, path = pair.split("=", 1)
                metadata.append({"key": key, "value": Path(path).read_text()})
        inst: dict[str, Any] = {
            "kind": "compute#instance",
            "name": name,
            "zone": self.url(zone),
            "selfLink": self.url(zone, "instances", name),
            "machineType": self.url(zone, "machineTypes", machine),
            "status": "TERMINATED",
            "creationTimestamp": stamp(now()),
            "labels": dict(p.split("=", 1) for p in flags.get("labels", "").split(",") if p),
            "metadata": {"kind": "compute#metadata", "items": metadata},
            "disks": [
                {
                    "autoDelete": "boot-disk-auto-delete" in flags,
                    "boot": True,
                    "deviceName": name,
                    "diskSizeGb": flags.get("boot-disk-size", "10GB").removesuffix("GB"),
                    "source": self.url(zone, "disks", name),
                }
            ],
            "guestAccelerators": [
                {"acceleratorCount": n, "acceleratorType": self.url(zone, "acceleratorTypes", t)}
                for t, n in gpus
            ],
            "scheduling": scheduling,
        }
        self.start_resource(inst)
        self.put(inst)
        return printed([inst], flags.get("format", "json"))

    @staticmethod
    def start_resource(inst: dict[str, Any]) -> None:
        inst["status"] = "RUNNING"
        inst["lastStartTimestamp"] = stamp(now())
        seconds = (inst.get("scheduling", {}).get("maxRunDuration") or {}).get("seconds")
        if seconds:
            inst["resourceStatus"] = {"scheduling": {"terminationTimestamp": stamp(now() + int(seconds))}}

    def start(self, name: str, zone: str) -> str:
        inst = self.find(name, zone, "start")
        if inst["status"] != "RUNNING":
            self.start_resource(inst)
            self.put(inst)
        print(f"Starting instance(s) {name}...done.", file=sys.stderr)
        print(f"Updated [{inst['selfLink']}].", file=sys.stderr)
        return ""

    def stop(self, name: str, zone: str) -> str:
        inst = self.find(name, zone, "stop")
        inst["status"] = "TERMINATED"
        inst["lastStopTimestamp"] = stamp(now())
        inst.pop("resourceStatus", None)  # the termination timestamp goes; maxRunDuration stays
        self.put(inst)
        print(f"Stopping instance(s) {name}...done.", file=sys.stderr)
        print(f"Updated [{inst['selfLink']}].", file=sys.stderr)
        return ""

    def set_scheduling(self, name: str, flags: dict[str, str]) -> str:
        inst = self.find(name, flags["zone"], "set-scheduling")
        if inst["status"] != "TERMINATED":
            # The condition is the API's documented rule; the exact wording is not verified.
            raise GcloudError(
                "ERROR: (gcloud.compute.instances.set-scheduling) Could not fetch resource:\n"
                f" - The instance '{name}' must be stopped to change its scheduling options.\n"
            )
        scheduling = inst.setdefault("scheduling", {})
        if "max-run-duration" in flags:
            scheduling["maxRunDuration"] = {"seconds": str(duration(flags["max-run-duration"]))}
        if "clear-max-run-duration" in flags:
            scheduling.pop("maxRunDuration", None)
        for flag, key in (
            ("instance-termination-action", "instanceTerminationAction"),
            ("provisioning-model", "provisioningModel"),
            ("maintenance-policy", "onHostMaintenance"),
        ):
            if flag in flags:
                scheduling[key] = flags[flag]
        if "no-restart-on-failure" in flags:
            scheduling["automaticRestart"] = False
        self.put(inst)
        print(f"Updated [{inst['selfLink']}].", file=sys.stderr)
        return ""

    def delete(self, name: str, zone: str) -> str:
        inst = self.find(name, zone, "delete")
        self.state["instances"] = [i for i in self.state["instances"] if i["name"] != name]
        print(f"Deleted [{inst['selfLink']}].", file=sys.stderr)
        return ""

    def guest_attributes(self, name: str, flags: dict[str, str]) -> str:
        self.find(name, flags["zone"], "get-guest-attributes")
        namespace = flags.get("query-path", "").rstrip("/")
        root = self.state.get("guest_dirs", {}).get(name)
        entries = []
        if root and (Path(root) / namespace).is_dir():
            for path in sorted((Path(root) / namespace).iterdir()):
                entries.append({"key": path.name, "namespace": namespace, "value": path.read_text()})
        if not entries:
            # Not verified: the wording of the API's answer when nothing was written under the path.
            raise GcloudError(
                "ERROR: (gcloud.compute.instances.get-guest-attributes) NOT_FOUND: The resource "
                f"'projects/{self.project}/zones/{flags['zone']}/instances/{name}/guestAttributes/"
                f"{namespace}/' was not found\n"
            )
        return printed(entries, flags.get("format", "json"))


def run_cloud_run_side(args: list[str]) -> str:
    """Cloud Run, Cloud Build, Storage, Secret Manager, Artifact Registry, IAM: modelled in fake_gcloud_run."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fake_gcloud_run

    path = Path(os.environ["FAKE_GCLOUD_STATE"])
    state = json.loads(path.read_text())
    try:
        out = fake_gcloud_run.run(args, state)
    except fake_gcloud_run.Failure as exc:
        raise GcloudError(str(exc), exc.code) from None
    path.write_text(json.dumps(state, indent=1))
    return out


def run(args: list[str]) -> str:
    words, flags = split_args(args)
    if words[:1] and words[0] != "compute" and words[0] != "ssh":
        return run_cloud_run_side(args)
    if words[:1] == ["compute"]:
        words = words[1:]
    command = tuple(words[:2]) if words[:1] != ["ssh"] else ("ssh",)
    allowed = FLAGS.get(command)
    if allowed is None:
        raise GcloudError(f"fake gcloud: `{' '.join(args)}` is not modelled", 2)
    unknown = sorted(f for f in flags if f not in allowed | COMMON)
    if unknown:
        name = ".".join(("gcloud", "compute", *command))
        raise GcloudError(f"ERROR: ({name}) unrecognized arguments: {' '.join('--' + f for f in unknown)}", 2)
    cloud = Cloud(Path(os.environ["FAKE_GCLOUD_STATE"]))
    # Failures a test injects are keyed by the command's last word (or `accelerator-types`).
    cloud.injected("accelerator-types" if command[0] == "accelerator-types" else command[-1])
    if command == ("ssh",):
        return ""
    target = words[2] if len(words) > 2 else ""
    handlers = {
        ("accelerator-types", "list"): lambda: cloud.accelerator_types(flags),
        ("instances", "list"): lambda: cloud.instances_list(flags),
        ("instances", "describe"): lambda: printed(
            cloud.find(target, flags["zone"], "describe"), flags.get("format", "json")
        ),
        ("instances", "create"): lambda: cloud.create(target, flags),
        ("instances", "start"): lambda: cloud.start(target, flags["zone"]),
        ("instances", "stop"): lambda: cloud.stop(target, flags["zone"]),
        ("instances", "delete"): lambda: cloud.delete(target, flags["zone"]),
        ("instances", "set-scheduling"): lambda: cloud.set_scheduling(target, flags),
        ("instances", "get-guest-attributes"): lambda: cloud.guest_attributes(target, flags),
    }
    out = handlers[command]()
    cloud.save()
    return out


def main() -> int:
    args = sys.argv[1:]
    state = os.environ["FAKE_GCLOUD_STATE"]
    with open(state + ".log", "a", encoding="utf-8") as log:
        log.write(json.dumps(args) + "\n")
    try:
        out = run(args)
    except GcloudError as exc:
        print(str(exc).rstrip("\n"), file=sys.stderr)
        return exc.code
    if out:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
