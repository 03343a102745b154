"""What the commands need from the outside world, in one object the tests replace piece by piece.

The pieces `vm` has too live in vmctl/context.py; cloudrun adds the HTTP client, its price table and the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from vmctl.context import GcloudContext

from runctl import commands
from runctl.errors import RunError
from runctl.monitoring import HttpGet, urllib_get
from runctl.prices import PriceTable, load_table


@dataclass
class Context(GcloudContext):
    http_get: HttpGet = urllib_get
    prices: PriceTable | None = None

    prog: ClassVar[str] = "cloudrun"
    error: ClassVar[type[Exception]] = RunError

    def price_table(self) -> PriceTable:
        if self.prices is None:
            self.prices = load_table()
        return self.prices

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
