"""Reading and writing story files: atomic, private (tui.paths: 0600 files, 0700 folders), size-limited.

Saving goes through tui.paths.write_private_file like every file the app writes for a user. A kill -9 in the
middle of a save leaves its temporary file beside the story (never a half-written story); the next save of the
same story removes such leftovers, so a story folder does not fill with them.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tui.errors import UserError
from tui.novel.schema import dump_story, parse_story
from tui.novel.story import Story
from tui.paths import private_dir, write_private_file

__all__ = ["MAX_STORY_BYTES", "private_dir", "read_story", "save_story"]

MAX_STORY_BYTES = 4 * 1024 * 1024
"""A story file past this is refused (a 100,000-character story with its history is about 0.5 MB)."""
_saving: dict[Path, int] = {}
"""Stories this process is writing right now: their temporaries are not leftovers."""
_saving_lock = threading.Lock()


def _write(path: Path, data: bytes) -> None:
    key = path.absolute()
    with _saving_lock:
        _saving[key] = _saving.get(key, 0) + 1
    try:
        write_private_file(path, data)
    finally:
        with _saving_lock:
            _saving[key] -= 1
            busy = _saving[key] > 0
            if not busy:
                del _saving[key]
    if not busy:
        _remove_leftovers(path)


def _remove_leftovers(path: Path) -> None:
    """Temporaries of saves that were killed midway (write_private_file names them `.NAME.*.part`). One story
    has one writer at a time (the app or a `novel` command), so any other is a leftover."""
    for temp in path.parent.glob(f".{path.name}.*.part"):
        try:
            os.unlink(temp)
        except OSError:
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
        _write(path, data)
    except OSError as exc:
        raise UserError(f"cannot save {path}: {exc.strerror or exc}") from None
