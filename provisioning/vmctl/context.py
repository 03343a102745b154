"""What the commands need from the outside world, in one object the tests replace piece by piece.

`vm` and `cloudrun` share GcloudContext: the runner, the clock, the prompt, narration and the failure of a gcloud
call; each CLI's Context adds only its own pieces (cloudrun's in runctl/context.py) and names its error and prefix.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import ClassVar, TextIO

from vmctl import gcloud
from vmctl.errors import VmError
from vmctl.instances import Instance, parse_list
from vmctl.prices import PriceTable, load_table
from vmctl.runner import DryRunRunner, Result, Runner


@dataclass
class GcloudContext:
    runner: Runner
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    now: Callable[[], datetime] = field(default_factory=lambda: lambda: datetime.now(timezone.utc))
    confirm: Callable[[str], bool] | None = None
    """Answers a yes/no question in place of the terminal (tests)."""

    prog: ClassVar[str] = "vm"
    """How the CLI names itself before a warning or an error."""
    error: ClassVar[type[Exception]] = VmError
    """The one error the CLI reports as a single line and exit 2."""

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
            print(f"{self.prog}: {text}", file=self.err)

    def ask(self, prompt: str) -> bool:
        """The user's yes to `prompt`; without a terminal to ask on, the error says to pass --yes."""
        if self.confirm is not None:
            return self.confirm(prompt)
        if not sys.stdin.isatty():
            raise self.error("not asking on a non-interactive input: pass --yes to delete")
        return input(prompt).strip().lower() in ("y", "yes")

    def run_or_fail(self, argv: list[str], what: str, stdin: str | None = None) -> Result:
        """Run a gcloud command whose failure ends the command, with gcloud's own last line as the reason."""
        result = self.runner.run(argv) if stdin is None else self.runner.run(argv, stdin)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            raise self.error(
                f"{what} failed: {lines[-1] if lines else 'gcloud exited ' + str(result.returncode)}"
            )
        return result


@dataclass
class Context(GcloudContext):
    git_origin: Callable[[], str | None] | None = None
    prices: PriceTable | None = None

    def price_table(self) -> PriceTable:
        if self.prices is None:
            self.prices = load_table()
        return self.prices

    def our_instances(self, project: str | None) -> list[Instance]:
        return parse_list(self.run_or_fail(gcloud.list_command(project), "listing VMs").stdout)
