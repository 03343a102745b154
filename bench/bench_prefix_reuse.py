"""KV-cache prefix reuse over a scripted 40-turn conversation in a 2048-token window, two ways side by side.

Each turn the planner (the chat's own, rolling policy) builds the prompt, the engine generates the reply and
the reply joins the history: once with the reply's sampled ids kept in the plan (what the chat does), once
with the reply's text encoded again (what it did before). Per turn we print the prompt's size, the tokens new
in it (those after the previous reply: the user's message and the cue for the reply, counted from the plan's
segments, so the same measure for both ways), the tokens the engine prefilled, their ratio (goal: 1.00 on
every turn without a trim), whether the prompt starts with exactly the previous prompt + the sampled reply
ids, and TTFT. Then a summary per way, turn-40 TTFT / turn-1 TTFT, and a cold run of the last prompt.

    .venv/bin/python bench/bench_prefix_reuse.py [--mode instruct] [--turns 40] [--reply 48]
"""

from __future__ import annotations

import argparse
import statistics
import threading
from dataclasses import dataclass
from typing import Any

USER_LINES = [
    "今日はいい天気ですね。散歩に行こうと思います。",
    "おすすめの公園はありますか?",
    "お弁当も持っていきたいです。何を作ればいいでしょう。",
    "卵焼きのコツを教えてください。",
    "ところで、最近読んだ本の話をしてもいいですか。",
    "推理小説が好きなんです。",
    "犯人が最後まで分からない話が特に好きです。",
    "あなたのおすすめはありますか?",
]


@dataclass
class Row:
    turn: int
    prompt: int
    new: int
    prefill: int
    reused: int
    exact: bool
    ttft_s: float
    trim: str

    @property
    def ratio(self) -> float:
        return self.prefill / self.new


def new_tokens(plan: Any) -> int:
    """Prompt tokens after the last assistant message's span: the new user message and the reply cue."""
    replies = [s for s in plan.segments if s.role == "assistant" and s.sent]
    return plan.total_tokens - (replies[-1].token_end if replies else 0)


def converse(
    args: argparse.Namespace, keep_ids: bool, backend: Any, tokenizer: Any, template: Any
) -> tuple[list[Row], list[int]]:
    """The conversation one way; returns its rows and the last prompt's ids."""
    from tui.context import Message, Planner
    from tui.engine.events import Finished
    from tui.engine.request import GenerationRequest

    planner = Planner(tokenizer, template, window=args.window, reserve=args.reply)
    backend.reset_cache()
    messages: list[Message] = []
    carried: list[int] = []
    rows: list[Row] = []
    label = "sampled ids kept (exact prefix reuse)" if keep_ids else "text re-encoded (before)"
    print(f"== {label} ==")
    print(
        f"{'turn':>4} {'prompt':>6} {'new':>5} {'prefill':>7} {'reused':>6} {'ratio':>6} {'exact':>5} {'ttft ms':>8}  trim"
    )
    for turn in range(1, args.turns + 1):
        user = USER_LINES[(turn - 1) % len(USER_LINES)]
        anchor = planner.anchor
        plan = planner.plan(messages, draft=user)
        plan.require_ok()
        ids = list(plan.token_ids)
        request = GenerationRequest(
            prompt_ids=ids,
            max_new_tokens=args.reply,
            seed=turn,
            top_p=0.95,
            stop_strings=(),  # the random demo model would hit template stops at random: keep lengths fixed
        )
        finished = next(e for e in backend.stream(request, threading.Event()) if isinstance(e, Finished))
        row = Row(
            turn=turn,
            prompt=len(ids),
            new=new_tokens(plan),
            prefill=finished.stats.prefill_tokens,
            reused=finished.stats.reused_tokens,
            exact=bool(carried) and ids[: len(carried)] == carried,
            ttft_s=finished.stats.ttft_s,
            trim="; ".join(plan.log) if planner.anchor != anchor else "",
        )
        rows.append(row)
        print(
            f"{row.turn:>4} {row.prompt:>6} {row.new:>5} {row.prefill:>7} {row.reused:>6} {row.ratio:>6.2f} "
            f"{'yes' if row.exact else '-':>5} {row.ttft_s * 1000:>8.1f}  {'yes: ' + row.trim if row.trim else ''}"
        )
        reply_ids = tuple(finished.token_ids) if keep_ids else None
        messages += [Message("user", user), Message("assistant", finished.text, ids=reply_ids)]
        carried = ids + list(finished.token_ids)
    return rows, ids


def summarize(label: str, rows: list[Row]) -> None:
    steady = [r for r in rows[1:] if not r.trim]  # turn 1 has no reply before it; a trim changes the prefix
    ratios = [r.ratio for r in steady]
    print(
        f"{label}: {len(steady)} turns after turn 1 without a trim; prefilled ÷ new min {min(ratios):.2f}, "
        f"max {max(ratios):.2f}, 1.00 on {sum(r.prefill == r.new for r in steady)}; prompt extends the previous "
        f"prompt + reply ids exactly on {sum(r.exact for r in steady)}; prefilled {sum(r.prefill for r in steady)} "
        f"tokens for {sum(r.new for r in steady)} new; TTFT median {statistics.median(r.ttft_s for r in steady) * 1000:.1f} ms; "
        f"trims on turns {[r.turn for r in rows if r.trim]}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--mode", default="instruct", choices=("base", "instruct"))
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--reply", type=int, default=48, help="new tokens per reply")
    parser.add_argument("--window", type=int, default=2048)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from tui.engine.events import Finished
    from tui.engine.loading import LoadOptions
    from tui.engine.local import LocalBackend
    from tui.engine.request import GenerationRequest
    from tui.presets import load_settings
    from tui.templates import load_template
    from tui.tokenizers import tokenizer_for_preset

    preset = load_settings().preset(args.preset)
    spec = preset.mode(args.mode)
    tokenizer = tokenizer_for_preset(preset)
    template = load_template(spec.template)
    backend = LocalBackend.load(spec.model, tokenizer, LoadOptions(device=args.device))
    warmup = GenerationRequest(prompt_ids=tokenizer.encode("ウォームアップ"), max_new_tokens=8, seed=0)
    list(backend.stream(warmup, threading.Event()))  # first-call costs (allocator, lazy init) out of turn 1

    exact, last_prompt = converse(args, True, backend, tokenizer, template)
    print()
    before, _ = converse(args, False, backend, tokenizer, template)
    print()
    summarize("sampled ids kept", exact)
    summarize("text re-encoded ", before)
    print(
        f"sampled ids kept: TTFT turn {exact[-1].turn} / turn 1: {exact[-1].ttft_s / exact[0].ttft_s:.2f} "
        f"({exact[-1].ttft_s * 1000:.1f} ms / {exact[0].ttft_s * 1000:.1f} ms)"
    )
    backend.reset_cache()
    cold_request = GenerationRequest(
        prompt_ids=last_prompt, max_new_tokens=args.reply, seed=0, stop_strings=()
    )
    cold = next(e for e in backend.stream(cold_request, threading.Event()) if isinstance(e, Finished))
    print(
        f"turn {exact[-1].turn} prompt cold (no reuse): TTFT {cold.stats.ttft_s * 1000:.1f} ms, "
        f"{cold.stats.prefill_tokens} tokens prefilled; warm/cold = {exact[-1].ttft_s / cold.stats.ttft_s:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
