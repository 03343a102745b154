"""Reading and writing story files: atomic, private (0600 files, 0700 folders we create), size-limited.

`write_private` is the one place novel mode writes a file for the user; when the project has one shared helper
for private files (tui.paths), this function is what switches to it.
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

from tui.errors import UserError
from tui.novel.schema import dump_story, parse_story
from tui.novel.story import Story

MAX_STORY_BYTES = 4 * 1024 * 1024
"""A story file past this is refused (a 100,000-character story with its history is about 0.5 MB)."""
FILE_MODE = 0o600
DIR_MODE = 0o700
_counter = itertools.count()
_counter_lock = threading.Lock()


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) readable only by the user; an existing folder is left as it is."""
    missing = []
    here = path
    while not here.exists():
        missing.append(here)
        here = here.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(folder, DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically: a reader (or a kill -9) sees the old file or the new, never half.

    The data goes to a temporary file beside it (0600), is flushed to disk, then renamed over the target.
    """
    with _counter_lock:
        serial = next(_counter)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{serial}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _remove_stale_temporaries(path)
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files of writers that were killed mid-save (their process is gone)."""
    for temp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            pid = int(temp.name[len(path.name) + 2 :].split(".")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            temp.unlink(missing_ok=True)
        except (ValueError, OSError):
            continue


def read_story(path: Path) -> Story:
    """The story in `path`; every problem (missing, too big, malformed) is a UserError naming the file."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such story file (create one with `stablelm-tui novel new {path}`)"
        ) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if path.is_dir():
        raise UserError(f"{path}: is a directory, not a story file")
    if size > MAX_STORY_BYTES:
        raise UserError(
            f"{path}: {size / 1024 / 1024:.1f} MB is over the {MAX_STORY_BYTES // 1024 // 1024} MB limit for a "
            "story file; split the story or remove old history items"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_story(data, str(path))


def save_story(path: Path, story: Story) -> None:
    """Write `story` to `path` atomically and privately; UserError when it cannot be written or is too big."""
    data = dump_story(story)
    if len(data) > MAX_STORY_BYTES:
        raise UserError(
            f"{path}: the story would be {len(data) / 1024 / 1024:.1f} MB, over the "
            f"{MAX_STORY_BYTES // 1024 // 1024} MB limit; remove old history items"
        )
    try:
        write_private(path, data)
    except OSError as exc:
        raise UserError(f"cannot save {path}: {exc.strerror or exc}") from None
