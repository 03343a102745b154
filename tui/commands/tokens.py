"""`stablelm-tui tokens`: exact token counts of files (or stdin), with the token boundaries on request."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tokens",
        help="count the tokens of text files",
        description="Count the tokens of each input exactly as the model sees them (text alone: no BOS/EOS). "
        "Prints characters, tokens, characters per token, the share of the context window and how many "
        "copies fit.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--preset", help="use this preset's tokenizer and window (default: the default preset)"
    )
    source.add_argument(
        "--tokenizer", metavar="PATH", help="a tokenizer.model/.json file, a directory or hub id"
    )
    parser.add_argument(
        "--window",
        type=int,
        metavar="N",
        help="context window, at most the preset model's (default: the preset's; 2048 with --tokenizer)",
    )
    parser.add_argument("--pieces", action="store_true", help="also show the text with token boundaries")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("files", nargs="+", metavar="FILE", help="text files (UTF-8); - reads stdin")
    parser.set_defaults(func=run)


def _read(name: str) -> str:
    from tui.errors import UserError

    try:
        data = sys.stdin.buffer.read() if name == "-" else open(name, "rb").read()  # noqa: SIM115
    except FileNotFoundError:
        raise UserError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{name}: is a directory, not a text file") from None
    except OSError as exc:
        raise UserError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(
            f"{'stdin' if name == '-' else name}:{line}: not valid UTF-8 (byte {exc.start})"
        ) from None


def token_texts(tokenizer: Any, ids: list[int]) -> list[str]:
    """The text of each token; ids that only together make a character (byte fallback) are grouped."""
    seen = tokenizer.decode(ids)
    out: list[str] = []
    position = 0
    group: list[int] = []
    for token_id in ids:
        group.append(token_id)
        piece = tokenizer.decode(group)
        if "\ufffd" in piece and not seen.startswith(piece, position):
            continue  # an incomplete UTF-8 sequence: wait for the rest of the character
        out.append(piece)
        position += len(piece)
        group = []
    if group:
        out.append(tokenizer.decode(group))
    return out


def _show(text: str) -> str:
    from tui.sanitize import neutralize

    return neutralize(text.replace("\n", "↵\n"))


def run(args: argparse.Namespace) -> int:
    from tui.errors import UserError
    from tui.limits import window_for
    from tui.presets import load_settings
    from tui.tokenizers import load_tokenizer

    if args.tokenizer:
        tokenizer = load_tokenizer(args.tokenizer)
        # A bare tokenizer has no model, so no limit; the default is Japanese StableLM Alpha's window.
        window = 2048 if args.window is None else args.window
        if window <= 0:
            raise UserError(f"--window must be positive, got {window}")
    else:
        preset = load_settings().preset(args.preset)
        window = window_for(preset, args.window)
        tokenizer = load_tokenizer(preset.tokenizer)

    results = []
    for name in args.files:
        text = _read(name)
        ids = tokenizer.encode(text)
        entry: dict[str, Any] = {
            "name": "stdin" if name == "-" else name,
            "characters": len(text),
            "tokens": len(ids),
            "chars_per_token": round(len(text) / len(ids), 3) if ids else None,
            "window_share": round(len(ids) / window, 4),
            "copies_fit": window // len(ids) if ids else None,
        }
        if args.pieces:
            entry["pieces"] = token_texts(tokenizer, ids)
            entry["token_ids"] = ids
        results.append(entry)

    if args.json:
        payload = {"tokenizer": tokenizer.identity, "window": window, "inputs": results}
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    for entry in results:
        cpt = f"{entry['chars_per_token']:.2f}" if entry["chars_per_token"] is not None else "-"
        fit = entry["copies_fit"] if entry["copies_fit"] is not None else "-"
        print(
            f"{entry['name']}: {entry['characters']} characters, {entry['tokens']} tokens, "
            f"{cpt} chars/token, {entry['window_share']:.1%} of a {window}-token window, {fit} copies fit"
        )
        if args.pieces:
            print("│".join(_show(p) for p in entry["pieces"]))
    return 0
