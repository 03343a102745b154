"""Which saved conversations an app has open right now, so two browser tabs never write into the same one.

`stablelm-tui chat --continue` (what each `web` tab runs) reopens the newest conversation unless another app holds
it. The hold is an advisory lock (flock) on a file per conversation under the data folder: the kernel drops it
when the process ends however it ends (idle exit, SIGTERM, SIGKILL), so a closed tab never leaves a stale hold.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tui.paths import data_dir, private_dir


class ConversationHold:
    """An open, locked file; the conversation stays held until `release()` or the end of the process."""

    def __init__(self, conversation_id: int, fd: int) -> None:
        self.conversation_id = conversation_id
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def _lock_dir() -> Path:
    return private_dir(private_dir(data_dir()) / "open")


def try_hold(conversation_id: int) -> ConversationHold | None:
    """Hold the conversation, or None when another process already holds it."""
    import fcntl

    fd = os.open(_lock_dir() / f"{conversation_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
    return ConversationHold(conversation_id, fd)
