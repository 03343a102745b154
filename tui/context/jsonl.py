"""The conversation JSONL format: one message per line, {"role": ..., "content": ..., "pinned": false}.

A reply may also carry `"ids"`, the token ids the model sampled it as: the planner then spells it with them
(exact prefix reuse), so `context --conversation` shows the same counts as the chat that wrote the file.

The same format `sessions export` writes and `context --conversation` reads. Parsing is pure (bytes in,
messages out); every problem is a UserError naming the source and the line. `read_conversation_file` is the
one place the commands read such a file (or stdin) from.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tui.context.model import ROLES, Message
from tui.errors import UserError

_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_jsonl(data: bytes, source: str) -> list[Message]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        raise UserError(f"{source}:{bad_line}: not valid UTF-8 (byte {exc.start} of the file)") from None
    text = text.removeprefix("\ufeff")  # a BOM from editors that add one
    messages: list[Message] = []
    # Lines end at "\n" only: str.splitlines() would also split inside a message at U+0085, U+2028 and other
    # separators that JSON keeps literal.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(record, dict):
            raise UserError(f'{where}: expected an object like {{"role": ..., "content": ...}}')
        role = record.get("role")
        if role not in ROLES:
            raise UserError(f"{where}: unknown role {role!r} (expected one of {', '.join(ROLES)})")
        content = record.get("content")
        if not isinstance(content, str):
            raise UserError(f"{where}: 'content' must be a string, got {type(content).__name__}")
        if _SURROGATE.search(content):
            raise UserError(
                f"{where}: 'content' contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)"
            )
        pinned = record.get("pinned", False)
        if not isinstance(pinned, bool):
            raise UserError(f"{where}: 'pinned' must be true or false, got {pinned!r}")
        ids = record.get("ids")
        if ids is not None and not (
            isinstance(ids, list)
            and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids)
        ):
            raise UserError(f"{where}: 'ids' must be a list of token ids (non-negative integers)")
        messages.append(
            Message(role=role, content=content, pinned=pinned, ids=None if ids is None else tuple(ids))
        )
    return messages


def message_record(role: str, content: str, pinned: bool, ids: tuple[int, ...] | None) -> str:
    """One line of the format (without its newline)."""
    record: dict[str, object] = {"role": role, "content": content, "pinned": pinned}
    if ids is not None:
        record["ids"] = list(ids)
    return json.dumps(record, ensure_ascii=False)


def to_jsonl(messages: list[Message]) -> str:
    return "".join(message_record(m.role, m.content, m.pinned, m.ids) + "\n" for m in messages)


def read_conversation_file(name: str) -> list[Message]:
    """Messages from a JSONL file, or from stdin when `name` is "-"; missing or unreadable files are UserErrors."""
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except FileNotFoundError:
        raise UserError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{name}: is a directory, not a conversation file") from None
    except OSError as exc:
        raise UserError(f"{name}: cannot read: {exc.strerror or exc}") from None
    return parse_jsonl(data, "stdin" if name == "-" else name)
