"""Who runs the gcloud commands: the subprocess runner, or the dry-run printer.

Unlike `vm`'s runner this one can feed a command its standard input: secrets go to gcloud that way
(`--data-file=-`), never as a flag, so they show up neither in `ps` nor in a dry run.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from runctl.errors import RunError

NO_GCLOUD = "{} not found: install the Google Cloud CLI (see docs/cloudrun.md)"


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
        """Run attached to the user's terminal (the proxy) and return its exit status."""
        ...


class SubprocessRunner:
    dry_run = False

    def run(self, argv: list[str], stdin: str | None = None) -> Result:
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise RunError(NO_GCLOUD.format(argv[0])) from None
        return Result(done.returncode, done.stdout, done.stderr)

    def interactive(self, argv: list[str]) -> int:
        try:
            return subprocess.call(argv)
        except FileNotFoundError:
            raise RunError(NO_GCLOUD.format(argv[0])) from None


@dataclass
class DryRunRunner:
    """Prints each command as one shell-quoted line; the output is a script, narration as `#` comments."""

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
