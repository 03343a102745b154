"""`stablelm-tui novel`: novel mode from the command line: plan, write, import lore, undo/redo.

A story is a `*.story.json` file (see docs/novel.md). Every command that changes it writes it atomically; bad input
is one sentence, exit 2, and the file is left as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from tui.commands.backend_flags import add_local_flags, add_remote_flags

STATS_KEYS = ("ttft_s", "new_tokens", "tokens_per_s", "prefill_tokens", "reused_tokens", "model", "device")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "novel",
        help="novel mode: the base model continues a story (plan, write, import lore, undo, redo)",
        description="Novel mode (小説モード): a story file with メモリ, 脚注 and a キャラクターブック, continued by "
        "the base model, every token accounted for. See docs/novel.md.",
    )
    commands = parser.add_subparsers(dest="novel_command", metavar="COMMAND", required=True)

    open_ = commands.add_parser(
        "open",
        help="open the novel screen of the TUI on a story (F6 in the chat opens it too)",
        description="Open the TUI on the novel screen: the story (created if missing), or with --resume the story "
        "opened last, or without either a new story in the story store. F6 goes to the chat and back.",
    )
    open_.add_argument("story", metavar="STORY", nargs="?", help="the story file (*.story.json)")
    open_.add_argument(
        "--resume", dest="resume_story", action="store_true", help="reopen the story opened last"
    )
    open_.add_argument("--preset", help="model preset (default: the default preset)")
    add_remote_flags(open_)
    add_local_flags(open_)
    open_.set_defaults(func=run_open)

    new = commands.add_parser("new", help="create an empty story file", description="Create a story file.")
    new.add_argument("story", metavar="STORY", help="the file to create (*.story.json)")
    new.add_argument("--text", default="", help="the story's first lines")
    new.set_defaults(func=run_new)

    plan = commands.add_parser(
        "plan",
        help="show the context ledger: what the model would see, and why each piece is in or out",
        description="Plan the context for the next continuation and show every piece (memory, lore, 脚注, "
        "story): included, partial, dropped or skipped, why, and its exact token count.",
    )
    plan.add_argument("story", metavar="STORY")
    plan.add_argument("--preset", help="model preset (default: the default preset)")
    plan.add_argument("--max-new-tokens", type=int, metavar="N", help="reserve for the continuation")
    plan.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    plan.set_defaults(func=run_plan)

    write = commands.add_parser(
        "write",
        help="continue the story: stream the continuation to stdout and append it to the file",
        description="Continue the story with the preset's base model. The continuation streams to stdout and is "
        "appended to the story file (saved as it streams; Ctrl+C keeps what was written).",
    )
    write.add_argument("story", metavar="STORY")
    write.add_argument("--preset", help="model preset (default: the default preset)")
    write.add_argument("--max-new-tokens", type=int, metavar="N", help="length of the continuation")
    write.add_argument("--seed", type=int, metavar="S", help="sampling seed (default: random, recorded)")
    write.add_argument("--greedy", action="store_true", help="greedy decoding (no sampling)")
    write.add_argument(
        "--adapter",
        metavar="DIR",
        help="local: a LoRA adapter trained on the base model (`train --mode base`) on top (default: the "
        "preset's base adapter)",
    )
    write.add_argument(
        "--retry", action="store_true", help="replace the last continuation instead of adding one"
    )
    write.add_argument(
        "--stats", action="store_true", help="print one JSON line of figures on stderr at the end"
    )
    add_remote_flags(write)
    add_local_flags(write)
    write.set_defaults(func=run_write)

    lore = commands.add_parser(
        "import",
        help="import a NovelAI lorebook or SillyTavern World Info into a story",
        description="Add the entries of a NovelAI .lorebook or a SillyTavern World Info JSON file to a story's "
        "キャラクターブック, and say what was kept and what had no equivalent.",
    )
    lore.add_argument("lorefile", metavar="LOREFILE")
    lore.add_argument("--into", required=True, metavar="STORY", help="the story (created if missing)")
    lore.set_defaults(func=run_import)

    for name, helptext in (("undo", "take the last continuation out of the text"), ("redo", "put it back")):
        sub = commands.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        sub.add_argument("story", metavar="STORY")
        sub.set_defaults(func=run_undo if name == "undo" else run_redo)


def _context(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The story, preset and tokenizer; the story is read first so a bad file fails before anything loads."""
    from tui.novel.files import read_story
    from tui.presets import load_settings
    from tui.tokenizers import tokenizer_for_preset

    story = read_story(Path(args.story))
    preset = load_settings().preset(args.preset)
    return story, preset, tokenizer_for_preset(preset)


