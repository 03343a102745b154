"""Property tests: random conversations, drafts, budgets and policies against the planner's invariants."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.context import POLICIES, ContextPlan, Message, Planner, plan_context
from tui.templates import PromptTemplate, load_template
from tui.tokenizers import SentencePieceTokenizer

JAPANESE = st.sampled_from(
    [
        "今日は",
        "いい天気",
        "ですね。",
        "「はい」",
        "！",
        "？",
        "\n",
        "ｶﾀｶﾅ",
        "  ",
        "😀",
        "<|endoftext|>",
        "123",
        "abc ",
    ]
)
content = st.one_of(
    st.lists(JAPANESE, max_size=40).map("".join),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=120),
)
messages_st = st.lists(
    st.builds(
        Message, role=st.sampled_from(["system", "user", "assistant"]), content=content, pinned=st.booleans()
    ),
    max_size=25,
)
TEMPLATES = ["ja-alpha-instruct", "ja-alpha-base-dialogue", "plain"]
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def tok(nerdstash_model: Path) -> SentencePieceTokenizer:
    return SentencePieceTokenizer(nerdstash_model)


@pytest.fixture(scope="module")
def templates() -> dict[str, PromptTemplate]:
    return {name: load_template(name) for name in TEMPLATES}


def newest_user(messages: list[Message], draft: str) -> int | None:
    if draft:
        return None
    return max((i for i, m in enumerate(messages) if m.role == "user"), default=None)


def check(plan: ContextPlan, messages: list[Message], draft: str, tok: SentencePieceTokenizer) -> None:
    sent = [s for s in plan.segments if s.sent]
    assert plan.total_tokens == len(plan.token_ids) == sum(s.tokens for s in sent)
    assert tok.decode(plan.token_ids) == tok.normalize(plan.prompt)
    assert plan.prompt == "".join(s.text for s in sent)
    if plan.ok:
        assert plan.total_tokens <= plan.budget
    status = {s.message_index: s for s in plan.segments if s.message_index is not None}
    assert sorted(status) == list(range(len(messages)))
    newest = newest_user(messages, draft)
    for i, m in enumerate(messages):
        if m.role == "system" or m.pinned:
            # The newest user message may also be pinned: it alone may be cut to fit.
            assert status[i].status == "kept" or (i == newest and status[i].status == "truncated")
    if newest is not None:
        assert status[newest].status in ("kept", "truncated")
    if draft:
        assert next(s.status for s in plan.segments if s.kind == "draft") in ("kept", "truncated")
    protected = {i for i, m in enumerate(messages) if m.role == "system" or m.pinned} | {newest}
    if plan.policy in ("rolling", "summarize"):
        dropped = [i for i, s in status.items() if s.status == "dropped"]
        kept_droppable = [i for i, s in status.items() if s.status == "kept" and i not in protected]
        if dropped and kept_droppable:
            assert max(dropped) < min(kept_droppable)  # the dropped ones are the oldest
    if plan.policy == "stop":
        assert all(s.status == "kept" for s in plan.segments)
    if not plan.ok and plan.policy != "stop":
        # Only the parts that may never go are left.
        assert all(s.status != "kept" for i, s in status.items() if i not in protected)


@SETTINGS
@given(
    messages=messages_st,
    draft=st.one_of(st.just(""), content),
    window=st.integers(16, 2048),
    reserve_share=st.floats(0, 0.9),
    policy=st.sampled_from(POLICIES),
    template=st.sampled_from(TEMPLATES),
    trim_to=st.sampled_from([0.1, 0.5, 0.9, 1.0]),
)
def test_plan_invariants(
    tok: SentencePieceTokenizer,
    templates: dict[str, PromptTemplate],
    messages: list[Message],
    draft: str,
    window: int,
    reserve_share: float,
    policy: str,
    template: str,
    trim_to: float,
) -> None:
    reserve = int(window * reserve_share)
    plan = plan_context(
        messages,
        tokenizer=tok,
        template=templates[template],
        window=window,
        reserve=reserve,
        policy=policy,  # type: ignore[arg-type]
        draft=draft,
        trim_to=trim_to,
        summary_chunk_tokens=64,
    )
    check(plan, messages, draft, tok)
    if plan.policy == "summarize" and plan.summary_jobs:
        summaries = {job.key: "要約" for job in plan.summary_jobs}
        again = plan_context(
            messages,
            tokenizer=tok,
            template=templates[template],
            window=window,
            reserve=reserve,
            policy="summarize",
            draft=draft,
            trim_to=trim_to,
            summaries=summaries,
            summary_chunk_tokens=64,
        )
        check(again, messages, draft, tok)
        assert again.first_kept == plan.first_kept


@SETTINGS
@given(
    turns=st.lists(st.tuples(content, content), min_size=1, max_size=20),
    window=st.integers(64, 1024),
)
def test_planner_anchor_only_moves_forward(
    tok: SentencePieceTokenizer,
    templates: dict[str, PromptTemplate],
    turns: list[tuple[str, str]],
    window: int,
) -> None:
    planner = Planner(tok, templates["ja-alpha-instruct"], window=window, reserve=window // 4)
    messages: list[Message] = []
    anchor = 0
    for user, reply in turns:
        plan = planner.plan(messages, draft=user)
        check(plan, messages, user, tok)
        assert plan.first_kept >= anchor
        anchor = plan.first_kept
        messages += [Message("user", user), Message("assistant", reply)]
