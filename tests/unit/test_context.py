"""The context planner: named cases per policy, through the real nerdstash tokenizer and shipped templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.context import ContextOverflow, ContextPlan, Message, Planner, plan_context
from tui.context.jsonl import parse_jsonl, to_jsonl
from tui.context.truncate import snap_to_sentence
from tui.errors import UserError
from tui.templates import PromptTemplate, build_summary_prompt, load_template
from tui.tokenizers import SentencePieceTokenizer


@pytest.fixture(scope="module")
def tok(nerdstash_model: Path) -> SentencePieceTokenizer:
    return SentencePieceTokenizer(nerdstash_model)


@pytest.fixture(scope="module")
def instruct() -> PromptTemplate:
    return load_template("ja-alpha-instruct")


def conversation(turns: int, size: int = 10) -> list[Message]:
    messages = [Message("system", "あなたは親切なアシスタントです。")]
    for i in range(turns):
        messages.append(Message("user", f"質問{i}です。" * size))
        messages.append(Message("assistant", f"回答{i}です。" * size))
    return messages


def check_invariants(plan: ContextPlan, tok: SentencePieceTokenizer) -> None:
    assert plan.total_tokens == len(plan.token_ids) == sum(s.tokens for s in plan.segments if s.sent)
    assert tok.decode(plan.token_ids) == tok.normalize(plan.prompt)
    if plan.ok:
        assert plan.total_tokens <= plan.budget
    for s in plan.segments:
        if s.sent:
            assert plan.token_ids[s.token_start : s.token_end] == tok.encode(s.text)
            assert plan.prompt[s.char_start : s.char_end] == s.text


def test_everything_fits(tok: SentencePieceTokenizer, instruct: PromptTemplate) -> None:
    messages = conversation(2)
    plan = plan_context(messages, tokenizer=tok, template=instruct, window=2048, reserve=256, draft="次")
    check_invariants(plan, tok)
    assert [s.kind for s in plan.segments] == ["header", "system"] + ["message"] * 4 + ["draft", "footer"]
    assert all(s.status == "kept" for s in plan.segments)
    assert plan.prompt == instruct.render([(m.role, m.content) for m in messages] + [("user", "次")])
    assert plan.token_ids == tok.encode(plan.prompt)  # per-piece ids equal whole-prompt ids here
    assert plan.budget == 1792 and plan.stop == ("\n\n###",) and plan.log == ()


def test_rolling_drops_oldest_in_a_large_step(tok: SentencePieceTokenizer, instruct: PromptTemplate) -> None:
    messages = conversation(30)
    plan = plan_context(
        messages, tokenizer=tok, template=instruct, window=2048, reserve=256, draft="次の質問"
    )
    check_invariants(plan, tok)
    dropped = [s.message_index for s in plan.segments if s.status == "dropped"]
    kept = [s.message_index for s in plan.segments if s.kind == "message" and s.status == "kept"]
    assert dropped and max(dropped) < min(kept)  # the oldest go first
    assert dropped == list(range(1, len(dropped) + 1))  # the system message (0) stays
    assert plan.total_tokens <= 0.5 * plan.budget  # trimmed well below the budget, not just under it
    assert plan.first_kept == max(dropped) + 1
    # The log counts messages from 1, as people do: 0-based indices 1..n are messages 2..n+1.
    assert plan.log[0].startswith(f"dropped messages 2–{max(dropped) + 1}, ")


def test_rolling_prefix_is_stable_across_turns(tok: SentencePieceTokenizer, instruct: PromptTemplate) -> None:
    planner = Planner(tok, instruct, window=1024, reserve=128)
    messages = conversation(2)
    previous: ContextPlan | None = None
    trims = 0
    for turn in range(40):
        plan = planner.plan(messages, draft=f"質問{turn}")
        check_invariants(plan, tok)
        assert plan.ok
        if previous is not None:
            if plan.first_kept == previous.first_kept:
                # Same anchor: the previous prompt (minus its draft and footer) is a prefix of this one.
                stable = previous.segments[-3].token_end  # up to the last message before the draft
                assert plan.token_ids[:stable] == previous.token_ids[:stable]
            else:
                trims += 1
                assert plan.first_kept > previous.first_kept
        previous = plan
        messages = [*messages, Message("user", f"質問{turn}"), Message("assistant", "回答です。" * 8)]
    assert 1 <= trims <= 8  # large steps: a handful of trims over 40 turns, not one per turn


def test_stateless_keep_from_matches_planner(tok: SentencePieceTokenizer, instruct: PromptTemplate) -> None:
    messages = conversation(30)
    first = plan_context(messages, tokenizer=tok, template=instruct, window=2048, reserve=256)
    again = plan_context(
        messages[:-2], tokenizer=tok, template=instruct, window=2048, reserve=256, keep_from=first.first_kept
    )
    assert again.first_kept == first.first_kept
    assert all(s.status == "dropped" for s in again.segments if s.message_index in range(1, first.first_kept))


def test_pinned_and_system_are_kept(tok: SentencePieceTokenizer, instruct: PromptTemplate) -> None:
    messages = conversation(30)
    messages[3] = Message("user", "この情報は大事です。", pinned=True)
    messages.insert(10, Message("system", "途中のシステム指示。"))
    plan = plan_context(messages, tokenizer=tok, template=instruct, window=2048, reserve=256)
    check_invariants(plan, tok)
    status = {s.message_index: s.status for s in plan.segments if s.message_index is not None}
    assert status[0] == status[3] == status[10] == "kept"
    assert status[1] == "dropped" and status[11] == "dropped"


def test_newest_user_message_kept_without_draft(
    tok: SentencePieceTokenizer, instruct: PromptTemplate
) -> None:
    messages = [*conversation(30), Message("user", "最後の質問")]
    plan = plan_context(messages, tokenizer=tok, template=instruct, window=512, reserve=64, trim_to=0.1)
    check_invariants(plan, tok)
    last = next(s for s in plan.segments if s.message_index == len(messages) - 1)
    assert last.status == "kept"


def test_oversized_draft_is_cut_at_a_sentence_end(
    tok: SentencePieceTokenizer, instruct: PromptTemplate
) -> None:
    draft = "".join(f"これは{i}番目の文です。" for i in range(300))
    plan = plan_context(
        conversation(3), tokenizer=tok, template=instruct, window=512, reserve=64, draft=draft
    )
    check_invariants(plan, tok)
    assert plan.ok and plan.total_tokens <= plan.budget
    seg = next(s for s in plan.segments if s.kind == "draft")
    assert seg.status == "truncated" and seg.cut_chars > 0
    assert draft[seg.cut_chars - 1] == "。"  # the kept text starts a sentence
    assert seg.text.endswith(draft[-20:])  # cut from the start: the end survives
    assert all(s.status == "dropped" for s in plan.segments if s.kind == "message")
    assert any("truncated the draft" in line for line in plan.log)


def test_snap_to_sentence() -> None:
    text = "あいうえお。かきくけこ」さしすせそ"
    assert snap_to_sentence(text, 3) == 6  # just after 。
    assert snap_to_sentence(text, 6) == 6  # already on a boundary
    assert snap_to_sentence("ab" * 100, 5) == 5  # no sentence end within reach


def test_stop_policy_refuses_with_the_overflow(tok: SentencePieceTokenizer, instruct: PromptTemplate) -> None:
    plan = plan_context(
        conversation(30), tokenizer=tok, template=instruct, window=2048, reserve=256, policy="stop"
    )
    check_invariants(plan, tok)
    assert not plan.ok and plan.over_by == plan.total_tokens - plan.budget > 0
    assert plan.error is not None and plan.error.startswith(f"over by {plan.over_by} tokens")
    assert all(s.status == "kept" for s in plan.segments)
    with pytest.raises(ContextOverflow, match=f"over by {plan.over_by} tokens"):
        plan.require_ok()


def test_unfittable_fixed_parts_are_reported(tok: SentencePieceTokenizer, instruct: PromptTemplate) -> None:
    messages = [Message("system", "長いシステム指示です。" * 200), Message("user", "質問")]
    plan = plan_context(messages, tokenizer=tok, template=instruct, window=512, reserve=64)
    check_invariants(plan, tok)
    assert not plan.ok and plan.over_by > 0 and "system prompt" in (plan.error or "")


def test_middle_keeps_first_exchange(tok: SentencePieceTokenizer, instruct: PromptTemplate) -> None:
    messages = conversation(30)
    plan = plan_context(messages, tokenizer=tok, template=instruct, window=2048, reserve=256, policy="middle")
    check_invariants(plan, tok)
    status = {s.message_index: s.status for s in plan.segments if s.message_index is not None}
    assert status[0] == status[1] == status[2] == "kept"
    dropped = sorted(i for i, st in status.items() if st == "dropped")
    assert dropped[0] == 3 and dropped == list(range(3, dropped[-1] + 1))
    assert status[len(messages) - 1] == "kept"


def test_middle_marker_from_template(tok: SentencePieceTokenizer) -> None:
    dialogue = load_template("ja-alpha-base-dialogue")
    plan = plan_context(
        conversation(30), tokenizer=tok, template=dialogue, window=1024, reserve=128, policy="middle"
    )
    check_invariants(plan, tok)
    kinds = [s.kind for s in plan.segments]
    marker = plan.segments[kinds.index("marker")]
    assert marker.status == "kept" and marker.text == "\n（中略）"
    assert plan.segments[kinds.index("marker") + 1].status == "dropped"


def test_summarize_falls_back_then_uses_summaries(
    tok: SentencePieceTokenizer, instruct: PromptTemplate
) -> None:
    messages = conversation(30)
    planner = Planner(tok, instruct, window=2048, reserve=256, policy="summarize", summary_chunk_tokens=300)
    pending = planner.plan(messages)
    check_invariants(pending, tok)
    assert pending.summary_jobs and not any(s.kind == "summary" for s in pending.segments)
    jobs = pending.summary_jobs
    assert all(j.chunks == len(jobs) for j in jobs) and len({j.key for j in jobs}) == len(jobs)
    assert "".join(j.text for j in jobs).startswith("ユーザー: 質問0です。")
    assert "not ready" in pending.log[-1]
    prompt = build_summary_prompt(jobs[0].text, jobs[0].max_chars)
    assert jobs[0].text in prompt

    summaries = {job.key: f"要約{job.chunk}" for job in jobs}
    done = planner.plan(messages, summaries=summaries)
    check_invariants(done, tok)
    summary = next(s for s in done.segments if s.kind == "summary")
    assert summary.status == "summarized"
    assert summary.replaces == tuple(s.message_index for s in done.segments if s.status == "dropped")
    assert "要約0\n要約1" in summary.text
    assert done.summary_jobs == () and done.first_kept == pending.first_kept
    assert done.total_tokens == pending.total_tokens + summary.tokens

    edited = list(messages)
    edited[1] = Message("user", "書き換えた質問")
    replanned = Planner(tok, instruct, window=2048, reserve=256, policy="summarize", summary_chunk_tokens=300)
    stale = replanned.plan(edited, summaries=summaries)
    assert stale.summary_jobs and stale.summary_jobs[0].key not in summaries  # content is part of the key


def test_planner_cache_reencodes_only_the_draft(
    tok: SentencePieceTokenizer, instruct: PromptTemplate
) -> None:
    planner = Planner(tok, instruct, window=2048, reserve=256)
    messages = conversation(50)
    planner.plan(messages, draft="あ")
    misses = planner.id_cache.misses
    planner.plan(messages, draft="あい")
    assert planner.id_cache.misses == misses + 1


def test_invalid_options(tok: SentencePieceTokenizer, instruct: PromptTemplate) -> None:
    with pytest.raises(UserError, match="reserve must be between 0 and the window minus one"):
        plan_context([], tokenizer=tok, template=instruct, window=100, reserve=100)
    with pytest.raises(UserError, match="--max-new-tokens must be"):
        plan_context(
            [],
            tokenizer=tok,
            template=instruct,
            window=100,
            reserve=100,
            origins={"reserve": "--max-new-tokens"},
        )
    with pytest.raises(UserError, match="policy"):
        plan_context([], tokenizer=tok, template=instruct, window=100, reserve=1, policy="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="role"):
        Message("bot", "x")  # type: ignore[arg-type]


def test_jsonl_round_trip_and_errors() -> None:
    messages = [
        Message("system", "s"),
        Message("user", "日本語\n<|endoftext|>", pinned=True),
        Message("assistant", "東京", ids=(10535, 49244)),
    ]
    assert parse_jsonl(to_jsonl(messages).encode(), "x") == messages
    cases = {
        b'{"role": "user", "content": "a"}\n{"role": "user", "content": \n': "x:2: not valid JSON",
        b'{"role": "bot", "content": "a"}\n': "x:1: unknown role 'bot'",
        b'{"role": "user", "content": 1}\n': "x:1: 'content' must be a string",
        b'{"role": "user", "content": "a", "pinned": "yes"}\n': "x:1: 'pinned' must be true or false",
        b'\n["user", "a"]\n': "x:2: expected an object",
        b'{"role": "user", "content": "a"}\n{"role": "user", "content": "\xff"}\n': "x:2: not valid UTF-8",
        b'{"role": "user", "content": "\\ud800"}\n': "x:1: 'content' contains an unpaired",
        b'{"role": "assistant", "content": "a", "ids": [1, -2]}\n': "x:1: 'ids' must be a list of token ids",
        b'{"role": "assistant", "content": "a", "ids": "12"}\n': "x:1: 'ids' must be a list of token ids",
    }
    for data, message in cases.items():
        with pytest.raises(UserError, match=message.replace("(", r"\(")):
            parse_jsonl(data, "x")


def test_continuing_a_reply_ends_the_prompt_with_it_and_counts_it(
    tok: SentencePieceTokenizer, instruct: PromptTemplate
) -> None:
    """Base-mode "continue": the conversation before the reply, the footer, then the reply's text as it is."""
    messages = [*conversation(1), Message("user", "続きを書いて"), Message("assistant", "昔々あるところに")]
    plan = plan_context(
        messages, tokenizer=tok, template=instruct, window=2048, reserve=256, continue_reply=True
    )
    before = plan_context(messages[:-1], tokenizer=tok, template=instruct, window=2048, reserve=256)
    check_invariants(plan, tok)
    assert [s.kind for s in plan.segments[-2:]] == ["footer", "reply"]
    reply = plan.segments[-1]
    assert (reply.message_index, reply.role, reply.status) == (len(messages) - 1, "assistant", "kept")
    assert plan.token_ids == before.token_ids + tok.encode("昔々あるところに")
    assert plan.prompt == before.prompt + "昔々あるところに"
    assert plan.total_tokens == before.total_tokens + reply.tokens


