"""Adapters and checkpoints are the user's own data: 0700 folders, 0600 files.

Every folder the training code creates goes through `private_dir`, and every tree it finishes writing (PEFT's
save_pretrained writes with the process umask) through `make_private`; one place to switch to a shared helper.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) as a 0700 folder; an existing one is tightened to 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def make_private(root: Path) -> None:
    """Set 0700 on `root` and every folder under it, 0600 on every file (links are left alone)."""
    os.chmod(root, DIR_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            target = Path(folder, name)
            if not target.is_symlink():
                os.chmod(target, DIR_MODE)
        for name in files:
            target = Path(folder, name)
            if not target.is_symlink():
                os.chmod(target, FILE_MODE)
