"""Importing lorebooks: NovelAI `.lorebook` files and SillyTavern World Info JSON, into a story's キャラクターブック.

What carries over: keys (plain or /regex/flags), the text, the name, enabled, always-on and the priority.
What has no equivalent here is counted and said, never dropped silently. The formats, as their documentation
describes them:
  NovelAI      {"lorebookVersion": 5, "entries": [{"text", "keys", "displayName", "enabled", "forceActivation",
               "searchRange", "keyRelative", "nonStoryActivatable", "category", "loreBiasGroups",
               "contextConfig": {"prefix", "suffix", "budgetPriority", "tokenBudget", "reservedTokens",
               "insertionPosition", "insertionType", "trimDirection", "maximumTrimType"}}], "categories": [...]}
  SillyTavern  {"entries": {"0": {"uid", "key", "keysecondary", "comment", "content", "constant", "disable",
               "order", "position", "selective", "probability", "useProbability", "depth", "scanDepth",
               "caseSensitive", "matchWholeWords", "group", "excludeRecursion", "preventRecursion", ...}}}
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.errors import UserError
from tui.novel.normalize import compile_key
from tui.novel.story import LoreEntry, Position

_REGEX_KEY = re.compile(r"^/(.+)/([a-z]*)$", re.DOTALL)
# SillyTavern's positions: before/after the character, top/bottom of the author's note, at a depth, examples.
_ST_POSITIONS: dict[int, Position] = {0: "after_memory", 1: "after_memory", 2: "before_note", 3: "after_note"}
_ST_POSITION_NAMES = {4: "at a chat depth", 5: "before the example messages", 6: "after the example messages"}
_NAI_DEFAULTS = {
    "prefix": "",
    "suffix": "\n",
    "tokenBudget": 1,
    "reservedTokens": 0,
    "insertionPosition": -1,
    "insertionType": "newline",
    "trimDirection": "trimBottom",
    "maximumTrimType": "sentence",
}


@dataclass
class ImportResult:
    format: str
    entries: list[LoreEntry] = field(default_factory=list)
    unsupported: Counter[str] = field(default_factory=Counter)
    """What had no equivalent -> how many entries had it."""
    notes: list[str] = field(default_factory=list)
    """File-level things with no equivalent."""


def _keys(raw: Any, where: str) -> tuple[tuple[str, ...], bool]:
    """Keys, and whether they are regular expressions: /.../flags keys make the entry a regex entry, and its
    plain keys are escaped to match literally."""
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        raise UserError(f"{where}: keys must be a list of strings")
    keys = [k for k in raw if k.strip()]
    patterns = [_REGEX_KEY.match(k) for k in keys]
    if not any(patterns):
        return tuple(keys), False
    converted = []
    for key, match in zip(keys, patterns, strict=True):
        if match is None:
            converted.append(re.escape(key))
            continue
        body, flags = match.groups()
        inline = "".join(
            f for f in flags if f in "ms"
        )  # i: keys always ignore case here; g, u, y: no meaning
        pattern = f"(?{inline}){body}" if inline else body
        try:
            compile_key(pattern, regex=True, fold_kana=False)
        except re.error as exc:
            raise UserError(
                f"{where}: key {key!r} is not a regular expression Python can use ({exc})"
            ) from None
        converted.append(pattern)
    return tuple(converted), True


def _text(value: Any, where: str, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UserError(f"{where}: '{name}' must be a string")
    return value


def _novelai(document: dict[str, Any], result: ImportResult) -> None:
    entries = document["entries"]
    for number, raw in enumerate(entries, start=1):
        where = f"entry {number}"
        if not isinstance(raw, dict):
            raise UserError(f"{where}: expected an object")
        keys, regex = _keys(raw.get("keys", []), where)
        content = _text(raw.get("text"), where, "text")
        config = raw.get("contextConfig") or {}
        if not isinstance(config, dict):
            raise UserError(f"{where}: 'contextConfig' must be an object")
        prefix, suffix = _text(config.get("prefix"), where, "prefix"), config.get("suffix", "\n")
        if prefix or (isinstance(suffix, str) and suffix not in ("", "\n")):
            content = prefix + content + (suffix if isinstance(suffix, str) else "")
            result.unsupported["prefix/suffix (folded into the text)"] += 1
        for name, default in _NAI_DEFAULTS.items():
            if name not in ("prefix", "suffix") and config.get(name, default) != default:
                result.unsupported[f"contextConfig.{name}"] += 1
        if raw.get("searchRange", 1000) != 1000:
            result.unsupported["searchRange (the story's scan_tokens applies to every entry)"] += 1
        for flag in ("keyRelative", "nonStoryActivatable"):
            if raw.get(flag):
                result.unsupported[flag] += 1
        if raw.get("category"):
            result.unsupported["category"] += 1
        if any(isinstance(g, dict) and g.get("phrases") for g in raw.get("loreBiasGroups") or []):
            result.unsupported["loreBiasGroups (phrase bias)"] += 1
        priority = config.get("budgetPriority", 400)
        result.entries.append(
            LoreEntry(
                keys=keys,
                content=content,
                regex=regex,
                always=bool(raw.get("forceActivation", False)),
                enabled=bool(raw.get("enabled", True)),
                priority=priority if isinstance(priority, int) and not isinstance(priority, bool) else 400,
                name=_text(raw.get("displayName"), where, "displayName"),
            )
        )
    categories = document.get("categories")
    if isinstance(categories, list) and categories:
        result.notes.append(
            f"{len(categories)} categories (the entries keep their own settings, not the category's)"
        )


def _sillytavern(document: dict[str, Any], result: ImportResult) -> None:
    entries = document["entries"]
    ordered = sorted(entries.items(), key=lambda item: _order_key(item[0], item[1]))
    for label, raw in ordered:
        where = f"entry {label}"
        if not isinstance(raw, dict):
            raise UserError(f"{where}: expected an object")
        keys, regex = _keys(raw.get("key", []), where)
        position = raw.get("position", 0)
        mapped = _ST_POSITIONS.get(position if isinstance(position, int) else 0, "after_memory")
        if position in _ST_POSITION_NAMES:
            result.unsupported[f"position {_ST_POSITION_NAMES[position]} (placed after the memory)"] += 1
        secondary = raw.get("keysecondary") or []
        if raw.get("selective") and secondary:
            result.unsupported["secondary keys (the entry fires on its primary keys alone)"] += 1
        if raw.get("useProbability", True) and raw.get("probability", 100) not in (100, None):
            result.unsupported["probability (imported entries always fire)"] += 1
        for flag in ("excludeRecursion", "preventRecursion", "delayUntilRecursion", "vectorized"):
            if raw.get(flag):
                result.unsupported[flag] += 1
        for name in ("group", "scanDepth", "sticky", "cooldown", "delay"):
            if raw.get(name):
                result.unsupported[name] += 1
        if raw.get("caseSensitive"):
            result.unsupported["caseSensitive (keys here always ignore case and width)"] += 1
        if raw.get("matchWholeWords"):
            result.unsupported["matchWholeWords (keys here match anywhere)"] += 1
        order = raw.get("order", 100)
        result.entries.append(
            LoreEntry(
                keys=keys,
                content=_text(raw.get("content"), where, "content"),
                regex=regex,
                always=bool(raw.get("constant", False)),
                enabled=not bool(raw.get("disable", False)),
                priority=order if isinstance(order, int) and not isinstance(order, bool) else 100,
                position=mapped,
                name=_text(raw.get("comment"), where, "comment"),
            )
        )


def _order_key(label: str, raw: Any) -> tuple[int, str]:
    index = raw.get("displayIndex") if isinstance(raw, dict) else None
    if isinstance(index, int):
        return index, label
    return (int(label), label) if label.isdigit() else (1 << 30, label)


def parse_lorebook(data: bytes, source: str) -> ImportResult:
    try:
        document = json.loads(data.decode("utf-8").removeprefix("\ufeff"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{source}: not valid UTF-8 (byte {exc.start} of the file)") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{source}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    entries = document.get("entries") if isinstance(document, dict) else None
    try:
        if isinstance(entries, list):
            result = ImportResult("NovelAI lorebook")
            _novelai(document, result)
        elif isinstance(entries, dict):
            result = ImportResult("SillyTavern World Info")
            _sillytavern(document, result)
        else:
            raise UserError(
                "not a NovelAI lorebook (an 'entries' list) or SillyTavern World Info (an 'entries' object)"
            )
    except UserError as exc:
        raise UserError(f"{source}: {exc}") from None
    return result


def read_lorebook(path: Path) -> ImportResult:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a lorebook") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_lorebook(data, str(path))


def merge(existing: tuple[LoreEntry, ...], imported: list[LoreEntry]) -> tuple[tuple[LoreEntry, ...], int]:
    """The lore with the imported entries appended, less those already there (same keys and text)."""
    seen = {(e.keys, e.content) for e in existing}
    added = []
    for entry in imported:
        if (entry.keys, entry.content) not in seen:
            seen.add((entry.keys, entry.content))
            added.append(entry)
    return (*existing, *added), len(imported) - len(added)


def describe(result: ImportResult, added: int, duplicates: int, total: int) -> list[str]:
    """The report `novel import` prints: what was kept, and what had no equivalent."""
    lines = [
        f"{result.format}: {len(result.entries)} entries read, {added} added "
        f"({total} in the story now)" + (f", {duplicates} already there skipped" if duplicates else ""),
        "kept: keys (plain and /regex/), text, name, enabled, always-on, priority"
        + (", position" if result.format.startswith("SillyTavern") else ""),
    ]
    if result.unsupported or result.notes:
        lines.append("no equivalent here:")
        for name, count in sorted(result.unsupported.items()):
            lines.append(f"  {name}: {count} entr{'y' if count == 1 else 'ies'}")
        lines += [f"  {note}" for note in result.notes]
    else:
        lines.append("no equivalent here: nothing (every setting used in the file carried over)")
    return lines
