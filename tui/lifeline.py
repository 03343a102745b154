"""Children that end with the process that started them, even when it is killed with SIGKILL (Linux).

`stablelm-tui web` starts a model server and one app per browser tab. If `web` itself is killed, nothing else
would stop them: the model would stay loaded (a GPU busy, an instance that never scales to zero) and the apps
would wait on a pipe nobody reads. The kernel's parent-death signal closes that gap; elsewhere it is a no-op.
"""

from __future__ import annotations

import os
import signal
import sys

PARENT_ENV = "STABLELM_TUI_END_WITH_PID"
"""Set by `web` for the tab apps: the pid of the parent they must not outlive."""


def end_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent ends (call it in the child)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(sig))


def end_with_parent_from_env() -> None:
    """For a process started through a shell it cannot configure (textual-serve's tab apps): follow the parent
    named in PARENT_ENV. If that parent is already gone (the signal would never come), SIGTERM ourselves now."""
    wanted = os.environ.get(PARENT_ENV)
    if not wanted or not wanted.isdigit():
        return
    end_with_parent()
    if os.getppid() != int(wanted):
        os.kill(os.getpid(), signal.SIGTERM)
