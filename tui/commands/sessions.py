"""`stablelm-tui sessions`: list, show, export and delete saved conversations."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sessions",
        help="list, show, export or delete saved conversations",
        description="Saved conversations (every message is saved as it happens).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="newest first")
    listing.add_argument(
        "--json", action="store_true", help='one JSON list of {"id","title","updated","messages"}'
    )
    show = actions.add_parser("show", help="print one conversation")
    show.add_argument("id", type=int)
    export = actions.add_parser("export", help="export one conversation")
    export.add_argument("id", type=int)
    export.add_argument("--format", choices=("md", "jsonl"), default="jsonl")
    export.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    delete = actions.add_parser("delete", help="delete one conversation")
    delete.add_argument("id", type=int)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tui.errors import UserError
    from tui.export import to_jsonl, to_markdown
    from tui.sanitize import neutralize
    from tui.store import SessionStore

    store = SessionStore()
    try:
        if args.action == "list":
            summaries = store.list_conversations()
            if args.json:
                print(json.dumps([s.as_json() for s in summaries], ensure_ascii=False))
            else:
                from datetime import datetime

                for s in summaries:
                    when = datetime.fromtimestamp(s.updated).strftime("%Y-%m-%d %H:%M")
                    print(f"{s.id:>5}  {when}  {s.messages:>4} msgs  {neutralize(s.title)}")
            return 0
        if args.action == "show":
            conversation = store.load(args.id)
            for m in conversation.messages:
                label = m.role + (f" ({m.mode})" if m.mode else "") + (" [partial]" if m.partial else "")
                print(f"--- {label}\n{neutralize(m.content)}")
            return 0
        if args.action == "export":
            conversation = store.load(args.id)
            text = to_markdown(conversation) if args.format == "md" else to_jsonl(conversation)
            if args.output:
                from tui.paths import write_user_file

                try:
                    write_user_file(args.output, text)  # a new export file is private (0600)
                except OSError as exc:
                    raise UserError(f"cannot write {args.output}: {exc.strerror or exc}") from None
            else:
                sys.stdout.write(text)
            return 0
        store.delete(args.id)
        print(f"deleted conversation {args.id}")
        return 0
    finally:
        store.close()
