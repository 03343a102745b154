"""Fuzzing the headless core with hostile conversations: any Unicode, control characters, 100 kB lines,
empty strings. Planning, rendering, exporting and parsing either succeed with their invariants or raise a
UserError with a message; no other exception escapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.context import Message, plan_context
from tui.context.jsonl import parse_jsonl
from tui.errors import UserError
from tui.export import to_jsonl, to_markdown
from tui.sanitize import has_controls, neutralize
from tui.store import StoredConversation, StoredMessage
from tui.templates import load_template
from tui.tokenizers import Tokenizer, load_tokenizer

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

hostile_text = st.one_of(
    st.just(""),
    st.text(max_size=200),  # any code point but surrogates: controls, bidi, emoji, combining marks
    st.sampled_from(["<|endoftext|>", "\x1b[2J\x07", "[red]x[/red]", "\r\n", "### 応答: ", "\nユーザー："]),
    st.builds(
        lambda c, n: c * n, st.sampled_from(["あ", "a", "\x00", "😀", "\n"]), st.integers(10_000, 100_000)
    ),
)
conversations = st.lists(
    st.builds(
        Message,
        role=st.sampled_from(["system", "user", "assistant"]),
        content=hostile_text,
        pinned=st.booleans(),
    ),
    max_size=8,
)


@pytest.fixture(scope="module")
def tokenizer(nerdstash_model: Path) -> Tokenizer:
    return load_tokenizer(str(nerdstash_model))


@FUZZ
@given(
    messages=conversations,
    draft=hostile_text,
    template=st.sampled_from(["ja-alpha-instruct", "ja-alpha-base-dialogue", "plain"]),
    policy=st.sampled_from(["rolling", "middle", "summarize", "stop"]),
    window=st.integers(8, 2048),
)
def test_planner_survives_hostile_conversations(
    tokenizer: Tokenizer, messages: list[Message], draft: str, template: str, policy: str, window: int
) -> None:
    reserve = window // 4
    try:
        plan = plan_context(
            messages,
            tokenizer=tokenizer,
            template=load_template(template),
            window=window,
            reserve=reserve,
            policy=policy,
            draft=draft,  # type: ignore[arg-type]
        )
    except UserError as exc:
        assert str(exc)
        return
    assert plan.total_tokens == len(plan.token_ids)
    if plan.ok:
        assert plan.total_tokens <= window - reserve
    else:
        assert plan.error and plan.over_by > 0
    assert all(0 <= i < tokenizer.vocab_size for i in plan.token_ids)


@FUZZ
@given(messages=conversations, title=hostile_text)
def test_exports_and_display_text_stay_inert(messages: list[Message], title: str) -> None:
    stored = StoredConversation(
        1,
        title,
        {},
        0.0,
        0.0,
        [StoredMessage(i, m.role, m.content, None, False, m.pinned, {}, 0.0) for i, m in enumerate(messages)],
    )
    markdown = to_markdown(stored)
    assert not has_controls(markdown.replace("\t", ""))
    assert parse_jsonl(to_jsonl(stored).encode(), "export.jsonl") == messages
    for m in messages:
        assert not has_controls(neutralize(m.content))


@FUZZ
@given(st.binary(max_size=400))
def test_imported_bytes_either_parse_or_say_which_line(data: bytes) -> None:
    try:
        parsed = parse_jsonl(data, "import.jsonl")
    except UserError as exc:
        assert str(exc).startswith("import.jsonl:")
        return
    assert all(isinstance(m, Message) for m in parsed)


def test_invalid_utf8_names_the_line() -> None:
    data = (
        json.dumps({"role": "user", "content": "ok"}) + "\n"
    ).encode() + b'{"role": "user", "content": "\xff"}\n'
    with pytest.raises(UserError, match=r"^import.jsonl:2: not valid UTF-8"):
        parse_jsonl(data, "import.jsonl")


@pytest.mark.parametrize("separator", ["\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\r"])
def test_unicode_line_separators_inside_a_message_round_trip(separator: str) -> None:
    messages = [Message("user", f"前{separator}後"), Message("assistant", "ok")]
    stored = StoredConversation(
        1,
        "",
        {},
        0.0,
        0.0,
        [StoredMessage(i, m.role, m.content, None, False, False, {}, 0.0) for i, m in enumerate(messages)],
    )
    assert parse_jsonl(to_jsonl(stored).encode(), "export.jsonl") == messages
