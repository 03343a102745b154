"""What an OpenAI-compatible server sends back, read leniently: completion chunks and error bodies.

openai builds its response models without validation, so a server's odd shape (a chat-style delta, a usage that
stayed a dict, a missing field) reaches us as is; these helpers read it field by field and turn anything
unreadable into RemoteFailure with one sentence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class RemoteFailure(Exception):
    """A failure with its user-facing sentence."""


@dataclass
class Reply:
    """What the stream told us besides the text."""

    finish: str | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None


def field_of(obj: Any, name: str) -> Any:
    """A field of a parsed event: openai builds models leniently, so a server's odd shape may stay a dict."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def read_chunk(chunk: Any, reply: Reply) -> str:
    """The text of one completion chunk; its finish_reason and usage go into `reply`."""
    if not isinstance(chunk, dict) and not hasattr(chunk, "choices"):
        raise RemoteFailure("the server sent a stream event that is not a JSON object (partial reply kept)")
    usage = field_of(chunk, "usage")
    if usage is not None:
        completion = field_of(usage, "completion_tokens")
        if isinstance(completion, int):
            reply.completion_tokens = completion
        cached = field_of(field_of(usage, "prompt_tokens_details"), "cached_tokens")
        if isinstance(cached, int):
            reply.cached_tokens = cached
    choices = field_of(chunk, "choices") or []
    if not choices:
        return ""
    choice = choices[0]
    if choice is None or isinstance(choice, str | int | float | list):
        raise RemoteFailure("the server sent a stream event without a completion choice (partial reply kept)")
    finish = field_of(choice, "finish_reason")
    if finish is not None:
        reply.finish = str(finish)
    text = field_of(choice, "text")
    if text is None:
        text = field_of(field_of(choice, "delta"), "content")  # a chat-style chunk from a lenient server
    return str(text or "")


def body_text(exc: Any) -> str:
    try:
        return str(exc.response.text)
    except Exception:
        return str(getattr(exc, "message", "") or exc)


def error_detail(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data))
        if isinstance(err, dict):
            err = err.get("message", err)
        text = str(err)
    else:
        text = body.strip() or "no details"
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:199] + "…"
