"""What the commands need from the outside world, in one object the tests replace piece by piece."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TextIO

from vmctl import gcloud
from vmctl.errors import VmError
from vmctl.instances import Instance, parse_list
from vmctl.prices import PriceTable, load_table
from vmctl.runner import DryRunRunner, Result, Runner


@dataclass
class Context:
    runner: Runner
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    now: Callable[[], datetime] = field(default_factory=lambda: lambda: datetime.now(timezone.utc))
    confirm: Callable[[str], bool] | None = None
    git_origin: Callable[[], str | None] | None = None
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
            print(f"vm: {text}", file=self.err)

    def run_or_fail(self, argv: list[str], what: str) -> Result:
        """Run a gcloud command whose failure ends the command, with gcloud's own last line as the reason."""
        result = self.runner.run(argv)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            raise VmError(
                f"{what} failed: {lines[-1] if lines else 'gcloud exited ' + str(result.returncode)}"
            )
        return result

    def our_instances(self, project: str | None) -> list[Instance]:
        return parse_list(self.run_or_fail(gcloud.list_command(project), "listing VMs").stdout)
