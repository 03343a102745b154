"""The session store: saves as it goes, survives two writers, explains write failures, keeps no secrets."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from tui.export import to_jsonl, to_markdown
from tui.store import SCHEMA_VERSION, SessionStore, StoreError


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "s.sqlite3")


def test_messages_round_trip_with_partial_replies(store: SessionStore) -> None:
    cid = store.create_conversation(settings={"preset": "demo", "policy": "rolling"})
    store.add_message(cid, "system", "あなたは親切なアシスタントです。", pinned=True)
    store.add_message(cid, "user", "こんにちは！\n今日はいい天気ですね")
    reply = store.add_message(cid, "assistant", "", mode="instruct", partial=True)
    store.update_message(reply, "はい、", partial=True)
    store.update_message(reply, "はい、とても。", partial=False, meta={"tokens_per_s": 12.5})
    loaded = store.load(cid)
    assert [m.role for m in loaded.messages] == ["system", "user", "assistant"]
    assert loaded.messages[0].pinned
    assert loaded.messages[2].content == "はい、とても。"
    assert not loaded.messages[2].partial
    assert loaded.messages[2].mode == "instruct"
    assert loaded.messages[2].meta == {"tokens_per_s": 12.5}
    assert loaded.settings == {"preset": "demo", "policy": "rolling"}
    assert loaded.title == "こんにちは！ 今日はいい天気ですね"


def test_list_is_newest_first_and_counts_messages(store: SessionStore) -> None:
    first = store.create_conversation("first")
    second = store.create_conversation("second")
    store.add_message(first, "user", "a")
    store.add_message(first, "user", "b")
    listed = store.list_conversations()
    assert [(c.id, c.messages) for c in listed] == [(first, 2), (second, 0)]
    assert store.latest_id() == first
    store.delete(first)
    assert [c.id for c in store.list_conversations()] == [second]
    with pytest.raises(StoreError, match="no conversation"):
        store.load(first)


def test_unknown_role_is_refused(store: SessionStore) -> None:
    cid = store.create_conversation()
    with pytest.raises(StoreError, match="unknown role 'tool'"):
        store.add_message(cid, "tool", "x")


def test_secrets_never_reach_the_database(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SessionStore(path)
    cid = store.create_conversation(settings={"api_key": "sk-SECRET", "remote_api_key_env": "OPENAI_API_KEY"})
    store.add_message(cid, "user", "hi", meta={"auth": {"token": "sk-SECRET2"}})
    store.close()
    raw = path.read_bytes() + (
        path.with_name(path.name + "-wal").read_bytes()
        if path.with_name(path.name + "-wal").exists()
        else b""
    )
    assert b"sk-SECRET" not in raw
    assert SessionStore(path).load(cid).settings == {"remote_api_key_env": "OPENAI_API_KEY"}


def test_schema_is_versioned_and_newer_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    assert SessionStore(path).schema_version() == SCHEMA_VERSION
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer stablelm-tui"):
        SessionStore(path)


def test_two_writers_on_one_file_both_keep_working(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    stores = [SessionStore(path), SessionStore(path)]
    ids = [s.create_conversation(f"writer {i}") for i, s in enumerate(stores)]

    def write(store: SessionStore, cid: int) -> None:
        for n in range(100):
            store.add_message(cid, "user", f"message {n}")

    threads = [threading.Thread(target=write, args=pair) for pair in zip(stores, ids, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for cid in ids:
        assert len(stores[0].load(cid).messages) == 100
    assert stores[1].integrity_check() == "ok"


def test_two_processes_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    script = (
        "import sys\nfrom tui.store import SessionStore\n"
        "s = SessionStore(__import__('pathlib').Path(sys.argv[1]))\n"
        "c = s.create_conversation(sys.argv[2])\n"
        "[s.add_message(c, 'user', str(i)) for i in range(50)]\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), f"p{i}"]) for i in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    store = SessionStore(path)
    assert sorted(c.messages for c in store.list_conversations()) == [50, 50, 50]
    assert store.integrity_check() == "ok"


READ_ONLY_FOLDER_SCRIPT = """
import sys
from pathlib import Path
from tui.store import SessionStore, StoreError
folder = Path(sys.argv[1]) / "ro"
folder.mkdir()
folder.chmod(0o555)
try:
    SessionStore(folder / "s.sqlite3").create_conversation()
except StoreError as exc:
    print(exc)
    raise SystemExit(3)
"""


def run_as_unprivileged_user(args: list[str], workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run a command that permissions apply to: as root (CI, this machine) it runs as `nobody` via setpriv.

    Root ignores file modes, so a permission failure can only be seen by an ordinary account.
    """
    prefix: list[str] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(workdir, nobody.pw_uid, nobody.pw_gid)
        prefix = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(workdir)}
    return subprocess.run([*prefix, *args], capture_output=True, text=True, env=env, timeout=60, check=False)


