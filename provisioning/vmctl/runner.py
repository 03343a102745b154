"""Who actually runs the gcloud commands: the real subprocess runner, or the dry-run printer.

The CLI only ever talks to a Runner, so tests inject their own and `--dry-run` swaps in the printer.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from vmctl.errors import VmError


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str = ""
    stderr: str = ""


class Runner(Protocol):
    dry_run: bool

    def run(self, argv: list[str]) -> Result:
        """Run with output captured (for commands whose output `vm` reads)."""
        ...

    def interactive(self, argv: list[str]) -> int:
        """Run attached to the user's terminal (ssh) and return its exit status."""
        ...


class SubprocessRunner:
    dry_run = False

    def run(self, argv: list[str]) -> Result:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise VmError(
                f"{argv[0]} not found: install the Google Cloud CLI (see docs/provisioning.md)"
            ) from None
        return Result(done.returncode, done.stdout, done.stderr)

    def interactive(self, argv: list[str]) -> int:
        try:
            return subprocess.call(argv)
        except FileNotFoundError:
            raise VmError(
                f"{argv[0]} not found: install the Google Cloud CLI (see docs/provisioning.md)"
            ) from None


@dataclass
class DryRunRunner:
    """Prints each command as one shell-quoted line instead of running it; the output is a valid script."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    commands: list[list[str]] = field(default_factory=list)
    dry_run = True

    def run(self, argv: list[str]) -> Result:
        self.commands.append(list(argv))
        print(shlex.join(argv), file=self.out)
        return Result(0)

    def interactive(self, argv: list[str]) -> int:
        self.run(argv)
        return 0

    def comment(self, text: str) -> None:
        print(f"# {text}", file=self.out)
