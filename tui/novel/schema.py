"""The `*.story.json` format: strict reading (every problem one sentence naming the field) and readable writing.

Strict because the file is edited by hand: a misspelt field (`keyz`) silently ignored would be a lore entry that
never fires with no hint why. Numbers people read are 1-based ("lore entry 3"); the JSON itself is 0-based.
The text fields are plain JSON strings; lists of ids and keys stay on one line so the file stays skimmable.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

from tui.errors import UserError
from tui.novel.normalize import compile_key
from tui.novel.story import (
    CONTINUATION_STATES,
    FINISH_REASONS,
    FORMAT_VERSION,
    POSITIONS,
    Continuation,
    LoreEntry,
    Sampler,
    Story,
)

_SURROGATE = re.compile("[\ud800-\udfff]")


class _Reader:
    """Typed access to one JSON object; every error names the source and where in the file."""

    def __init__(self, table: dict[str, Any], source: str, where: str, known: tuple[str, ...]) -> None:
        self.table = table
        self.source = source
        self.where = where
        for key in table:
            if key not in known:
                raise UserError(f"{self._at()}unknown field '{key}' (known: {', '.join(known)})")

    def _at(self) -> str:
        return f"{self.source}: {self.where}: " if self.where else f"{self.source}: "

    def fail(self, key: str, expected: str, value: Any) -> UserError:
        shown = json.dumps(value, ensure_ascii=False)
        if len(shown) > 40:
            shown = shown[:39] + "…"
        return UserError(f"{self._at()}field '{key}' must be {expected}, got {shown}")

    def text(self, key: str, default: str = "") -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str):
            raise self.fail(key, "a string", value)
        if _SURROGATE.search(value):
            raise UserError(f"{self._at()}field '{key}' contains an unpaired UTF-16 surrogate escape")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def integer(self, key: str, default: int | None, low: int, high: int | None = None) -> int:
        """An int in [low, high]; default None makes the field required."""
        if key not in self.table:
            if default is None:
                raise UserError(f"{self._at()}missing field '{key}'")
            return default
        value = self.table[key]
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < low
            or (high is not None and value > high)
        ):
            expected = f"an integer between {low} and {high}" if high is not None else f"an integer >= {low}"
            raise self.fail(key, expected, value)
        return value

    def number(self, key: str) -> float:
        value = self.table.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise self.fail(key, "a number", value)
        return float(value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "a list of non-empty strings", value)
        return tuple(value)

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.table.get(key, default)
        if value not in choices:
            raise self.fail(key, f"one of {', '.join(choices)}", value)
        return str(value)

    def objects(self, key: str) -> list[dict[str, Any]]:
        value = self.table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, "a list of objects", value)
        return value


def _known(cls: type, *extra: str) -> tuple[str, ...]:
    return (*extra, *(f.name for f in fields(cls)))


def _entry(table: dict[str, Any], source: str, number: int, fold_kana: bool) -> LoreEntry:
    reader = _Reader(table, source, f"lore entry {number}", _known(LoreEntry))
    entry = LoreEntry(
        keys=reader.strings("keys"),
        content=reader.text("content"),
        regex=reader.flag("regex", False),
        always=reader.flag("always", False),
        enabled=reader.flag("enabled", True),
        priority=reader.integer("priority", 0, -(10**9), 10**9),
        position=reader.choice("position", POSITIONS, "after_memory"),  # type: ignore[arg-type]
        name=reader.text("name"),
    )
    if entry.regex:
        for k, key in enumerate(entry.keys, start=1):
            try:
                compile_key(key, regex=True, fold_kana=fold_kana)
            except re.error as exc:
                raise UserError(
                    f"{source}: lore entry {number}, key {k} ({key!r}): not a valid regular expression ({exc})"
                ) from None
    return entry


def _continuation(table: dict[str, Any], source: str, number: int) -> Continuation:
    where = f"history item {number}"
    reader = _Reader(table, source, where, _known(Continuation))
    ids = table.get("token_ids", [])
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids
    ):
        raise reader.fail("token_ids", "a list of token ids", ids)
    seed = table.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise reader.fail("seed", "an integer or null", seed)
    sampler_table = table.get("sampler", {})
    if not isinstance(sampler_table, dict):
        raise reader.fail("sampler", "an object", sampler_table)
    s = _Reader(sampler_table, source, f"{where}, sampler", _known(Sampler))
    sampler = Sampler(
        max_new_tokens=s.integer("max_new_tokens", None, 1),
        do_sample=s.flag("do_sample", True),
        temperature=s.number("temperature"),
        top_p=s.number("top_p"),
        top_k=s.integer("top_k", 0, 0),
        repetition_penalty=s.number("repetition_penalty"),
    )
    return Continuation(
        start=reader.integer("start", None, 0),
        text=reader.text("text"),
        token_ids=tuple(ids),
        seed=seed,
        sampler=sampler,
        model=reader.text("model"),
        finish=reader.choice("finish", FINISH_REASONS),  # type: ignore[arg-type]
        state=reader.choice("state", CONTINUATION_STATES),  # type: ignore[arg-type]
        prompt_tokens=reader.integer("prompt_tokens", 0, 0),
        prompt_sha256=reader.text("prompt_sha256"),
        created=reader.text("created"),
    )


def parse_story(data: bytes, source: str) -> Story:
    """A Story from the bytes of a `*.story.json` file; UserError naming the line/column or field on any problem."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(f"{source}:{line}: not valid UTF-8 (byte {exc.start} of the file)") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{source}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise UserError(f"{source}: not a story file (nested too deeply)") from None
    if not isinstance(document, dict):
        raise UserError(f'{source}: a story file is a JSON object, like {{"text": "..."}}')
    reader = _Reader(document, source, "", _known(Story, "version"))
    version = document.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise UserError(
            f"{source}: story format version {version!r}; this stablelm-tui reads version {FORMAT_VERSION}"
        )
    fold_kana = reader.flag("fold_kana", False)
    return Story(
        text=reader.text("text"),
        memory=reader.text("memory"),
        note=reader.text("note"),
        note_depth=reader.integer("note_depth", Story.note_depth, 0, 10_000),
        scan_tokens=reader.integer("scan_tokens", Story.scan_tokens, 0, 1_000_000),
        lore_budget=reader.integer("lore_budget", Story.lore_budget, 0, 1_000_000),
        recursion_depth=reader.integer("recursion_depth", Story.recursion_depth, 0, 10),
        fold_kana=fold_kana,
        banned=reader.strings("banned"),
        stop=reader.strings("stop"),
        max_new_tokens=_optional_positive(reader, "max_new_tokens"),
        lore=tuple(_entry(t, source, n, fold_kana) for n, t in enumerate(reader.objects("lore"), start=1)),
        history=tuple(_continuation(t, source, n) for n, t in enumerate(reader.objects("history"), start=1)),
    )


