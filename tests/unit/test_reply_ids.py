"""Exact prefix reuse in the planner: a reply's piece is the template's wrapping around the ids it was sampled as.

Through the real nerdstash tokenizer: "東" + "京" sampled one by one decode to 東京, which encodes back as the
single piece 東京. Without the sampled ids the next prompt would differ from what the engine has cached.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.context import Message, Planner, plan_context
from tui.context.reply_ids import reply_ids
from tui.templates import PromptTemplate, load_template, template_from_source
from tui.tokenizers import SentencePieceTokenizer

TEMPLATES = ("ja-alpha-instruct", "ja-alpha-base-dialogue", "plain")


@pytest.fixture(scope="module")
def tok(nerdstash_model: Path) -> SentencePieceTokenizer:
    return SentencePieceTokenizer(nerdstash_model)


def sampled_tokyo(tok: SentencePieceTokenizer) -> tuple[str, tuple[int, ...]]:
    """A reply as a model may sample it: 東 and 京 as two pieces, then です。"""
    ids = (*tok.encode("東"), *tok.encode("京"), *tok.encode("です。"))
    text = tok.decode(ids)
    assert text == "東京です。" and tuple(tok.encode(text)) != ids  # re-encoding gives other ids
    return text, ids


def byte_piece(tok: SentencePieceTokenizer, byte: int) -> int:
    return int(tok._sp.piece_to_id(f"<0x{byte:02X}>"))


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_next_prompt_extends_the_previous_prompt_and_the_sampled_ids_exactly(
    tok: SentencePieceTokenizer, name: str
) -> None:
    template = load_template(name)
    planner = Planner(tok, template, window=2048, reserve=256)
    first = planner.plan([], draft="日本の首都は？")
    text, ids = sampled_tokyo(tok)
    history = [Message("user", "日本の首都は？"), Message("assistant", text, ids=ids)]
    second = planner.plan(history, draft="ありがとう。")
    carried = [*first.token_ids, *ids]
    assert second.token_ids[: len(carried)] == carried
    assert tok.decode(second.token_ids) == tok.normalize(second.prompt)
    # The text is what it always was: only the ids of the reply's span differ.
    plain = planner.plan(
        [Message("user", "日本の首都は？"), Message("assistant", text)], draft="ありがとう。"
    )
    assert second.prompt == plain.prompt
    assert second.token_ids != plain.token_ids


def test_the_wrapping_around_the_reply_is_rendered_and_encoded_as_for_any_message(
    tok: SentencePieceTokenizer,
) -> None:
    template = load_template("ja-alpha-instruct")
    text, ids = sampled_tokyo(tok)
    plan = plan_context(
        [Message("user", "質問"), Message("assistant", text, ids=ids)],
        tokenizer=tok,
        template=template,
        window=2048,
        reserve=256,
    )
    (reply,) = [s for s in plan.segments if s.role == "assistant"]
    wrap = tok.encode("\n\n### 応答: ")
    assert plan.token_ids[reply.token_start : reply.token_end] == [*wrap, *ids]
    assert reply.tokens == len(wrap) + len(ids)
    assert reply.text == template.message("assistant", text)


@pytest.mark.parametrize(
    ("tail", "why"),
    [
        pytest.param("\n\n###", "stop-string", id="cut-at-a-stop-string"),
        pytest.param(b"\xf0\x9f", "broken-character", id="stopped-inside-a-character"),
    ],
)
def test_ids_past_the_replys_text_are_left_out(
    tok: SentencePieceTokenizer, tail: str | bytes, why: str
) -> None:
    text, ids = sampled_tokyo(tok)
    extra = tuple(tok.encode(tail)) if isinstance(tail, str) else tuple(byte_piece(tok, b) for b in tail)
    assert reply_ids(tok, text, (*ids, *extra)) == ids, why


@pytest.mark.parametrize(
    ("content", "ids"),
    [
        pytest.param("東京でした。", None, id="edited-reply"),
        pytest.param("東京です。", (5, 6, 7), id="ids-of-another-tokenizer"),
        pytest.param("東京です。", (), id="a-remote-reply-without-ids"),
    ],
)
def test_ids_that_do_not_spell_the_content_are_ignored(
    tok: SentencePieceTokenizer, content: str, ids: tuple[int, ...] | None
) -> None:
    _text, sampled = sampled_tokyo(tok)
    template = load_template("ja-alpha-instruct")
    given = sampled if ids is None else ids
    with_ids = plan_context(
        [Message("user", "q"), Message("assistant", content, ids=given)],
        tokenizer=tok,
        template=template,
        window=2048,
        reserve=256,
    )
    without = plan_context(
        [Message("user", "q"), Message("assistant", content)],
        tokenizer=tok,
        template=template,
        window=2048,
        reserve=256,
    )
    assert with_ids.token_ids == without.token_ids == tok.encode(without.prompt)


def test_a_template_that_changes_the_content_gets_the_text_encoded(tok: SentencePieceTokenizer) -> None:
    source = (
        "{%- macro header() -%}{%- endmacro -%}"
        '{%- macro message(role, content) -%}{{ "\\n" ~ role ~ ": " ~ content | upper }}{%- endmacro -%}'
        '{%- macro footer() -%}{{ "\\nassistant: " }}{%- endmacro -%}'
    )
    template: PromptTemplate = template_from_source(source, "upper", "upper.j2")
    ids = tuple(tok.encode("ok"))
    plan = plan_context(
        [Message("user", "q"), Message("assistant", "ok", ids=ids)],
        tokenizer=tok,
        template=template,
        window=64,
        reserve=8,
    )
    assert "OK" in plan.prompt
    assert plan.token_ids == tok.encode(plan.prompt)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sampled=st.lists(st.integers(min_value=4, max_value=65_535), min_size=0, max_size=40),
    name=st.sampled_from(TEMPLATES),
)
def test_any_sampled_reply_keeps_prompt_and_ids_consistent_and_extends_the_previous_prompt(
    tok: SentencePieceTokenizer, sampled: list[int], name: str
) -> None:
    """Random ids, as a random model samples them (byte pieces, broken characters, anything): the reply's text is
    what the engine would show (a broken last character dropped), and the plan stays exact and consistent."""
    ids = tuple(i for i in sampled if i < tok.vocab_size)
    text = tok.decode(ids).rstrip("\ufffd")
    template = load_template(name)
    planner = Planner(tok, template, window=4096, reserve=16)
    first = planner.plan([], draft="質問")
    plan = planner.plan([Message("user", "質問"), Message("assistant", text, ids=ids)], draft="次")
    assert tok.decode(plan.token_ids) == tok.normalize(plan.prompt)
    kept = reply_ids(tok, text, ids)
    if kept is not None and kept == ids:
        assert plan.token_ids[: len(first.token_ids) + len(ids)] == [*first.token_ids, *ids]
