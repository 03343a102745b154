"""Shared pieces of the fake gcloud's Cloud Run side (see fake_gcloud_run.py): the flag splitting, label filters,
errors, and the state helpers every command uses."""

from __future__ import annotations

from typing import Any

L4_REGIONS = {"us-central1", "us-east4", "europe-west1", "europe-west4", "asia-southeast1", "asia-south1"}


class Failure(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


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


class Base:
    """State, flags and the helpers every command shares."""

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
