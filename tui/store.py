"""Conversations saved as they happen, in SQLite (WAL), so a dropped SSH link or a preempted VM loses nothing.

Each completed message is one transaction; a streaming reply is rewritten in place (marked partial) as it grows.
Two app instances may share the file: WAL lets readers run beside the one writer, and a busy timeout makes
writers wait for each other instead of failing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.errors import UserError
from tui.paths import create_private_file, data_dir, make_private, private_data_dir, private_dir
from tui.store_columns import dump_ids, dump_object, load_ids, load_object, title_from

ROLES = ("system", "user", "assistant")
SCHEMA_VERSION = 2
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside the database; they hold conversation text too, so they are kept private."""

# One script per schema version: MIGRATIONS[n] upgrades a database at version n to n + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        settings TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL,
        mode TEXT,
        partial INTEGER NOT NULL DEFAULT 0,
        pinned INTEGER NOT NULL DEFAULT 0,
        meta TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    """,
    # 1 -> 2: the ids a reply was sampled as (JSON list), so a resumed conversation reuses the KV cache exactly.
    """
    ALTER TABLE messages ADD COLUMN token_ids TEXT;
    """,
)


class StoreError(UserError):
    """The database could not be read or written; the message says why and what to do."""


@dataclass(frozen=True)
class StoredMessage:
    id: int
    role: str
    content: str
    mode: str | None
    partial: bool
    pinned: bool
    meta: dict[str, Any]
    created: float
    token_ids: tuple[int, ...] | None = None
    """The ids a reply was sampled as (None: unknown, e.g. a remote backend's reply or an older file)."""


@dataclass(frozen=True)
class StoredConversation:
    id: int
    title: str
    settings: dict[str, Any]
    created: float
    updated: float
    messages: list[StoredMessage] = field(default_factory=list)


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    updated: float
    messages: int

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "updated": self.updated, "messages": self.messages}


def default_path() -> Path:
    return data_dir() / "sessions.sqlite3"


def _explain(exc: sqlite3.Error, path: Path) -> str:
    text = str(exc).lower()
    if "disk is full" in text or "database or disk is full" in text:
        return f"cannot save to {path}: the disk is full; the conversation is kept in memory and saving is retried"
    if "readonly" in text or "read-only" in text:
        return (
            f"cannot save to {path}: the file or its folder is read-only; the conversation is kept in memory"
        )
    if "unable to open" in text:
        return f"cannot open {path}: check that its folder exists and is writable"
    if "locked" in text or "busy" in text:
        return f"{path} is busy (another stablelm-tui is writing); try again"
    if "malformed" in text or "not a database" in text:
        return f"{path} is damaged or not a stablelm-tui database; move it away to start a new one"
    return f"cannot use {path}: {exc}"


