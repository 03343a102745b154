"""Where the app keeps its cache, data and config, per platform, each overridable by an environment variable.

Tests and provisioning point these at their own folders; nothing else in the code builds such paths.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

APP_NAME = "stablelm-tui"


def _dir(env: str, kind: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Rebuildable things: the demo models, the extracted tokenizer."""
    return _dir("STABLELM_TUI_CACHE_DIR", "cache")


def data_dir() -> Path:
    """Things the user would miss: saved conversations."""
    return _dir("STABLELM_TUI_DATA_DIR", "data")


def config_dir() -> Path:
    """The user's config.toml (default preset, extra presets)."""
    return _dir("STABLELM_TUI_CONFIG_DIR", "config")


def config_file() -> Path:
    return config_dir() / "config.toml"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (tokenizer models are verified and keyed by it)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
