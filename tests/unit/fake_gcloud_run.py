"""The fake gcloud's Cloud Run side: run, builds, storage, secrets, artifacts, iam, services, config and auth, for
what `provisioning/cloudrun` runs. fake_gcloud.py hands these commands over; state lives in the same JSON file.

What "as the real one does" rests on (the gcloud reference pages of each command, read 2026-12-01):
- flags are the real ones, in `--flag=value` form; any other flag is refused with gcloud's
  `unrecognized arguments` message and exit 2;
- `run services describe/list --format=json` print the v1 (Knative) resource: labels and annotations in
  `metadata`, the revision template in `spec.template`, service-level minimum instances as the
  `run.googleapis.com/minScale` annotation, revision-level ones as `autoscaling.knative.dev/minScale`;
- `run deploy` and `run services update` create a new revision from the same template logic and move all traffic
  to it; the GPU rules (4+ CPU, 16+ GiB, CPU always allocated, L4 regions) are enforced, wording not verified;
- `storage rm --recursive gs://B` deletes the objects and the bucket; `storage ls` on nothing answers
  "One or more URLs matched no objects." with exit 1;
- `config get-value project` prints nothing on stdout and `(unset)` on stderr when no project is set.
Error texts marked "not verified" are ones the code only relays.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fake_gcloud_base import Failure, matches, pairs, split
from fake_gcloud_run_service import RunServices

BOOL = {"quiet", "async"}
COMMON = {"project", "format", "quiet", "verbosity", "filter"}
FLAGS: dict[tuple[str, ...], set[str]] = {
    ("config", "get-value"): set(),
    ("auth", "print-access-token"): set(),
    ("services", "enable"): {"async"},
    ("artifacts", "repositories", "create"): {"repository-format", "location", "labels", "description", "async"},
    ("artifacts", "repositories", "describe"): {"location"},
    ("artifacts", "repositories", "list"): {"location", "limit"},
    ("artifacts", "repositories", "delete"): {"location", "async"},
    ("builds", "submit"): {"config", "ignore-file", "substitutions", "region", "no-source", "tag", "async"},
    ("storage", "buckets", "create"): {"location", "uniform-bucket-level-access", "public-access-prevention",
                                       "default-storage-class"},
    ("storage", "buckets", "describe"): set(),
    ("storage", "buckets", "update"): {"update-labels", "remove-labels", "clear-labels"},
    ("storage", "buckets", "list"): set(),
    ("storage", "buckets", "add-iam-policy-binding"): {"member", "role"},
    ("storage", "rm"): {"recursive"},
    ("storage", "ls"): {"recursive"},
    ("secrets", "create"): {"data-file", "replication-policy", "labels", "locations"},
    ("secrets", "describe"): set(),
    ("secrets", "list"): {"limit"},
    ("secrets", "delete"): set(),
    ("secrets", "add-iam-policy-binding"): {"member", "role"},
    ("iam", "service-accounts", "create"): {"display-name", "description"},
    ("iam", "service-accounts", "describe"): set(),
    ("iam", "service-accounts", "delete"): set(),
    ("run", "deploy"): {
        "image", "region", "gpu", "gpu-type", "gpu-zonal-redundancy", "no-gpu-zonal-redundancy", "cpu", "memory",
        "cpu-throttling", "no-cpu-throttling", "min", "min-instances", "max", "max-instances", "timeout",
        "allow-unauthenticated", "no-allow-unauthenticated", "ingress", "service-account", "labels",
        "update-labels", "set-secrets", "set-env-vars", "add-volume", "add-volume-mount", "concurrency",
        "invoker-iam-check", "no-invoker-iam-check", "async",
    },
    ("run", "services", "update"): {
        "region", "gpu", "gpu-type", "cpu", "memory", "cpu-throttling", "no-cpu-throttling", "min",
        "min-instances", "max", "max-instances", "timeout", "ingress", "update-labels", "invoker-iam-check",
        "no-invoker-iam-check", "async",
    },
    ("run", "services", "describe"): {"region"},
    ("run", "services", "list"): {"region", "limit"},
    ("run", "services", "delete"): {"region", "async"},
    ("run", "services", "get-iam-policy"): {"region"},
    ("run", "services", "add-iam-policy-binding"): {"region", "member", "role"},
    ("run", "services", "proxy"): {"region", "port", "tag", "token"},
    ("run", "revisions", "list"): {"region", "service", "limit"},
}  # fmt: skip
TOP = {"config", "auth", "services", "artifacts", "builds", "storage", "secrets", "iam", "run"}


def command_of(words: list[str]) -> tuple[str, ...]:
    for size in (3, 2):
        if tuple(words[:size]) in FLAGS:
            return tuple(words[:size])
    raise Failure(f"fake gcloud: `{' '.join(words)}` is not modelled", 2)


class RunCloud(RunServices):
    def handle(self, command: tuple[str, ...], words: list[str]) -> str:
        f = self.flags
        target = words[len(command)] if len(words) > len(command) else ""
        fmt = f.get("format", "")
        out = lambda obj: json.dumps(obj, indent=2, sort_keys=True) if fmt == "json" else ""  # noqa: E731
        project = self.project
        if command == ("config", "get-value"):
            if not project:
                print("(unset)", file=sys.stderr)
            return project
        if command == ("auth", "print-access-token"):
            return self.state.get("access_token", "ya29.fake-token")
        if command == ("services", "enable"):
            self.state.setdefault("apis", [])
            self.state["apis"] = sorted(set(self.state["apis"]) | set(words[2:]))
            return ""
        if command[0] == "artifacts":
            location = f.get("location", "")
            full = f"projects/{project}/locations/{location}/repositories/{target}"
            repos = self.state.setdefault("repositories", [])
            if command[2] == "create":
                if any(r["name"] == full for r in repos):
                    raise Failure(
                        "ERROR: (gcloud.artifacts.repositories.create) ALREADY_EXISTS: the repository "
                        "already exists"
                    )  # not verified
                repos.append(
                    {
                        "name": full,
                        "format": f["repository-format"].upper(),
                        "labels": pairs(f.get("labels", "")),
                    }
                )
                return ""
            if command[2] == "list":
                return out(
                    [
                        r
                        for r in repos
                        if f"/locations/{location}/" in r["name"] and matches(r, f.get("filter", ""))
                    ]
                )
            found = [r for r in repos if r["name"] == full]
            if not found:
                raise Failure(
                    f"ERROR: (gcloud.artifacts.repositories.{command[2]}) NOT_FOUND: Requested entity was "
                    "not found."
                )  # not verified
            if command[2] == "delete":
                self.drop("repositories", full)
                prefix = f"{location}-docker.pkg.dev/{project}/{target}/"
                self.state["images"] = [i for i in self.state.get("images", []) if not i.startswith(prefix)]
                return ""
            return out(found[0])
        if command == ("builds", "submit"):
            return self.build(words)
        if command[0] == "storage":
            return self.storage(command, words, out)
        if command[0] == "secrets":
            full = f"projects/123456789012/secrets/{target}"
            found = [s for s in self.state.get("secrets", []) if s["name"] == full]
            if command[1] == "create":
                if found:
                    raise Failure(
                        f"ERROR: (gcloud.secrets.create) Resource in projects [{project}] is the subject of "
                        f"a conflict: Secret [{full}] already exists."
                    )  # not verified
                if f.get("data-file") != "-":
                    raise Failure("fake gcloud: secrets are only read from stdin here", 2)
                self.put(
                    "secrets",
                    {"name": full, "labels": pairs(f.get("labels", "")), "replication": {"automatic": {}}},
                )
                self.state.setdefault("secret_values", {})[target] = self.stdin
                return ""
            if command[1] == "list":
                return out([s for s in self.state.get("secrets", []) if matches(s, f.get("filter", ""))])
            if not found:
                raise Failure(
                    f"ERROR: (gcloud.secrets.{command[1]}) NOT_FOUND: Secret [{full}] not found or has no "
                    "versions."
                )  # not verified
            if command[1] == "delete":
                self.drop("secrets", full)
                self.state.get("secret_values", {}).pop(target, None)
                print(f"Deleted secret [{target}].", file=sys.stderr)
                return ""
            if command[1] == "add-iam-policy-binding":
                self.state.setdefault("secret_policies", {}).setdefault(target, []).append(
                    [f["member"], f["role"]]
                )
                return ""
            return out(found[0])
        if command[0] == "iam":
            accounts = self.state.setdefault("service_accounts", [])
            if command[2] == "create":
                email = f"{target}@{project}.iam.gserviceaccount.com"
                if any(a["email"] == email for a in accounts):
                    raise Failure(
                        f"ERROR: (gcloud.iam.service-accounts.create) Resource in projects [{project}] is "
                        f"the subject of a conflict: Service account {target} already exists within "
                        f"project projects/{project}."
                    )  # not verified
                accounts.append({"email": email, "displayName": f.get("display-name", "")})
                return ""
            found = [a for a in accounts if a["email"] == target]
            if not found:
                raise Failure(
                    f"ERROR: (gcloud.iam.service-accounts.{command[2]}) NOT_FOUND: Unknown service account"
                )  # not verified
            if command[2] == "delete":
                self.drop("service_accounts", target, key="email")
                return ""
            return out(found[0])
        if command[0] == "run":
            return self.handle_run(command, target, out)
        raise Failure(f"fake gcloud: {' '.join(command)} is not modelled", 2)

    def build(self, words: list[str]) -> str:
        f = self.flags
        config = Path(f["config"])
        if not config.is_file():
            raise Failure(
                f"ERROR: (gcloud.builds.submit) Unable to read file [{config}]: [Errno 2] No such file or "
                f"directory: '{config}'"
            )
        subs = pairs(f.get("substitutions", ""))
        text = config.read_text()
        for key in subs:
            if "${" + key + "}" not in text and "$" + key not in text:
                raise Failure(
                    f'ERROR: (gcloud.builds.submit) INVALID_ARGUMENT: invalid build: key "{key}" in the '
                    "substitution data is not matched in the template"
                )
        image = subs.get("_IMAGE", "")
        if "no-source" not in f:  # the image build: it pushes to the repository
            if len(words) < 3 or not Path(words[2]).is_dir():
                raise Failure(
                    "ERROR: (gcloud.builds.submit) Invalid value for [source]: could not find source", 2
                )
            location, _, rest = image.partition("-docker.pkg.dev/")
            project, repo = rest.split("/")[:2]
            full = f"projects/{project}/locations/{location}/repositories/{repo}"
            if not any(r["name"] == full for r in self.state.get("repositories", [])):
                raise Failure(
                    f'ERROR: (gcloud.builds.submit) build failed: name unknown: Repository "{repo}" not found'
                )  # not verified
            self.state["images"] = sorted(set(self.state.get("images", [])) | {image})
            self.state.setdefault("builds", []).append({"kind": "image", "image": image})
            return ""
        if image not in self.state.get("images", []):
            raise Failure(
                f"ERROR: (gcloud.builds.submit) build failed: image {image} not found"
            )  # not verified
        bucket = self.bucket(subs["_BUCKET"], "buckets.describe")
        secret = subs.get("_HF_SECRET")
        if secret and not any(
            s["name"].endswith(f"/secrets/{secret}") for s in self.state.get("secrets", [])
        ):
            raise Failure(
                f"ERROR: (gcloud.builds.submit) build failed: secret {secret} not found"
            )  # not verified
        objects = self.state.setdefault("objects", {}).setdefault(bucket["name"], [])
        objects += [f"hub/models--{subs['_PRESET']}/weights.safetensors", f"complete/{subs['_PRESET']}"]
        self.state.setdefault("builds", []).append(
            {"kind": "weights", "preset": subs["_PRESET"], "secret": secret}
        )
        return ""

    def storage(self, command: tuple[str, ...], words: list[str], out: Any) -> str:
        f = self.flags
        url = words[len(command)] if len(words) > len(command) else ""
        if command == ("storage", "buckets", "create"):
            name = url.removeprefix("gs://")
            if any(b["name"] == name for b in self.state.get("buckets", [])):
                raise Failure(
                    "ERROR: (gcloud.storage.buckets.create) HTTPError 409: Your previous request to create "
                    "the named bucket succeeded and you already own it."
                )
            self.put("buckets", {"name": name, "storage_url": f"gs://{name}/", "location": f["location"].upper(),
                                 "labels": {}, "uniform_bucket_level_access": "uniform-bucket-level-access" in f,
                                 "public_access_prevention": "enforced" if "public-access-prevention" in f else
                                 "inherited"})  # fmt: skip
            return ""
        if command == ("storage", "buckets", "list"):
            return out([b for b in self.state.get("buckets", []) if matches(b, f.get("filter", ""))])
        if command == ("storage", "ls"):
            bucket = self.bucket(url, "ls")
            path = url.removeprefix(f"gs://{bucket['name']}/")
            found = [o for o in self.state.get("objects", {}).get(bucket["name"], []) if o.startswith(path)]
            if not found:
                raise Failure("ERROR: (gcloud.storage.ls) One or more URLs matched no objects.")
            return "\n".join(f"gs://{bucket['name']}/{o}" for o in found)
        bucket = self.bucket(url, ".".join(command[1:]))
        if command == ("storage", "buckets", "describe"):
            return out(bucket)
        if command == ("storage", "buckets", "update"):
            bucket["labels"].update(pairs(f.get("update-labels", "")))
            self.put("buckets", bucket)
            return ""
        if command == ("storage", "buckets", "add-iam-policy-binding"):
            self.state.setdefault("bucket_policies", {}).setdefault(bucket["name"], []).append(
                [f["member"], f["role"]]
            )
            return ""
        if command == ("storage", "rm"):
            if url.rstrip("/") != f"gs://{bucket['name']}" or "recursive" not in f:
                raise Failure("fake gcloud: only `storage rm --recursive gs://BUCKET` is modelled", 2)
            self.drop("buckets", bucket["name"])
            self.state.get("objects", {}).pop(bucket["name"], None)
            return ""
        raise Failure(f"fake gcloud: {' '.join(command)} is not modelled", 2)


def run(args: list[str], state: dict[str, Any]) -> str:
    words, flags = split(args)
    command = command_of(words)
    unknown = sorted(k for k in flags if k not in FLAGS[command] | COMMON | BOOL)
    if unknown:
        raise Failure(f"ERROR: (gcloud.{'.'.join(command)}) unrecognized arguments: "
                      f"{' '.join('--' + k for k in unknown)}", 2)  # fmt: skip
    failing = state.get("fail", {}).get(" ".join(command))
    if failing:
        raise Failure(failing)
    stdin = sys.stdin.read() if flags.get("data-file") == "-" else ""
    return RunCloud(state, flags, stdin).handle(command, words)
