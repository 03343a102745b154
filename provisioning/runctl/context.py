"""What the commands need from the outside world, in one object the tests replace piece by piece."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TextIO

from runctl import commands
from runctl.errors import RunError
from runctl.monitoring import HttpGet, urllib_get
from runctl.prices import PriceTable, load_table
from runctl.runner import DryRunRunner, Result, Runner


@dataclass
class Context:
    runner: Runner
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    now: Callable[[], datetime] = field(default_factory=lambda: lambda: datetime.now(timezone.utc))
    confirm: Callable[[str], bool] | None = None
    http_get: HttpGet = urllib_get
    prices: PriceTable | None = None

    def price_table(self) -> PriceTable:
        if self.prices is None:
            self.prices = load_table()
        return self.prices

    def say(self, text: str) -> None:
        # In a dry run stdout is the command script, so narration goes out as shell comments.
        if isinstance(self.runner, DryRunRunner):
            self.runner.comment(text)
        else:
            print(text, file=self.out)

    def warn(self, text: str) -> None:
        if isinstance(self.runner, DryRunRunner):
            self.runner.comment(text)
        else:
            print(f"cloudrun: {text}", file=self.err)

    def run_or_fail(self, argv: list[str], what: str, stdin: str | None = None) -> Result:
        """Run a gcloud command whose failure ends the command, with gcloud's own last line as the reason."""
        result = self.runner.run(argv, stdin)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            raise RunError(
                f"{what} failed: {lines[-1] if lines else 'gcloud exited ' + str(result.returncode)}"
            )
        return result

    def exists(self, argv: list[str]) -> bool:
        """A describe command answers 0 when the resource exists (a dry run prints it and assumes it does not)."""
        return self.runner.run(argv).returncode == 0 and not self.runner.dry_run

    def project(self, given: str | None) -> str:
        if given:
            return given
        result = self.runner.run(commands.get_project())
        if self.runner.dry_run:
            return "PROJECT"
        project = result.stdout.strip()
        if result.returncode != 0 or not project:
            raise RunError("no project: pass --project or run `gcloud config set project PROJECT`")
        return project
