"""Re-planning cost of the live token meter: a 200-message conversation, a 2048-token window, one keystroke.

The meter re-plans on every keystroke in the draft. With the Planner's per-piece caches only the draft is
rendered and encoded again; everything else is a dictionary lookup and a list concatenation. Target: < 5 ms
median. Run: .venv/bin/python bench/bench_planner.py [--messages 200] [--keystrokes 300] [--policy rolling]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from tui.context import POLICIES, Message, Planner, plan_context
from tui.templates import load_template
from tui.tokenizers import load_tokenizer

DRAFT = "明日の会議の資料について、いくつか確認したいことがあります。まず、売上の数字は最新のものですか？" * 3


def conversation(count: int) -> list[Message]:
    messages = [Message("system", "あなたは親切で正確なアシスタントです。")]
    for i in range(count - 1):
        if i % 2 == 0:
            messages.append(
                Message("user", f"{i}番目の質問です。東京の天気と、週末の予定について教えてください。")
            )
        else:
            messages.append(
                Message("assistant", f"{i}番目の回答です。" + "晴れの予報です。散歩がおすすめです。" * 3)
            )
    return messages


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--keystrokes", type=int, default=300)
    parser.add_argument("--window", type=int, default=2048)
    parser.add_argument("--reserve", type=int, default=256)
    parser.add_argument("--policy", choices=POLICIES, default="rolling")
    parser.add_argument("--template", default="ja-alpha-instruct")
    args = parser.parse_args()

    tokenizer = load_tokenizer("demo:base")  # the real nerdstash v1 sentencepiece model
    template = load_template(args.template)
    messages = conversation(args.messages)
    planner = Planner(tokenizer, template, window=args.window, reserve=args.reserve, policy=args.policy)

    start = time.perf_counter()
    first = planner.plan(messages, draft="")
    cold_ms = (time.perf_counter() - start) * 1000

    times: list[float] = []
    for k in range(1, args.keystrokes + 1):
        draft = DRAFT[: k % len(DRAFT) + 1]
        start = time.perf_counter()
        plan = planner.plan(messages, draft=draft)
        times.append((time.perf_counter() - start) * 1000)
    assert plan.ok and plan.total_tokens <= plan.budget

    stateless: list[float] = []
    for k in range(1, 21):
        start = time.perf_counter()
        plan_context(
            messages,
            tokenizer=tokenizer,
            template=template,
            window=args.window,
            reserve=args.reserve,
            policy=args.policy,
            draft=DRAFT[:k],
        )
        stateless.append((time.perf_counter() - start) * 1000)

    dropped = sum(1 for s in plan.segments if s.status == "dropped")
    conversation_tokens = sum(s.tokens for s in plan.segments if s.message_index is not None)
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} Python {platform.python_version()}".strip()
    )
    print(
        f"conversation: {len(messages)} messages, {conversation_tokens} tokens; window {args.window}, "
        f"reserve {args.reserve}, policy {args.policy}, template {template.name}"
    )
    print(f"plan: {plan.total_tokens} tokens sent, {dropped} messages dropped, first_kept={first.first_kept}")
    print(f"cold first plan (encode everything):  {cold_ms:8.2f} ms")
    print(
        f"one keystroke, Planner (cached):      median {statistics.median(times):6.3f} ms   "
        f"p90 {percentile(times, 0.9):6.3f} ms   max {max(times):6.3f} ms   (n={len(times)})"
    )
    print(f"one keystroke, plan_context (no cache): median {statistics.median(stateless):6.3f} ms   (n=20)")


if __name__ == "__main__":
    main()
