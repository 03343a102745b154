"""What the session store's text columns hold: JSON for settings, meta and token ids, with secrets left out.

Pure functions, so the store (tui/store.py) keeps only the database. A damaged value reads back
as empty or unknown rather than failing the whole conversation.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Settings keys that could hold a secret; only the *name* of an environment variable may be stored.
_SECRET_KEY = re.compile(r"(^|_)(api_?key|token|secret|password|authorization)$", re.IGNORECASE)


def scrub_secrets(settings: dict[str, Any]) -> dict[str, Any]:
    """Drop anything that looks like a credential; keep `..._env` names of environment variables."""
    clean: dict[str, Any] = {}
    for key, value in settings.items():
        if _SECRET_KEY.search(key):
            continue
        clean[key] = scrub_secrets(value) if isinstance(value, dict) else value
    return clean


def title_from(text: str, limit: int = 40) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def dump_object(value: dict[str, Any] | None) -> str:
    """A message's meta or a conversation's settings as JSON, without anything that looks like a credential."""
    return json.dumps(scrub_secrets(value or {}), ensure_ascii=False)


def load_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def dump_ids(ids: tuple[int, ...] | None) -> str | None:
    return None if ids is None else json.dumps([int(i) for i in ids], separators=(",", ":"))


def load_ids(text: str | None) -> tuple[int, ...] | None:
    """Ids as stored, or None when absent or not a list of ints (a damaged value only costs the exact reuse)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        return None
    return tuple(value)
