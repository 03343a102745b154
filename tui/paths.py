"""Where the app keeps its cache, data and config, per platform, each overridable by an environment variable.

Tests and provisioning point these at their own folders; nothing else in the code builds such paths.

Everything the app writes for a user (conversations, trust records, exports, and later stories, adapters and
training runs) is private: folders 0700, files 0600, whatever the umask. Writers go through `private_dir`,
`create_private_file` / `write_private_file`, and `make_private` for files a library creates (SQLite's).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
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


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_SHARED_BITS = 0o077
"""Group and other permission bits: what "private" removes from anything that already exists."""


def private_dir(path: Path) -> Path:
    """Create the folder `path` as 0700, or tighten an existing one; returns `path`.

    The one helper every writer of user data uses for its folder (the data folder, the config folder and any
    folder under them: stories, adapters, training runs). A new folder gets exactly 0700 whatever the umask.
    An existing one loses its group and other bits (0755 -> 0700) but gains nothing: a folder the user made
    read-only (0500) stays read-only. A folder shared by design (sticky bit, like /tmp) and folders owned by
    someone else are left alone. Raises OSError when the folder cannot be created.
    """
    if not path.is_dir():
        # Missing parents get the usual modes: they are not the app's (~/.local/share). A folder inside the
        # data folder is made with private_dir(private_data_dir() / "stories"), so every level is private.
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=PRIVATE_DIR_MODE)
            os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode passes through the umask, which may remove bits
    _tighten(path, directory=True)
    return path


def private_data_dir() -> Path:
    """data_dir() made private: created 0700, or tightened with everything directly in it.

    Where every writer of conversations and such starts. The folder holds only what the app wrote, so the
    first one to open it (the session store, when `chat` or `sessions` starts) also fixes the modes an older
    version left on its files (0644 -> 0600) and subfolders (0755 -> 0700); deeper levels are tightened by
    their own writers through private_dir.
    """
    folder = private_dir(data_dir())
    for entry in folder.iterdir():
        _tighten(entry, directory=entry.is_dir())
    return folder


def private_config_dir() -> Path:
    """config_dir(), created or tightened by private_dir, for any file the app itself writes there."""
    return private_dir(config_dir())


def make_private(path: Path) -> None:
    """Tighten a file the app wrote to owner-only (0644 -> 0600, 0444 -> 0400); a missing file is fine.

    For files created by a library (the SQLite database and its -wal/-shm/-journal files) and for fixing, at
    start, files written by an older version. Like `private_dir`, it removes bits and never adds any.
    """
    _tighten(path, directory=False)


def make_private_tree(root: Path) -> None:
    """Tighten a folder the app wrote through a library (PEFT's save_pretrained writes with the umask) and
    everything under it: folders as `private_dir` does, files as `make_private` (links are left alone)."""
    _tighten(root, directory=True)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            _tighten(Path(folder, name), directory=True)
        for name in files:
            _tighten(Path(folder, name), directory=False)


def create_private_file(path: Path) -> None:
    """Make sure the file `path` exists and is private: created empty as 0600 when missing, else tightened.

    For a file a library then opens (SQLite creates its -wal, -shm and -journal files with the mode of the
    database file, so a database made through this stays private as a whole). The folder must exist: make it
    with private_dir first. Raises OSError when the file cannot be created.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        make_private(path)
        return
    os.close(fd)
    os.chmod(path, PRIVATE_FILE_MODE)  # the umask may have taken bits off 0600


def write_private_file(path: Path, data: str | bytes) -> None:
    """Replace the file `path` with `data` (str as UTF-8) atomically, as a 0600 file.

    The bytes go to a private temporary file beside it first, so a crash leaves the old file or the new one,
    never half of one, and no other account can read either at any moment. The folder must exist: make it
    with private_dir first (or private_data_dir()). Raises OSError on failure.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:  # mkstemp creates the file 0600
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_user_file(path: Path, data: str | bytes) -> None:
    """Write `data` to a place the user named (an export's --output): a new file is created 0600.

    An existing file is overwritten in place and keeps its mode (the user chose it, and it may be a pipe or a
    terminal, which must not be replaced by a regular file); its folder is never changed. Raises OSError.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(payload)


def _tighten(path: Path, *, directory: bool) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
        return  # a link points at someone else's choice; another account's file is not ours to change
    if directory and (not stat.S_ISDIR(info.st_mode) or info.st_mode & stat.S_ISVTX):
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & _SHARED_BITS:
        os.chmod(path, mode & ~_SHARED_BITS)
