"""Training data files into Documents, tokenized exactly as the app sends text to the model.

Three formats, told apart by name and content:
- a conversation JSONL (what `sessions export --format jsonl` writes): rendered through the preset's template
  piece by piece like the planner does; the model learns the assistant replies only, each followed by what ends
  it in that format (the template's stop string that the next message starts with, or eos after the last one);
- a story file of the novel mode (`*.story.json`): its `text`, continued, with its memory as context;
- any other UTF-8 text: continuation, every token learned.
Anything else (binary, JSON that is no story, JSONL that is no conversation) is a UserError naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.context.jsonl import parse_jsonl
from tui.context.model import Message
from tui.errors import UserError
from tui.templates import PromptTemplate
from tui.tokenizers import Tokenizer
from tui.train.sequences import DataKind, Document

STORY_SUFFIX = ".story.json"
SENTENCE_ENDS = ("。", "！", "？", "」", "』", "!", "?", ".", "\n")
MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class FileSummary:
    path: str
    kind: DataKind
    sha256: str
    documents: int
    tokens: int
    loss_tokens: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def story_parts(record: Any, where: str) -> tuple[str, str]:
    """(context, text) of a novel-mode story: its memory (always at the top of the novel mode's context) and
    its text. The one place that reads the story format of issue 14, so it can follow tui.novel's loader."""
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise UserError(f"{where}: not a story file (a JSON object with a 'text' string)")
    memory = record.get("memory", "")
    if not isinstance(memory, str):
        raise UserError(f"{where}: 'memory' must be a string")
    if memory and not memory.endswith("\n"):
        memory += "\n"
    return memory, record["text"]


class _Pieces:
    """Tokenizer plus a memo of which ids end a sentence or a line (decoded one id at a time, once per id)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self._ends: dict[int, tuple[bool, bool]] = {}

    def encode(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer.encode(text))

    def ends(self, token: int) -> tuple[bool, bool]:
        """(ends a line, ends a sentence) for one id."""
        known = self._ends.get(token)
        if known is None:
            text = self.tokenizer.decode([token])
            known = self._ends[token] = (text.endswith("\n"), text.endswith(SENTENCE_ENDS))
        return known

    def cuts(self, ids: Sequence[int], offset: int = 0) -> tuple[set[int], set[int]]:
        lines: set[int] = set()
        sentences: set[int] = set()
        for i, token in enumerate(ids):
            line, sentence = self.ends(token)
            if line:
                lines.add(offset + i + 1)
            if sentence:
                sentences.add(offset + i + 1)
        return lines, sentences


def text_document(text: str, source: str, pieces: _Pieces, kind: DataKind, context: str = "") -> Document:
    ids = pieces.encode(text)
    lines, sentences = pieces.cuts(ids)
    return Document(
        source=source,
        kind=kind,
        prefix=pieces.encode(context),
        ids=ids,
        loss=(True,) * len(ids),
        strong_cuts=frozenset(lines),
        sentence_cuts=frozenset(sentences),
    )


def _split_reply(template: PromptTemplate, content: str) -> tuple[str, str]:
    """(cue, reply) of an assistant piece: the cue is the template's footer, which the app sends before the
    model writes; the reply (content plus whatever the template puts after it) is what the model writes."""
    piece = template.message("assistant", content)
    footer = template.footer()
    if footer and piece.startswith(footer):
        return footer, piece[len(footer) :]
    at = piece.rfind(content) if content else len(piece)
    return piece[:at], piece[at:]


def _stop_tokens(text: str, ids: Sequence[int], stops: Sequence[str], pieces: _Pieces) -> int:
    """How many leading ids of a message spell the stop string it starts with (0 if it starts with none)."""
    stop = next((s for s in stops if text.startswith(s)), None)
    if stop is None:
        return 0
    for k in range(1, len(ids) + 1):
        if pieces.tokenizer.decode(list(ids[:k])).startswith(stop):
            return k
    return 0


def conversation_document(
    messages: Sequence[Message],
    source: str,
    pieces: _Pieces,
    template: PromptTemplate,
    eos_id: int | None,
    stops: Sequence[str] = (),
) -> Document:
    """The conversation as the app's prompt for its last reply would hold it, replies learned.

    Each reply is encoded as the footer's ids followed by the reply's own ids, which is how the model produced
    it (the app encodes the footer as a piece, the model writes after it). In later turns the app re-encodes an
    earlier reply as one piece, which can differ by a token at the cue (a space merged into the next token);
    the learned tokens follow the generation, where the loss is. Leading system messages join the header as
    the prefix: the app never drops them, so every piece cut from a long conversation keeps them.
    """
    all_stops = tuple(dict.fromkeys((*template.stop, *stops)))
    lead = 0
    while lead < len(messages) and messages[lead].role == "system":
        lead += 1
    prefix_text = template.header() + "".join(template.message("system", m.content) for m in messages[:lead])
    rest = messages[lead:]
    texts = [template.message(m.role, m.content) for m in rest]
    ids: list[int] = []
    loss: list[bool] = []
    boundaries: set[int] = set()
    sentences: set[int] = set()
    tails: dict[int, int] = {}
    for i, message in enumerate(rest):
        if i:
            boundaries.add(len(ids))
        if message.role != "assistant":
            piece_ids = pieces.encode(texts[i])
            ids.extend(piece_ids)
            loss.extend([False] * len(piece_ids))
            continue
        cue, reply = _split_reply(template, message.content)
        cue_ids, reply_ids = pieces.encode(cue), pieces.encode(reply)
        ids.extend(cue_ids)
        loss.extend([False] * len(cue_ids))
        sentences |= pieces.cuts(reply_ids, len(ids))[1]
        ids.extend(reply_ids)
        loss.extend([True] * len(reply_ids))
        if i + 1 < len(rest):
            # The next message starts with this reply's stop string: that is where the format ends it.
            next_ids = pieces.encode(texts[i + 1])
            tails[len(ids)] = _stop_tokens(texts[i + 1], next_ids, all_stops, pieces)
        elif eos_id is not None:
            ids.append(eos_id)
            loss.append(True)
    # The stop strings at the start of messages are learned where they follow a reply.
    for at, count in tails.items():
        loss[at : at + count] = [True] * count
    return Document(
        source=source,
        kind="conversation",
        prefix=pieces.encode(prefix_text),
        ids=tuple(ids),
        loss=tuple(loss),
        strong_cuts=frozenset(boundaries),
        sentence_cuts=frozenset(sentences),
        tails={k: v for k, v in tails.items() if v},
    )


def _read_bytes(name: str) -> bytes:
    path = Path(name)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UserError(f"{name}: over {MAX_FILE_BYTES // (1024 * 1024)} MB; split it into several files")
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{name}: is a directory; list the data files themselves") from None
    except OSError as exc:
        raise UserError(f"{name}: cannot read: {exc.strerror or exc}") from None


UNKNOWN_FORMAT = (
    "not a known training format (a conversation .jsonl from `sessions export`, a .story.json, or UTF-8 text)"
)


def detect_kind(name: str, data: bytes) -> DataKind:
    if b"\0" in data[:8192]:
        raise UserError(f"{name}: {UNKNOWN_FORMAT}")
    lowered = name.lower()
    if lowered.endswith(STORY_SUFFIX):
        return "story"
    if lowered.endswith(".jsonl"):
        return "conversation"
    if lowered.endswith(".json"):
        raise UserError(f"{name}: {UNKNOWN_FORMAT}")
    return "text"


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(f"{name}:{line}: {UNKNOWN_FORMAT}; this is not valid UTF-8") from None


def read_file(
    name: str,
    *,
    tokenizer: Tokenizer,
    template: PromptTemplate,
    eos_id: int | None,
    stops: Sequence[str] = (),
) -> tuple[list[Document], FileSummary]:
    import hashlib

    data = _read_bytes(name)
    kind = detect_kind(name, data)
    pieces = _Pieces(tokenizer)
    docs: list[Document] = []
    if kind == "conversation":
        try:
            messages = parse_jsonl(data, name)
        except UserError as exc:
            raise UserError(f"{name}: not a conversation export ({exc})") from None
        if messages:
            docs.append(conversation_document(messages, name, pieces, template, eos_id, stops))
    elif kind == "story":
        try:
            record = json.loads(_decode(name, data))
        except ValueError as exc:
            raise UserError(f"{name}: not valid JSON ({exc})") from None
        context, text = story_parts(record, name)
        if text.strip():
            docs.append(text_document(text, name, pieces, "story", context))
    else:
        text = _decode(name, data)
        if text.strip():
            docs.append(text_document(text, name, pieces, "text"))
    summary = FileSummary(
        path=name,
        kind=kind,
        sha256=hashlib.sha256(data).hexdigest(),
        documents=len(docs),
        tokens=sum(len(d.prefix) + len(d.ids) for d in docs),
        loss_tokens=sum(d.loss_tokens for d in docs),
    )
    return docs, summary


def read_files(
    names: Sequence[str],
    *,
    tokenizer: Tokenizer,
    template: PromptTemplate,
    eos_id: int | None,
    stops: Sequence[str] = (),
) -> tuple[list[Document], list[FileSummary]]:
    """Every file's documents; UserError when there is nothing at all to learn from."""
    if not names:
        raise UserError("no data files given (--data FILE...)")
    docs: list[Document] = []
    summaries: list[FileSummary] = []
    for name in names:
        file_docs, summary = read_file(
            name, tokenizer=tokenizer, template=template, eos_id=eos_id, stops=stops
        )
        docs.extend(file_docs)
        summaries.append(summary)
    if not any(d.loss_tokens for d in docs):
        raise UserError(
            f"nothing to learn from in {', '.join(names)}: the files are empty, or the conversations have "
            "no assistant replies"
        )
    return docs, summaries
