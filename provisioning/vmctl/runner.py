"""Who actually runs the gcloud commands: the real subprocess runner, or the dry-run printer.

The CLI only ever talks to a Runner, so tests inject their own and `--dry-run` swaps in the printer. `vm` and
`cloudrun` share these: a command can be fed a standard input, so secrets go to gcloud that way
(`--data-file=-`), never as a flag, and show up neither in `ps` nor in a dry run.
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

    def run(self, argv: list[str], stdin: str | None = None) -> Result:
        """Run with output captured; `stdin` (a secret) is written to the command's standard input."""
        ...

    def interactive(self, argv: list[str]) -> int:
        """Run attached to the user's terminal (ssh, the proxy) and return its exit status."""
        ...


@dataclass
class SubprocessRunner:
    error: type[Exception] = VmError
    """What a missing gcloud raises: the error class its CLI turns into one sentence and exit 2."""
    docs: str = "docs/provisioning.md"
    dry_run = False

    def _not_found(self, program: str) -> Exception:
        return self.error(f"{program} not found: install the Google Cloud CLI (see {self.docs})")

    def run(self, argv: list[str], stdin: str | None = None) -> Result:
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise self._not_found(argv[0]) from None
        return Result(done.returncode, done.stdout, done.stderr)

    def interactive(self, argv: list[str]) -> int:
        try:
            return subprocess.call(argv)
        except FileNotFoundError:
            raise self._not_found(argv[0]) from None


@dataclass
class DryRunRunner:
    """Prints each command as one shell-quoted line instead of running it; the output is a valid script."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    commands: list[list[str]] = field(default_factory=list)
    dry_run = True

    def run(self, argv: list[str], stdin: str | None = None) -> Result:
        self.commands.append(list(argv))
        if stdin is not None:
            self.comment("the next command reads a secret on its standard input (not shown)")
        print(shlex.join(argv), file=self.out)
        return Result(0)

    def interactive(self, argv: list[str]) -> int:
        self.run(argv)
        return 0

    def comment(self, text: str) -> None:
        print(f"# {text}", file=self.out)
