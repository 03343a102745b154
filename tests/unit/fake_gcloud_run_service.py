"""The fake gcloud's `run` commands: services and revisions as the v1 API keeps them. `deploy` and
`services update` share one template-and-revision path, as in gcloud; the GPU rules of "GPU support for
services" are enforced (their wording is not verified)."""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from fake_gcloud_base import L4_REGIONS, Base, Failure, matches, pairs


class RunServices(Base):
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

    def handle_run(self, command: tuple[str, ...], target: str, out: Any) -> str:
        f = self.flags
        project = self.project
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