class SessionStore:
    def __init__(self, path: Path | None = None, *, busy_timeout_s: float = 10.0) -> None:
        self.path = path or default_path()
        self._lock = threading.Lock()
        try:
            # In the data folder, opening the store is the start of `chat`: every file there is tightened.
            private_data_dir() if self.path.parent == data_dir() else private_dir(self.path.parent)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path.parent}: {exc.strerror}") from None
        try:
            # Created 0600 before SQLite opens it: SQLite gives its side files the database file's mode.
            create_private_file(self.path)
            for suffix in SQLITE_SIDE_FILES:
                make_private(self.path.with_name(self.path.name + suffix))
        except OSError as exc:
            raise StoreError(
                f"cannot create {self.path}: {exc.strerror}; check that its folder is writable"
            ) from None
        try:
            # Autocommit mode: every write below opens its own explicit transaction.
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL makes each committed message survive a power cut too, not only a killed process.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(_explain(exc, self.path)) from None

    # -- plumbing ---------------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    # SQLite has already rolled back after some errors (a full disk, for one).
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(_explain(exc, self.path)) from None

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(_explain(exc, self.path)) from None

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer stablelm-tui (schema {version} > {SCHEMA_VERSION}); upgrade"
            )
        while version < SCHEMA_VERSION:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # Re-read inside the write lock: another instance may have migrated meanwhile.
                version = self.schema_version()
                if version < SCHEMA_VERSION:
                    for statement in MIGRATIONS[version].split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    version += 1
                    self._db.execute(f"PRAGMA user_version = {version}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # -- writes ---------------------------------------------------------------------------------------------

    def create_conversation(self, title: str = "", settings: dict[str, Any] | None = None) -> int:
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, settings, created, updated) VALUES (?, ?, ?, ?)",
                (title, dump_object(settings), now, now),
            )
            return int(cursor.lastrowid or 0)

    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        *,
        mode: str | None = None,
        partial: bool = False,
        pinned: bool = False,
        meta: dict[str, Any] | None = None,
        token_ids: tuple[int, ...] | None = None,
    ) -> int:
        if role not in ROLES:
            raise StoreError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, role, content, mode, partial, pinned, meta, token_ids,"
                " created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    role,
                    content,
                    mode,
                    int(partial),
                    int(pinned),
                    dump_object(meta),
                    dump_ids(token_ids),
                    now,
                    now,
                ),
            )
            self._touch(db, conversation_id, now, first_user_text=content if role == "user" else None)
            return int(cursor.lastrowid or 0)

    def update_message(
        self,
        message_id: int,
        content: str,
        *,
        partial: bool,
        meta: dict[str, Any] | None = None,
        token_ids: tuple[int, ...] | None = None,
    ) -> None:
        """New content (meta None keeps the old meta); token_ids describe the new content, so None clears them."""
        now = time.time()
        ids = dump_ids(token_ids)
        with self._write() as db:
            row = db.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise StoreError(f"no message {message_id}")
            if meta is None:
                db.execute(
                    "UPDATE messages SET content = ?, partial = ?, token_ids = ?, updated = ? WHERE id = ?",
                    (content, int(partial), ids, now, message_id),
                )
            else:
                db.execute(
                    "UPDATE messages SET content = ?, partial = ?, meta = ?, token_ids = ?, updated = ? WHERE id = ?",
                    (content, int(partial), dump_object(meta), ids, now, message_id),
                )
            self._touch(db, row[0], now)

    def delete_message(self, message_id: int) -> None:
        with self._write() as db:
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def update_settings(self, conversation_id: int, settings: dict[str, Any]) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE conversations SET settings = ?, updated = ? WHERE id = ?",
                (dump_object(settings), time.time(), conversation_id),
            )

    def set_title(self, conversation_id: int, title: str) -> None:
        with self._write() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))

    def delete(self, conversation_id: int) -> None:
        with self._write() as db:
            cursor = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if cursor.rowcount == 0:
                raise StoreError(f"no conversation {conversation_id}")

    @staticmethod
    def _touch(
        db: sqlite3.Connection, conversation_id: int, now: float, first_user_text: str | None = None
    ) -> None:
        db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        if first_user_text:
            # A conversation is named after its first user message until the user renames it.
            db.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND title = ''",
                (title_from(first_user_text), conversation_id),
            )

    # -- reads ----------------------------------------------------------------------------------------------

    def list_conversations(self) -> list[ConversationSummary]:
        rows = self._read(
            "SELECT c.id, c.title, c.updated, COUNT(m.id) FROM conversations c "
            "LEFT JOIN messages m ON m.conversation_id = c.id GROUP BY c.id ORDER BY c.updated DESC, c.id DESC"
        )
        return [ConversationSummary(id=r[0], title=r[1], updated=r[2], messages=r[3]) for r in rows]

    def latest_id(self) -> int | None:
        rows = self._read("SELECT id FROM conversations ORDER BY updated DESC, id DESC LIMIT 1")
        return int(rows[0][0]) if rows else None

    def load(self, conversation_id: int) -> StoredConversation:
        head = self._read(
            "SELECT id, title, settings, created, updated FROM conversations WHERE id = ?", (conversation_id,)
        )
        if not head:
            raise StoreError(f"no conversation {conversation_id} in {self.path}")
        rows = self._read(
            "SELECT id, role, content, mode, partial, pinned, meta, created, token_ids FROM messages "
            "WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        )
        messages = [
            StoredMessage(
                id=r[0],
                role=r[1],
                content=r[2],
                mode=r[3],
                partial=bool(r[4]),
                pinned=bool(r[5]),
                meta=load_object(r[6]),
                created=r[7],
                token_ids=load_ids(r[8]),
            )
            for r in rows
        ]
        cid, title, settings, created, updated = head[0]
        return StoredConversation(cid, title, load_object(settings), created, updated, messages)

    def integrity_check(self) -> str:
        return str(self._read("PRAGMA integrity_check")[0][0])
