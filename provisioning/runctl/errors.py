"""The one error type `cloudrun` reports as a single line (`cloudrun: error: ...`, exit 2)."""

from __future__ import annotations


class RunError(Exception):
    """Bad input, a refused setting or a failed cloud call, with a message that says what to do."""