def _session(args: argparse.Namespace) -> Any:
    from tui.novel.session import NovelSession
    from tui.novel.store import StoryStore

    story, preset, tokenizer = _context(args)
    session = NovelSession(Path(args.story), story, preset=preset, tokenizer=tokenizer)
    # The novel screen's --resume reopens the last story; only a convenience, never a reason to fail.
    with contextlib.suppress(OSError):
        StoryStore().remember(Path(args.story))
    return session


def run_open(args: argparse.Namespace) -> int:
    from tui.app.novel_launch import launch_novel
    from tui.presets import load_settings

    return launch_novel(args, load_settings().preset(args.preset))


def run_new(args: argparse.Namespace) -> int:
    from tui.errors import UserError
    from tui.novel.files import save_story
    from tui.novel.story import Story

    path = Path(args.story)
    if path.exists():
        raise UserError(f"{path}: already exists (novel new never overwrites a story)")
    if not path.parent.is_dir():
        raise UserError(f"{path.parent}: no such folder")
    save_story(path, Story(text=args.text))
    print(f"created {path}")
    return 0


def run_plan(args: argparse.Namespace) -> int:
    from tui.novel.report import plan_table

    session = _session(args)
    plan = session.plan(args.max_new_tokens)
    if args.json:
        print(json.dumps(plan.to_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(plan_table(plan, session.story, session.preset.name)))
    if not plan.ok:
        print(f"stablelm-tui: error: {plan.error}", file=sys.stderr)
        return 1
    return 0


def run_write(args: argparse.Namespace) -> int:
    from tui.engine.errors import EngineError
    from tui.errors import UserError
    from tui.novel.backend import make_backend
    from tui.novel.session import WriteOptions
    from tui.sanitize import neutralize

    session = _session(args)
    options = WriteOptions(max_new_tokens=args.max_new_tokens, seed=args.seed, greedy=args.greedy)
    # Everything that can be refused is checked before the model loads: the plan, an empty story, undo.
    plan = session.plan(args.max_new_tokens)
    plan.require_ok()
    if not plan.token_ids:
        raise UserError("the story is empty: write its first lines (or a memory) to continue from")
    if args.retry:
        from tui.novel.history import take_back

        take_back(session.story, "replaced")
    try:
        backend = make_backend(args, session.preset, session.tokenizer)
    except EngineError as exc:
        print(f"stablelm-tui: error: {exc}", file=sys.stderr)
        return 1
    # Model text may carry escape sequences: visible on a terminal, exact in a pipe.
    show = neutralize if sys.stdout.isatty() else (lambda text: text)

    def on_text(text: str) -> None:
        sys.stdout.write(show(text))
        sys.stdout.flush()

    write = session.retry if args.retry else session.write
    item = write(backend, options, on_text=on_text)
    if sys.stdout.isatty():
        sys.stdout.write("\n")
        sys.stdout.flush()
    if args.stats and session.last_finished is not None:
        stats = session.last_finished.stats.as_dict()
        print(json.dumps({k: stats[k] for k in STATS_KEYS}, ensure_ascii=False), file=sys.stderr)
    if session.last_error:
        print(f"stablelm-tui: error: {session.last_error}", file=sys.stderr)
        return 1
    if item.finish == "error":
        error = session.last_finished.error if session.last_finished else "generation failed"
        print(f"stablelm-tui: error: {error} (the text written so far is saved)", file=sys.stderr)
        return 1
    if item.finish == "cancelled":
        print(f"stablelm-tui: stopped; {len(item.text)} characters kept in {args.story}", file=sys.stderr)
        return 130
    return 0


def run_import(args: argparse.Namespace) -> int:
    import dataclasses

    from tui.novel.files import read_story, save_story
    from tui.novel.imports import describe, merge, read_lorebook
    from tui.novel.schema import check_story
    from tui.novel.story import Story

    result = read_lorebook(Path(args.lorefile))
    path = Path(args.into)
    story = read_story(path) if path.exists() else Story()
    lore, duplicates = merge(story.lore, result.entries)
    updated = check_story(dataclasses.replace(story, lore=lore), str(path))
    save_story(path, updated)
    added = len(lore) - len(story.lore)
    print("\n".join(describe(result, added, duplicates, len(lore))))
    return 0


def _history_command(args: argparse.Namespace, undo: bool) -> int:
    from tui.novel import history
    from tui.novel.files import read_story, save_story

    path = Path(args.story)
    story = read_story(path)
    updated = history.undo(story) if undo else history.redo(story)
    save_story(path, updated)
    change = len(story.text) - len(updated.text)
    what = f"removed {change} characters" if undo else f"added back {-change} characters"
    print(f"{'undo' if undo else 'redo'}: {what} ({len(updated.text)} characters now)")
    return 0


def run_undo(args: argparse.Namespace) -> int:
    return _history_command(args, undo=True)


def run_redo(args: argparse.Namespace) -> int:
    return _history_command(args, undo=False)
