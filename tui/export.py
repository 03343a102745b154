"""Conversation exports: JSONL (what `stablelm-tui context --conversation` reads) and Markdown for people.

Markdown puts each message in a code fence longer than any backtick run inside it, so nothing in a message can
become formatting, a link or HTML, and control characters are made visible so `cat` on the file is safe.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from tui.sanitize import neutralize
from tui.store import StoredConversation


def to_jsonl(conversation: StoredConversation) -> str:
    from tui.context.jsonl import message_record

    return "".join(
        message_record(m.role, m.content, m.pinned, m.token_ids) + "\n" for m in conversation.messages
    )


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def to_markdown(conversation: StoredConversation) -> str:
    title = neutralize(conversation.title or f"Conversation {conversation.id}").replace("\n", " ")
    when = datetime.fromtimestamp(conversation.updated, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"# {_escape_inline(title)}", "", f"_Exported from stablelm-tui, last updated {when}._", ""]
    for message in conversation.messages:
        label = message.role
        if message.role == "assistant" and message.mode:
            label += f" ({message.mode})"
        if message.partial:
            label += ", partial"
        if message.pinned:
            label += ", pinned"
        body = neutralize(message.content)
        fence = _fence(body)
        parts += [f"## {label}", "", f"{fence}text", body, fence, ""]
    return "\n".join(parts)


def _escape_inline(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]()#+\-.!<>|~])", r"\\\1", text)
