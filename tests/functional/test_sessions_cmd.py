"""`stablelm-tui sessions` over a real database in the test's data dir."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tui.store import SessionStore


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui", "sessions", *args], capture_output=True, text=True, timeout=60
    )


def make_two() -> tuple[int, int]:
    store = SessionStore()
    old = store.create_conversation()
    store.add_message(old, "user", "古い会話")
    new = store.create_conversation()
    store.add_message(new, "user", "新しい会話")
    store.add_message(new, "assistant", "\x1b[31m赤\x1b[0m", mode="instruct")
    store.close()
    return old, new


def test_list_json_newest_first() -> None:
    old, new = make_two()
    result = cli("list", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [c["id"] for c in listed] == [new, old]
    assert set(listed[0]) == {"id", "title", "updated", "messages"}
    assert listed[0]["messages"] == 2
    assert listed[0]["title"] == "新しい会話"


def test_show_neutralises_escapes_and_export_writes_files(tmp_path: Path) -> None:
    _, new = make_two()
    shown = cli("show", str(new))
    assert "\x1b" not in shown.stdout
    assert "␛[31m赤␛[0m" in shown.stdout
    out = tmp_path / "conv.jsonl"
    assert cli("export", str(new), "--format", "jsonl", "-o", str(out)).returncode == 0
    assert [json.loads(line)["role"] for line in out.read_text().splitlines()] == ["user", "assistant"]
    md = cli("export", str(new), "--format", "md")
    assert "## assistant (instruct)" in md.stdout


def test_delete_and_missing_ids_are_clear_errors() -> None:
    old, _ = make_two()
    assert cli("delete", str(old)).returncode == 0
    missing = cli("show", str(old))
    assert missing.returncode == 2
    assert f"no conversation {old}" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_jsonl_export_round_trips_through_context(tmp_path: Path) -> None:
    store = SessionStore()
    cid = store.create_conversation()
    store.add_message(cid, "system", "あなたは親切なアシスタントです。", pinned=True)
    store.add_message(cid, "user", "日本の首都は？")
    store.add_message(cid, "assistant", "東京です。", mode="instruct")
    store.close()
    out = tmp_path / "export.jsonl"
    assert cli("export", str(cid), "--format", "jsonl", "-o", str(out)).returncode == 0
    result = subprocess.run(
        [sys.executable, "-m", "tui", "context", "--conversation", str(out), "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    messages = [s for s in plan["segments"] if s["message_index"] is not None]
    assert [(s["message_index"], s["role"], s["status"]) for s in messages] == [
        (0, "system", "kept"),
        (1, "user", "kept"),
        (2, "assistant", "kept"),
    ]
    assert "東京です。" in plan["prompt"] and "日本の首都は？" in plan["prompt"]