def test_a_long_reply_being_continued_is_never_dropped(
    tok: SentencePieceTokenizer, instruct: PromptTemplate
) -> None:
    messages = [*conversation(6), Message("user", "続けて"), Message("assistant", "長い話です。" * 40)]
    plan = plan_context(
        messages, tokenizer=tok, template=instruct, window=400, reserve=64, continue_reply=True
    )
    check_invariants(plan, tok)
    assert plan.ok and plan.segments[-1].kind == "reply" and plan.segments[-1].status == "kept"
    assert any(s.status == "dropped" for s in plan.segments)  # older turns made room for it


def test_nothing_to_continue_is_a_user_error(tok: SentencePieceTokenizer, instruct: PromptTemplate) -> None:
    with pytest.raises(UserError, match="nothing to continue: the last message is not a reply"):
        plan_context(
            conversation(1)[:-1],
            tokenizer=tok,
            template=instruct,
            window=2048,
            reserve=256,
            continue_reply=True,
        )


def test_a_truncated_message_is_named_by_its_number_from_1(
    tok: SentencePieceTokenizer, instruct: PromptTemplate
) -> None:
    messages = [Message("system", "短い。"), Message("user", "とても長い質問です。" * 200)]
    plan = plan_context(messages, tokenizer=tok, template=instruct, window=512, reserve=64)
    assert [s.status for s in plan.segments if s.kind == "message"] == ["truncated"]
    assert any(line.startswith("truncated message 2: cut ") for line in plan.log)
