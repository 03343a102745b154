"""KV-cache prefix reuse over a scripted 40-turn conversation in a 2048-token window.

Each turn the planner (the chat's own, rolling policy) builds the prompt, the engine generates the reply and
the reply joins the history. Per turn we print the tokens prefilled, the tokens that are new since the last
call (prompt tokens past the longest common prefix with last call's prompt + reply ids), their ratio
(goal 1.0 on every turn without a trim), and TTFT; then turn-40 TTFT / turn-1 TTFT, plus a cold run of the
last prompt (cache dropped) for comparison.

    .venv/bin/python bench/bench_prefix_reuse.py [--model demo:instruct] [--turns 40] [--reply 48]
"""

from __future__ import annotations

import argparse
import threading

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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--mode", default="instruct", choices=("base", "instruct"))
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--reply", type=int, default=48, help="new tokens per reply")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from tui.context import Message, Planner
    from tui.engine.events import Finished
    from tui.engine.generation import common_prefix_length
    from tui.engine.loading import LoadOptions
    from tui.engine.local import LocalBackend
    from tui.engine.request import GenerationRequest
    from tui.presets import load_settings
    from tui.templates import load_template
    from tui.tokenizers import tokenizer_for_preset

    preset = load_settings().preset(args.preset)
    spec = preset.mode(args.mode)
    tokenizer = tokenizer_for_preset(preset)
    planner = Planner(
        tokenizer, load_template(spec.template), window=preset.context_window, reserve=args.reply
    )
    backend = LocalBackend.load(spec.model, tokenizer, LoadOptions(device=args.device))

    def run(prompt_ids: list[int], seed: int) -> Finished:
        request = GenerationRequest(
            prompt_ids=prompt_ids,
            max_new_tokens=args.reply,
            seed=seed,
            top_p=0.95,
            stop_strings=(),  # the random demo model would hit template stops at random: keep lengths fixed
        )
        for event in backend.stream(request, threading.Event()):
            if isinstance(event, Finished):
                return event
        raise AssertionError("no Finished event")

    run(tokenizer.encode("ウォームアップ"), 0)  # first-call costs (allocator, lazy init) out of turn 1
    backend.reset_cache()
    messages: list[Message] = []
    previous: list[int] = []
    rows = []
    print(
        f"{'turn':>4} {'prompt':>6} {'new':>5} {'prefill':>7} {'reused':>6} {'ratio':>6} {'ttft ms':>8}  trim"
    )
    for turn in range(1, args.turns + 1):
        user = USER_LINES[(turn - 1) % len(USER_LINES)]
        anchor = planner.anchor
        plan = planner.plan(messages, draft=user)
        plan.require_ok()
        ids = list(plan.token_ids)
        new = len(ids) - common_prefix_length(previous, ids)
        fin = run(ids, seed=turn)
        trimmed = planner.anchor != anchor
        ratio = fin.stats.prefill_tokens / new
        rows.append((turn, ratio, fin.stats.ttft_s, trimmed))
        print(
            f"{turn:>4} {len(ids):>6} {new:>5} {fin.stats.prefill_tokens:>7} {fin.stats.reused_tokens:>6} "
            f"{ratio:>6.2f} {fin.stats.ttft_s * 1000:>8.1f}  {'yes: ' + '; '.join(plan.log) if trimmed else ''}"
        )
        messages += [Message("user", user), Message("assistant", fin.text)]
        previous = ids + list(fin.token_ids)
    last_prompt = ids
    backend.reset_cache()
    cold = run(last_prompt, seed=args.turns)
    untrimmed = [r for r in rows if not r[3]]
    print()
    print(
        f"turns without a trim: {len(untrimmed)} of {len(rows)}; prefilled/new on them: "
        f"min {min(r[1] for r in untrimmed):.2f}, max {max(r[1] for r in untrimmed):.2f}"
    )
    print(f"turns with a trim: {[r[0] for r in rows if r[3]]}")
    print(
        f"TTFT turn {rows[-1][0]} / turn 1: {rows[-1][2] / rows[0][2]:.2f} "
        f"({rows[-1][2] * 1000:.1f} ms / {rows[0][2] * 1000:.1f} ms)"
    )
    print(
        f"turn {rows[-1][0]} prompt cold (no reuse): TTFT {cold.stats.ttft_s * 1000:.1f} ms, "
        f"{cold.stats.prefill_tokens} tokens prefilled; warm/cold = {rows[-1][2] / cold.stats.ttft_s:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
