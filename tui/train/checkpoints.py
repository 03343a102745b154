"""Where a run keeps its state: checkpoints a killed run resumes from, and the final rename to --out.

Until a run ends, everything lives in `<out>.incomplete/`: run.json (what the run is: data fingerprint and
settings, compared on --resume) and checkpoints/step-NNNNNNNN/ (the adapter so far plus optimizer, scheduler
and random states). Each checkpoint is written into a temporary folder, flushed, and renamed into place, so a
kill -9 or a preempted VM at any moment leaves the previous checkpoint whole. The finished adapter is built in
the work folder and renamed to --out as the very last step: an --out folder that exists is complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui.errors import UserError
from tui.paths import make_private_tree, private_dir

WORK_SUFFIX = ".incomplete"
MANIFEST = "run.json"
STATE_FILE = "state.pt"
ADAPTER_SUBDIR = "adapter"
KEEP_CHECKPOINTS = 2
_STEP_DIR = re.compile(r"step-(\d{8})")


def _fsync_tree(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        for name in files:
            with open(Path(folder, name), "rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WorkDir:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.root = out.with_name(out.name + WORK_SUFFIX)
        self.checkpoints = self.root / "checkpoints"

    def check_out(self, resume: bool) -> None:
        """UserError unless this run may write --out (and may resume, or start, in the work folder)."""
        if self.out.exists():
            raise UserError(f"{self.out} already exists: choose another --out, or delete it to train again")
        if not self.out.parent.is_dir():
            raise UserError(f"{self.out.parent}: no such folder for --out")
        if self.root.exists() and not resume:
            raise UserError(
                f"an interrupted run is in {self.root}: add --resume to continue it, or delete that folder "
                "to start over"
            )

    def start(self, manifest: dict[str, Any], resume: bool) -> bool:
        """Create or reopen the work folder; True when there is a run to resume. UserError if it differs."""
        existing = self.root / MANIFEST
        if resume and existing.is_file():
            try:
                saved = json.loads(existing.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UserError(f"{existing}: unreadable ({exc}); delete {self.root} to start over") from None
            differing = sorted(
                k
                for k in manifest.keys() | saved.keys()
                if manifest.get(k) != saved.get(k) and k != "created"
            )
            if differing:
                raise UserError(
                    f"--resume: this run differs from the interrupted one in {', '.join(differing)}: run the "
                    f"same command, or delete {self.root} to start over"
                )
            return True
        private_dir(self.root)
        private_dir(self.checkpoints)
        temporary = self.root / (MANIFEST + ".tmp")
        temporary.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        make_private_tree(self.root)
        temporary.replace(existing)
        return False

    def steps_saved(self) -> list[int]:
        if not self.checkpoints.is_dir():
            return []
        found = (_STEP_DIR.fullmatch(p.name) for p in self.checkpoints.iterdir() if p.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    def latest(self) -> Path | None:
        steps = self.steps_saved()
        return self.checkpoints / f"step-{steps[-1]:08d}" if steps else None

    def save(self, step: int, write: Callable[[Path], None]) -> Path:
        """Write checkpoint `step` with write(folder) into a temporary folder, then rename it into place."""
        temporary = self.checkpoints / f".tmp-step-{step:08d}"
        final = self.checkpoints / f"step-{step:08d}"
        if temporary.exists():
            shutil.rmtree(temporary)
        private_dir(temporary)
        write(temporary)
        make_private_tree(temporary)
        _fsync_tree(temporary)
        if final.exists():
            shutil.rmtree(final)
        temporary.rename(final)
        for old in self.steps_saved()[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(self.checkpoints / f"step-{old:08d}", ignore_errors=True)
        return final

    def finish(self, write: Callable[[Path], None]) -> Path:
        """Build the adapter with write(folder) in the work folder, rename it to --out, drop the work folder."""
        temporary = self.root / "final.tmp"
        if temporary.exists():
            shutil.rmtree(temporary)
        private_dir(temporary)
        write(temporary)
        make_private_tree(temporary)
        _fsync_tree(temporary)
        temporary.rename(self.out)
        shutil.rmtree(self.root, ignore_errors=True)
        return self.out
