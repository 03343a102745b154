"""The one error type `vm` reports as a single line (`vm: error: ...`, exit 2) instead of a traceback."""

from __future__ import annotations


class VmError(Exception):
    """Bad input or a failed cloud call, with a message that says what to do."""
