"""Errors that the user caused and can fix: the CLI prints them on one line and exits 2."""


class UserError(Exception):
    """Bad input (a file, a flag, a config value): the message names what to change."""