def test_read_only_folder_gives_a_clear_message() -> None:
    # A folder in /tmp: the unprivileged user cannot reach pytest's own folders (0700, root's).
    workdir = Path(tempfile.mkdtemp(prefix="stablelm-tui-ro-"))
    try:
        done = run_as_unprivileged_user(
            [sys.executable, "-c", READ_ONLY_FOLDER_SCRIPT, str(workdir)], workdir
        )
        assert done.returncode == 3, done.stderr
        path = workdir / "ro" / "s.sqlite3"
        assert done.stdout.strip() == (
            f"cannot create {path}: Permission denied; check that its folder is writable"
        )
        assert not path.exists()
    finally:
        (workdir / "ro").chmod(0o755)
        shutil.rmtree(workdir)


def test_read_only_database_gives_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    SessionStore(path).close()
    # A read-only connection stands in for a read-only mount: root ignores file modes.
    store = SessionStore(path)
    store._db.close()
    store._db = sqlite3.connect(
        f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )
    with pytest.raises(StoreError, match="read-only; the conversation is kept in memory"):
        store.create_conversation()


def test_full_disk_gives_a_clear_message_and_nothing_half_written(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.sqlite3")
    cid = store.create_conversation()
    store.add_message(cid, "user", "kept")
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 1}")
    with pytest.raises(StoreError, match="disk is full"):
        store.add_message(cid, "assistant", "x" * 200_000)
    store._db.execute("PRAGMA max_page_count = 1000000")
    assert [m.content for m in store.load(cid).messages] == ["kept"]
    store.add_message(cid, "assistant", "retried")
    assert len(store.load(cid).messages) == 2


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create"):
        SessionStore(blocker / "sub" / "s.sqlite3")


def test_corrupt_file_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="damaged or not a stablelm-tui database"):
        SessionStore(path)


def test_markdown_export_cannot_be_injected(store: SessionStore) -> None:
    cid = store.create_conversation("[red]t[/red] <b>")
    store.add_message(cid, "user", "```\n# not a heading\n``` [link](http://x)")
    store.add_message(cid, "assistant", "\x1b[2J\x07[bold]x[/bold]", mode="base")
    text = to_markdown(store.load(cid))
    assert "\x1b" not in text and "\x07" not in text
    assert "␛[2J␇[bold]x[/bold]" in text
    assert "````text\n```\n# not a heading\n``` [link](http://x)\n````" in text
    assert "\\[red\\]t\\[/red\\] \\<b\\>" in text
    assert "## assistant (base)" in text


def test_jsonl_export_is_one_message_per_line(store: SessionStore) -> None:
    cid = store.create_conversation()
    store.add_message(cid, "system", "sys", pinned=True)
    store.add_message(cid, "user", "行1\n行2")
    lines = to_jsonl(store.load(cid)).splitlines()
    assert [json.loads(line) for line in lines] == [
        {"role": "system", "content": "sys", "pinned": True},
        {"role": "user", "content": "行1\n行2", "pinned": False},
    ]


def test_reply_ids_round_trip_and_new_content_without_ids_clears_them(store: SessionStore) -> None:
    cid = store.create_conversation()
    reply = store.add_message(cid, "assistant", "", mode="instruct", partial=True)
    store.update_message(reply, "東京です。", partial=False, token_ids=(49544, 49688, 648, 49237))
    assert store.load(cid).messages[0].token_ids == (49544, 49688, 648, 49237)
    store.update_message(reply, "東京です。続き", partial=True)
    assert store.load(cid).messages[0].token_ids is None  # ids describe the content they came with
    user = store.add_message(cid, "user", "x")
    assert store.load(cid).messages[1].token_ids is None
    store.update_message(user, "x", partial=False, token_ids=())
    assert store.load(cid).messages[1].token_ids == ()


def test_a_version_1_file_is_migrated_and_keeps_its_messages(tmp_path: Path) -> None:
    from tui.store import MIGRATIONS

    path = tmp_path / "v1.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO conversations (title, settings, created, updated) VALUES ('old', '{}', 1, 1)")
    db.execute(
        "INSERT INTO messages (conversation_id, role, content, created, updated) VALUES (1, 'user', 'やあ', 1, 1)"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = SessionStore(path)
    assert store.schema_version() == SCHEMA_VERSION == 2
    (message,) = store.load(1).messages
    assert (message.content, message.token_ids) == ("やあ", None)
    reply = store.add_message(1, "assistant", "はい", token_ids=(1, 2))
    assert store.load(1).messages[1].token_ids == (1, 2)
    assert reply > message.id
    assert store.integrity_check() == "ok"


def test_a_damaged_ids_value_only_costs_the_exact_reuse(store: SessionStore) -> None:
    cid = store.create_conversation()
    message_id = store.add_message(cid, "assistant", "a", token_ids=(1,))
    store._db.execute("UPDATE messages SET token_ids = '[1, \"x\"]' WHERE id = ?", (message_id,))
    assert store.load(cid).messages[0].token_ids is None
