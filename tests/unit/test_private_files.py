"""Private by default: the data folder is 0700 and every file the app writes there 0600, whatever the umask.

Modes are read with os.stat (the suite runs as root, which no permission check would stop).
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.cli import main
from tui.paths import (
    create_private_file,
    data_dir,
    make_private,
    make_private_tree,
    private_data_dir,
    private_dir,
    write_private_file,
    write_user_file,
)
from tui.store import SessionStore
from tui.trust import record_trust, trust_file


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000: whatever the app writes would be world-readable unless it sets the modes itself."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_new_private_folder_is_0700_and_only_the_last_level_is_the_apps(
    tmp_path: Path, open_umask: None
) -> None:
    folder = private_dir(tmp_path / "outer" / "app")
    assert mode(folder) == 0o700
    assert mode(tmp_path / "outer") == 0o777  # a parent such as ~/.local/share keeps the usual mode


@pytest.mark.parametrize(
    ("before", "after"),
    [(0o755, 0o700), (0o777, 0o700), (0o700, 0o700), (0o500, 0o500), (0o750, 0o700)],
    ids=["0755", "0777", "0700", "read-only-0500", "0750"],
)
def test_an_existing_folder_loses_group_and_other_bits_and_gains_none(
    tmp_path: Path, before: int, after: int
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(before)
    private_dir(folder)
    assert mode(folder) == after


def test_a_shared_sticky_folder_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    private_dir(shared)
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o1777


def test_private_files_are_0600_when_new_and_tightened_when_old(tmp_path: Path, open_umask: None) -> None:
    new = tmp_path / "new.db"
    create_private_file(new)
    assert mode(new) == 0o600
    old = tmp_path / "old.db"
    old.write_text("x")
    assert mode(old) == 0o666
    create_private_file(old)
    assert mode(old) == 0o600
    assert old.read_text() == "x"
    readonly = tmp_path / "ro.json"
    readonly.write_text("{}")
    readonly.chmod(0o444)
    make_private(readonly)
    assert mode(readonly) == 0o400
    make_private(tmp_path / "missing")  # nothing to do, no error


def test_a_tree_a_library_wrote_is_tightened_folders_files_and_all_but_links(
    tmp_path: Path, open_umask: None
) -> None:
    root = tmp_path / "adapter"
    (root / "sub").mkdir(parents=True)
    (root / "adapter_model.safetensors").write_bytes(b"x")
    (root / "sub" / "state.pt").write_bytes(b"y")
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("shared on purpose")
    os.chmod(outside, 0o644)
    (root / "link").symlink_to(outside)
    make_private_tree(root)
    assert [mode(root), mode(root / "sub")] == [0o700, 0o700]
    assert [mode(root / "adapter_model.safetensors"), mode(root / "sub" / "state.pt")] == [0o600, 0o600]
    assert mode(outside) == 0o644  # the link's target is not the app's


def test_write_private_file_replaces_atomically_and_leaves_no_temporary(
    tmp_path: Path, open_umask: None
) -> None:
    target = tmp_path / "records.json"
    target.write_text("old")
    target.chmod(0o644)
    write_private_file(target, "新しい")
    assert target.read_text(encoding="utf-8") == "新しい"
    assert mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["records.json"]


def test_a_user_chosen_export_file_is_0600_when_new_and_keeps_its_mode_when_it_exists(
    tmp_path: Path, open_umask: None
) -> None:
    documents = tmp_path / "documents"
    documents.mkdir(mode=0o755)
    new = documents / "chat.md"
    write_user_file(new, "# chat\n")
    assert mode(new) == 0o600
    existing = documents / "shared.md"
    existing.write_text("old")
    existing.chmod(0o644)
    write_user_file(existing, "new")
    assert (existing.read_text(), mode(existing)) == ("new", 0o644)
    assert mode(documents) == 0o755  # the user's folder is not the app's: never changed


def test_the_session_store_and_sqlites_side_files_are_private(open_umask: None) -> None:
    store = SessionStore()
    cid = store.create_conversation("secret talk")
    store.add_message(cid, "user", "誰にも見せない")
    folder = data_dir()
    assert mode(folder) == 0o700
    files = sorted(p.name for p in folder.iterdir())
    assert "sessions.sqlite3-wal" in files
    assert "sessions.sqlite3-shm" in files
    for name in files:
        assert mode(folder / name) == 0o600, name
    store.close()


def test_modes_written_by_an_older_version_are_fixed_when_the_store_opens(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    db_path = folder / "sessions.sqlite3"
    previous = os.umask(0o022)
    try:
        db = sqlite3.connect(db_path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (1)")
        db.commit()
        journal = folder / "sessions.sqlite3-journal"
        journal.write_bytes(b"")
        assert {mode(p) for p in folder.iterdir()} == {0o644}
        SessionStore(db_path).close()
        db.close()
    finally:
        os.umask(previous)
    assert mode(folder) == 0o700
    for path in folder.iterdir():
        assert mode(path) == 0o600, path.name


def test_trust_records_are_private_and_an_old_readable_one_is_tightened(open_umask: None) -> None:
    record_trust("org/model", "abc123")
    assert mode(trust_file()) == 0o600
    assert mode(trust_file().parent) == 0o700
    trust_file().chmod(0o644)
    record_trust("org/other", "def456")
    assert mode(trust_file()) == 0o600
    assert sorted(p.name for p in trust_file().parent.iterdir()) == ["trusted-remote-code.json"]


def test_the_sessions_command_creates_a_private_data_folder_and_export(
    tmp_path: Path, open_umask: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SessionStore()
    cid = store.create_conversation()
    store.add_message(cid, "user", "こんにちは")
    store.close()
    data_dir().chmod(0o755)  # as an older version left it
    out = tmp_path / "export.md"
    assert main(["sessions", "export", str(cid), "--format", "md", "-o", str(out)]) == 0
    assert mode(out) == 0o600
    assert mode(data_dir()) == 0o700
    assert private_data_dir() == data_dir()


def test_opening_the_store_fixes_every_file_and_folder_an_older_version_left_in_the_data_folder() -> None:
    folder = data_dir()
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    trust = folder / "trusted-remote-code.json"
    trust.write_text("{}")
    trust.chmod(0o644)
    stories = folder / "stories"
    stories.mkdir()
    stories.chmod(0o755)
    SessionStore().close()
    assert (mode(folder), mode(trust), mode(stories)) == (0o700, 0o600, 0o700)
    assert mode(folder / "sessions.sqlite3") == 0o600
