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

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

L4_REGIONS = {"us-central1", "us-east4", "europe-west1", "europe-west4", "asia-southeast1", "asia-south1"}
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


class Failure(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def command_of(words: list[str]) -> tuple[str, ...]:
    for size in (3, 2):
        if tuple(words[:size]) in FLAGS:
            return tuple(words[:size])
    raise Failure(f"fake gcloud: `{' '.join(words)}` is not modelled", 2)


REPEATABLE = {"add-volume", "add-volume-mount"}  # gcloud takes these more than once; kept one per line here


def split(args: list[str]) -> tuple[list[str], dict[str, str]]:
    words: list[str] = []
    flags: dict[str, str] = {}
    for arg in args:
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            flags[name] = f"{flags[name]}\n{value}" if name in REPEATABLE and name in flags else value
        else:
            words.append(arg)
    return words, flags


def pairs(text: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in text.split(",") if p)


def matches(item: dict[str, Any], flt: str) -> bool:
    """The label filters the code uses: `labels.K=V` or `metadata.labels.K=V`."""
    if not flt:
        return True
    path, _, value = flt.partition("=")
    node: Any = item
    parts = path.split(".")
    for i, part in enumerate(parts):
        if part == "labels":  # label keys may hold dots: the rest of the path is the key
            return str(((node or {}).get("labels") or {}).get(".".join(parts[i + 1 :]))) == value
        node = (node or {}).get(part)
    return str(node) == value


class RunCloud:
    def __init__(self, state: dict[str, Any], flags: dict[str, str], stdin: str) -> None:
        self.state = state
        self.flags = flags
        self.stdin = stdin
        self.project = flags.get("project") or state.get("project", "")

    def need_project(self, name: str) -> str:
        if not self.project:
            raise Failure(f"ERROR: ({name}) The required property [project] is not currently set.")
        return self.project

    def bucket(self, url: str, what: str) -> dict[str, Any]:
        name = url.removeprefix("gs://").split("/", 1)[0]
        for b in self.state.setdefault("buckets", []):
            if b["name"] == name:
                return dict(b)
        raise Failure(f"ERROR: (gcloud.storage.{what}) gs://{name} not found: 404.")

    def put(self, kind: str, item: dict[str, Any], key: str = "name") -> None:
        items = [i for i in self.state.get(kind, []) if i[key] != item[key]]
        self.state[kind] = [*items, item]

    def drop(self, kind: str, name: str, key: str = "name") -> None:
        self.state[kind] = [i for i in self.state.get(kind, []) if i[key] != name]

    # --- run -----------------------------------------------------------------------------------------------

    def service(self, name: str, region: str, verb: str) -> dict[str, Any]:
        for s in self.state.get("services", []):
            if (
                s["metadata"]["name"] == name
                and s["metadata"]["labels"]["cloud.googleapis.com/location"] == region
            ):
                return dict(s)
        if verb == "describe":
            raise Failure(f"ERROR: (gcloud.run.services.describe) Cannot find service [{name}]")
        raise Failure(f"ERROR: (gcloud.run.{verb}) Service [{name}] could not be found.")  # not verified

    def apply_template(self, svc: dict[str, Any], verb: str) -> None:
        """What deploy and update share: the flags to the revision template, then a new revision."""
        f = self.flags
        meta, template = svc["metadata"], svc["spec"]["template"]
        t_ann = template["metadata"]["annotations"]
        spec = template["spec"]
        container = spec["containers"][0]
        limits = container["resources"]["limits"]
        if "image" in f:
            image = f["image"]
            if image not in self.state.get("images", []):
                raise Failure(f"ERROR: (gcloud.run.{verb}) Image '{image}' not found.")
            container["image"] = image
        for flag, key in (("cpu", "cpu"), ("memory", "memory")):
            if flag in f:
                limits[key] = f[flag]
        if "gpu" in f:
            limits["nvidia.com/gpu"] = f["gpu"]
        if "gpu-type" in f:
            spec["nodeSelector"] = {"run.googleapis.com/accelerator": f["gpu-type"]}
        if "no-gpu-zonal-redundancy" in f:
            t_ann["run.googleapis.com/gpu-zonal-redundancy-disabled"] = "true"
        if "no-cpu-throttling" in f:
            t_ann["run.googleapis.com/cpu-throttling"] = "false"
        if "cpu-throttling" in f:
            t_ann["run.googleapis.com/cpu-throttling"] = "true"
        if "min-instances" in f:
            t_ann["autoscaling.knative.dev/minScale"] = f["min-instances"]
        if "max-instances" in f:
            t_ann["autoscaling.knative.dev/maxScale"] = f["max-instances"]
        if "min" in f:
            meta["annotations"]["run.googleapis.com/minScale"] = f["min"]
        if "timeout" in f:
            spec["timeoutSeconds"] = int(f["timeout"])
        if "service-account" in f:
            email = f["service-account"]
            if not any(a["email"] == email for a in self.state.get("service_accounts", [])):
                raise Failure(
                    f"ERROR: (gcloud.run.{verb}) Service account {email} does not exist."
                )  # not verified
            spec["serviceAccountName"] = email
        if "ingress" in f:
            meta["annotations"]["run.googleapis.com/ingress"] = f["ingress"]
        if "no-invoker-iam-check" in f:
            meta["annotations"]["run.googleapis.com/invoker-iam-disabled"] = "true"
        for key in ("labels", "update-labels"):
            meta["labels"].update(pairs(f.get(key, "")))
        if "set-env-vars" in f:
            container["env"] = [e for e in container.get("env", []) if "valueFrom" in e]
            container["env"] += [{"name": k, "value": v} for k, v in pairs(f["set-env-vars"]).items()]
        if "set-secrets" in f:
            container["env"] = [e for e in container.get("env", []) if "valueFrom" not in e]
            for env, ref in pairs(f["set-secrets"]).items():
                secret, _, version = ref.partition(":")
                if not any(s["name"].endswith(f"/secrets/{secret}") for s in self.state.get("secrets", [])):
                    raise Failure(
                        f"ERROR: (gcloud.run.{verb}) Secret {secret} was not found."
                    )  # not verified
                container["env"].append(
                    {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": version or "latest"}}}
                )
        for text in f["add-volume"].split("\n") if "add-volume" in f else []:
            vol = pairs(text)
            if vol.get("type") != "cloud-storage":
                raise Failure(f"ERROR: (gcloud.run.{verb}) volume type {vol.get('type')} is not modelled", 2)
            self.bucket(vol["bucket"], "buckets.describe")
            spec["volumes"] = [v for v in spec.get("volumes", []) if v["name"] != vol["name"]] + [{
                "name": vol["name"],
                "csi": {"driver": "gcsfuse.run.googleapis.com", "readOnly": vol.get("readonly") == "true",
                        "volumeAttributes": {"bucketName": vol["bucket"]}},
            }]  # fmt: skip
        for text in f["add-volume-mount"].split("\n") if "add-volume-mount" in f else []:
            mount = pairs(text)
            if not any(v["name"] == mount["volume"] for v in spec.get("volumes", [])):
                raise Failure(
                    f"ERROR: (gcloud.run.{verb}) Volume [{mount['volume']}] does not exist."
                )  # not verified
            mounts = [m for m in container.get("volumeMounts", []) if m["name"] != mount["volume"]]
            container["volumeMounts"] = [*mounts, {"name": mount["volume"], "mountPath": mount["mount-path"]}]
        self.check_gpu(svc, verb)
        self.new_revision(svc)

    def check_gpu(self, svc: dict[str, Any], verb: str) -> None:
        spec = svc["spec"]["template"]["spec"]
        limits = spec["containers"][0]["resources"]["limits"]
        if "nvidia.com/gpu" not in limits:
            return
        region = svc["metadata"]["labels"]["cloud.googleapis.com/location"]
        t_ann = svc["spec"]["template"]["metadata"]["annotations"]
        memory = limits.get("memory", "512Mi")
        gib = int(memory[:-2]) / (1 if memory.endswith("Gi") else 1024)
        problems = []  # the rules of "GPU support for services"; the wording is not verified
        if region not in L4_REGIONS:
            problems.append(f"GPU is not supported in region {region}")
        if t_ann.get("run.googleapis.com/cpu-throttling") != "false":
            problems.append("GPU requires CPU to be always allocated (--no-cpu-throttling)")
        if float(limits.get("cpu", "1")) < 4 or gib < 16:
            problems.append("GPU requires at least 4 CPU and 16Gi of memory")
        if problems:
            raise Failure(f"ERROR: (gcloud.run.{verb}) spec.template.spec: {'; '.join(problems)}")

    def new_revision(self, svc: dict[str, Any]) -> None:
        name = svc["metadata"]["name"]
        count = int(svc["metadata"].get("generation", 0)) + 1
        svc["metadata"]["generation"] = count
        suffix = hashlib.sha1(f"{name}{count}".encode()).hexdigest()[:3]
        revision = f"{name}-{count:05d}-{suffix}"
        self.state.setdefault("revisions", []).append({
            "apiVersion": "serving.knative.dev/v1", "kind": "Revision",
            "metadata": {"name": revision, "labels": {"serving.knative.dev/service": name,
                         "cloud.googleapis.com/location": svc["metadata"]["labels"]["cloud.googleapis.com/location"]},
                         "annotations": dict(svc["spec"]["template"]["metadata"]["annotations"])},
            "spec": json.loads(json.dumps(svc["spec"]["template"]["spec"])),
        })  # fmt: skip
        svc["status"]["latestReadyRevisionName"] = revision
        svc["status"]["latestCreatedRevisionName"] = revision
        svc["status"]["traffic"] = [{"revisionName": revision, "percent": 100, "latestRevision": True}]
        svc["status"]["conditions"] = [{"type": "Ready", "status": "True"}]

    def deploy(self, name: str) -> str:
        f = self.flags
        region = f["region"]
        project = self.need_project("gcloud.run.deploy")
        try:
            svc = self.service(name, region, "deploy")
        except Failure:
            if "image" not in f:
                raise Failure(
                    "ERROR: (gcloud.run.deploy) Requires a container image to deploy (e.g. "
                    "`gcr.io/cloudrun/hello:latest`) if no build source is provided."
                ) from None
            svc = {
                "apiVersion": "serving.knative.dev/v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "123456789012",
                             "labels": {"cloud.googleapis.com/location": region}, "annotations": {}},
                "spec": {"template": {"metadata": {"annotations": {}}, "spec": {
                    "containerConcurrency": 80, "timeoutSeconds": 300,
                    "containers": [{"image": "", "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}}}]}},
                    "traffic": [{"percent": 100, "latestRevision": True}]},
                "status": {"url": f"https://{name}-{hashlib.sha1(project.encode()).hexdigest()[:10]}.a.run.app"},
            }  # fmt: skip
        self.apply_template(svc, "deploy")
        if "allow-unauthenticated" in f:
            self.bind(name, region, "allUsers", "roles/run.invoker")
        if "no-allow-unauthenticated" in f:
            self.unbind_public(name, region)
        self.put_service(svc)
        print(
            f"Service [{name}] revision [{svc['status']['latestReadyRevisionName']}] has been deployed and is "
            f"serving 100 percent of traffic.\nService URL: {svc['status']['url']}",
            file=sys.stderr,
        )
        return ""

    def put_service(self, svc: dict[str, Any]) -> None:
        key = (svc["metadata"]["name"], svc["metadata"]["labels"]["cloud.googleapis.com/location"])
        others = [
            s
            for s in self.state.get("services", [])
            if (s["metadata"]["name"], s["metadata"]["labels"]["cloud.googleapis.com/location"]) != key
        ]
        self.state["services"] = [*others, svc]

    def update(self, name: str) -> str:
        svc = self.service(name, self.flags["region"], "services.update")
        self.apply_template(svc, "services.update")
        self.put_service(svc)
        return ""

    def policy_key(self, name: str, region: str) -> str:
        return f"{region}/{name}"

    def bind(self, name: str, region: str, member: str, role: str) -> None:
        policies = self.state.setdefault("run_policies", {})
        bindings = policies.setdefault(self.policy_key(name, region), [])
        for b in bindings:
            if b["role"] == role:
                b["members"] = sorted(set(b["members"]) | {member})
                return
        bindings.append({"role": role, "members": [member]})

    def unbind_public(self, name: str, region: str) -> None:
        for b in self.state.get("run_policies", {}).get(self.policy_key(name, region), []):
            b["members"] = [m for m in b["members"] if m not in ("allUsers", "allAuthenticatedUsers")]

    def services_delete(self, name: str) -> str:
        region = self.flags["region"]
        self.service(name, region, "services.delete")
        self.state["services"] = [
            s for s in self.state["services"]
            if (s["metadata"]["name"], s["metadata"]["labels"]["cloud.googleapis.com/location"]) != (name, region)
        ]  # fmt: skip
        self.state["revisions"] = [
            r
            for r in self.state.get("revisions", [])
            if r["metadata"]["labels"]["serving.knative.dev/service"] != name
        ]
        self.state.get("run_policies", {}).pop(self.policy_key(name, region), None)
        print(f"Deleted service [{name}].", file=sys.stderr)
        return ""

    # --- the others ----------------------------------------------------------------------------------------

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
        if command == ("run", "deploy"):
            return self.deploy(target)
        if command == ("run", "services", "update"):
            return self.update(target)
        if command == ("run", "services", "describe"):
            return out(self.service(target, f["region"], "describe"))
        if command == ("run", "services", "list"):
            items = [
                s
                for s in self.state.get("services", [])
                if matches(s, f.get("filter", ""))
                and f.get("region") in (None, s["metadata"]["labels"]["cloud.googleapis.com/location"])
            ]
            return out(items)
        if command == ("run", "services", "delete"):
            return self.services_delete(target)
        if command == ("run", "services", "get-iam-policy"):
            self.service(target, f["region"], "services.get-iam-policy")
            bindings = self.state.get("run_policies", {}).get(self.policy_key(target, f["region"]), [])
            return out({"bindings": [b for b in bindings if b["members"]], "etag": "BwYfake="})
        if command == ("run", "services", "add-iam-policy-binding"):
            self.service(target, f["region"], "services.add-iam-policy-binding")
            self.bind(target, f["region"], f["member"], f["role"])
            return ""
        if command == ("run", "services", "proxy"):
            self.service(target, f["region"], "services.proxy")
            print(
                f"Proxying to Cloud Run service [{target}] in project [{project}] region [{f['region']}]\n"
                f"http://127.0.0.1:{f.get('port', '8080')} proxies to {target}",
                file=sys.stderr,
            )
            return ""
        if command == ("run", "revisions", "list"):
            return out(
                [
                    r
                    for r in self.state.get("revisions", [])
                    if r["metadata"]["labels"]["serving.knative.dev/service"] == f["service"]
                    and r["metadata"]["labels"]["cloud.googleapis.com/location"] == f["region"]
                ]
            )
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
