#!/usr/bin/env python3
"""Keeps the app's files across Cloud Run instances: `restore` from the state bucket at start, `save` back to it.

Cloud Run's own disk is in memory and goes with the instance, so without this every conversation would be lost
when the service scales to zero. The app does not work on the bucket mount directly: its sessions are SQLite,
which needs file locks and in-place writes that Cloud Storage FUSE does not provide. Instead the app works on the
instance's disk and this copies whole files to the mount, where sequential writes of whole files are what FUSE
does well. SQLite files are copied with SQLite's online backup, a consistent snapshot even while the app writes.

Usage: cloudrun_state.py restore STATE_DIR LOCAL_DIR | save LOCAL_DIR STATE_DIR
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"
SIDE_FILES = ("-wal", "-shm", "-journal")  # part of a live database; the backup already holds their content


def is_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def copy_file(src: Path, dst: Path) -> None:
    """Write `dst` completely under a temporary name first, so a copy cut short never replaces a good one."""
    dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = dst.with_name(dst.name + ".partial")
    if is_sqlite(src):
        # The snapshot is taken on the local disk (SQLite writes pages in place), then copied over whole.
        with tempfile.TemporaryDirectory() as scratch:
            snapshot = Path(scratch) / src.name
            source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
            target = sqlite3.connect(snapshot)
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
            shutil.copyfile(snapshot, tmp)
    else:
        shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o600)
    os.replace(tmp, dst)


def mirror(src: Path, dst: Path) -> int:
    """Copy every file of `src` that is new or changed to `dst`; returns how many were copied."""
    copied = 0
    if not src.is_dir():
        return 0
    for path in sorted(src.rglob("*")):
        if not path.is_file() or path.name.endswith((*SIDE_FILES, ".partial")):
            continue
        target = dst / path.relative_to(src)
        if target.exists() and target.stat().st_mtime >= path.stat().st_mtime and not is_sqlite(path):
            continue
        copy_file(path, target)
        copied += 1
    return copied


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("restore", "save"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    src, dst = Path(argv[1]), Path(argv[2])
    count = mirror(src, dst)
    print(f"cloudrun_state: {argv[0]}: {count} file(s) from {src} to {dst}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