def _optional_positive(reader: _Reader, key: str) -> int | None:
    if reader.table.get(key) is None:
        return None
    return reader.integer(key, None, 1, 1_000_000)


def check_story(story: Story, source: str = "story") -> Story:
    """Validate a Story built in code (a screen's edit) exactly as a file would be; returns it unchanged."""
    parse_story(dump_story(story), source)
    return story


# -- writing ------------------------------------------------------------------------------------------------


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _render(value: Any, indent: int, inline_objects: bool) -> str:
    if _scalar(value):
        return json.dumps(value, ensure_ascii=False)
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(_scalar(v) for v in value):
            return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
        items = [inner + _render(v, indent + 1, inline_objects) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    assert isinstance(value, dict)
    if not value:
        return "{}"
    if inline_objects and all(_scalar(v) for v in value.values()):
        return (
            "{"
            + ", ".join(
                f"{json.dumps(k, ensure_ascii=False)}: {_render(v, 0, True)}" for k, v in value.items()
            )
            + "}"
        )
    rows = [
        f"{inner}{json.dumps(k, ensure_ascii=False)}: {_render(v, indent + 1, inline_objects or k == 'history')}"
        for k, v in value.items()
    ]
    return "{\n" + ",\n".join(rows) + "\n" + pad + "}"


def _entry_dict(entry: LoreEntry) -> dict[str, Any]:
    data: dict[str, Any] = {"name": entry.name} if entry.name else {}
    data.update(
        keys=list(entry.keys),
        content=entry.content,
        regex=entry.regex,
        always=entry.always,
        enabled=entry.enabled,
        priority=entry.priority,
        position=entry.position,
    )
    return data


def _continuation_dict(item: Continuation) -> dict[str, Any]:
    s = item.sampler
    return {
        "state": item.state,
        "start": item.start,
        "text": item.text,
        "finish": item.finish,
        "model": item.model,
        "seed": item.seed,
        "sampler": {
            "max_new_tokens": s.max_new_tokens,
            "do_sample": s.do_sample,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "top_k": s.top_k,
            "repetition_penalty": s.repetition_penalty,
        },
        "prompt_tokens": item.prompt_tokens,
        "prompt_sha256": item.prompt_sha256,
        "created": item.created,
        "token_ids": list(item.token_ids),
    }


def story_dict(story: Story) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "memory": story.memory,
        "note": story.note,
        "note_depth": story.note_depth,
        "scan_tokens": story.scan_tokens,
        "lore_budget": story.lore_budget,
        "recursion_depth": story.recursion_depth,
        "fold_kana": story.fold_kana,
        "banned": list(story.banned),
        "stop": list(story.stop),
        "max_new_tokens": story.max_new_tokens,
        "lore": [_entry_dict(e) for e in story.lore],
        "text": story.text,
        "history": [_continuation_dict(c) for c in story.history],
    }


def dump_story(story: Story) -> bytes:
    return (_render(story_dict(story), 0, False) + "\n").encode("utf-8")
