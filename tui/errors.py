"""The errors a user is told about: one sentence each, carrying the exit code of the command that hit them.

`tui.cli.main` is the only place that prints them (`stablelm-tui: error: ...`) and turns them into an exit
status, so every command exits the same way for the same kind of fault.
"""


class StableLMTuiError(Exception):
    """A fault explained in one sentence that names what to change; never shown with a traceback."""

    exit_code = 1


class UserError(StableLMTuiError):
    """Bad input (a file, a flag, a config value): the message names what to change."""

    exit_code = 2
