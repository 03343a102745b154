"""The gcloud runners of `vm` (vmctl/runner.py), raising cloudrun's error and naming its docs."""

from __future__ import annotations

from dataclasses import dataclass

from vmctl.runner import DryRunRunner, Result, Runner
from vmctl.runner import SubprocessRunner as _SharedSubprocessRunner

from runctl.errors import RunError

__all__ = ["DryRunRunner", "Result", "Runner", "SubprocessRunner"]


@dataclass
class SubprocessRunner(_SharedSubprocessRunner):
    error: type[Exception] = RunError
    docs: str = "docs/cloudrun.md"
