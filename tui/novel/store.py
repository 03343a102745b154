"""The per-user story store: where stories made without a path live, and which story was open last (`--resume`).

    <data dir>/stories/                     0700
        2026-12-01-083015-alice.story.json  0600, one per story made in the TUI
        recent.json                         {"recent": [path, ...]}, newest first
Stories opened from elsewhere (`novel write ~/books/a.story.json`) stay where they are; only their path is
remembered. A damaged recent.json is treated as empty: it only ever holds paths.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from tui.paths import data_dir, private_data_dir, private_dir, write_private_file

RECENT_LIMIT = 20
SUFFIX = ".story.json"


def _slug(title: str) -> str:
    # Letters of any script stay (a Japanese title makes a readable file name); separators become "-".
    slug = re.sub(r"[^\w]+", "-", title.strip(), flags=re.UNICODE).strip("-_")
    return slug[:40] or "story"


class StoryStore:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or data_dir() / "stories"
        self._in_data_dir = folder is None

    def _make_folder(self) -> None:
        if self._in_data_dir:
            private_data_dir()  # the data folder itself is private too, not only its stories folder
        private_dir(self.folder)

    @property
    def recent_file(self) -> Path:
        return self.folder / "recent.json"

    def new_path(self, title: str = "") -> Path:
        """A fresh path in the store for a new story (the folder is created, private)."""
        self._make_folder()
        stamp = time.strftime("%Y-%m-%d-%H%M%S")
        base = f"{stamp}-{_slug(title)}"
        path = self.folder / f"{base}{SUFFIX}"
        n = 2
        while path.exists():
            path = self.folder / f"{base}-{n}{SUFFIX}"
            n += 1
        return path

    def recent(self) -> list[Path]:
        """Remembered stories, newest first, that still exist."""
        try:
            document = json.loads(self.recent_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        paths = document.get("recent") if isinstance(document, dict) else None
        if not isinstance(paths, list):
            return []
        return [Path(p) for p in paths if isinstance(p, str) and Path(p).is_file()]

    def last(self) -> Path | None:
        """The story opened most recently (what `--resume` reopens), if it still exists."""
        recent = self.recent()
        return recent[0] if recent else None

    def remember(self, path: Path) -> None:
        """Put `path` first in the recent list. Raises OSError when the store cannot be written."""
        resolved = path.resolve()
        paths = [resolved, *(p for p in self.recent() if p.resolve() != resolved)][:RECENT_LIMIT]
        self._make_folder()
        data = json.dumps({"recent": [str(p) for p in paths]}, ensure_ascii=False, indent=2) + "\n"
        write_private_file(self.recent_file, data)
