"""Re-planning a novel per keystroke: a 200-entry lorebook, a 100,000-character story, one-character edits near the end.

The novel screen re-plans on every keystroke so the inspector shows the ledger live. The NovelPlanner caches each
chunk's ids (a chunk is a line), each lore entry's ids and each folded text, so an edit re-encodes and re-folds
one line; everything else is lookups, key searches over the scan window and list concatenation. Target: < 10 ms
median. For comparison the same plans are made by a fresh planner each time (no caches).

Run: .venv/bin/python bench/bench_novel_plan.py [--chars 100000] [--entries 200] [--keystrokes 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import random
import statistics
import time

from tui.novel.assemble import NovelPlanner
from tui.novel.ledger import check_invariants
from tui.novel.story import LoreEntry, Story
from tui.tokenizers import load_tokenizer

NAMES = [
    "アリス",
    "ボブ",
    "キャロル",
    "ダニエル",
    "エミリー",
    "フランク",
    "グレース",
    "ハルト",
    "イツキ",
    "ジュン",
    "ケンタ",
    "リナ",
    "ミオ",
    "ナオ",
]
PLACES = ["王都", "森", "湖", "港町", "砦", "塔", "洞窟", "神殿", "市場", "学院", "村", "峠", "砂漠", "雪原"]
SENTENCES = [
    "{a}は{p}へ向かった。",
    "「{b}、待って！」と{a}は叫んだ。",
    "{p}の空は灰色で、風が冷たかった。",
    "{a}と{b}は黙って歩き続けた。",
    "遠くで鐘の音が聞こえる。",
    "『{p}の伝説』という古い本を{b}が開いた。",
    "どうしてこんなことになったのだろう？",
]


def make_story(chars: int, rng: random.Random) -> str:
    lines: list[str] = []
    total = 0
    while total < chars:
        line = "".join(
            rng.choice(SENTENCES).format(a=rng.choice(NAMES), b=rng.choice(NAMES), p=rng.choice(PLACES))
            for _ in range(rng.randint(1, 4))
        )
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)[:chars]


def make_lore(count: int, rng: random.Random) -> tuple[LoreEntry, ...]:
    entries = []
    for i in range(count):
        known = NAMES + PLACES
        word = known[i] if i < len(known) else f"{rng.choice(PLACES)}{i}号"
        keys = (word, f"{word}さん") if i % 3 == 0 else (word,)
        entries.append(
            LoreEntry(
                keys=keys,
                content=f"{word}：" + "物語に登場する重要な存在。" * rng.randint(1, 3),
                regex=i % 10 == 9,
                always=i % 50 == 0,
                priority=rng.randint(0, 5),
                position="before_note" if i % 7 == 0 else "after_memory",
                name=word,
            )
        )
    return tuple(entries)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--keystrokes", type=int, default=300)
    parser.add_argument("--window", type=int, default=2048)
    parser.add_argument("--reserve", type=int, default=128)
    args = parser.parse_args()

    rng = random.Random(14)
    tokenizer = load_tokenizer("demo:base")  # the real nerdstash v1 sentencepiece model
    story = Story(
        text=make_story(args.chars, rng),
        memory="これは剣と魔法の世界を旅する若者たちの物語である。",
        note="[文体：三人称、過去形。緊張感のある場面]",
        lore=make_lore(args.entries, rng),
        fold_kana=True,
    )
    planner = NovelPlanner(tokenizer)
    start = time.perf_counter()
    first = planner.plan(story, window=args.window, reserve=args.reserve)
    cold_ms = (time.perf_counter() - start) * 1000
    check_invariants(first, tokenizer.decode)

    # Typing near the end: insert one character per keystroke 40 characters before the end.
    typed = "そして二人は新しい旅に出ることにした。"
    text = story.text
    at = len(text) - 40
    times: list[float] = []
    cpu: list[float] = []
    plan = first
    for k in range(args.keystrokes):
        text = text[:at] + typed[k % len(typed)] + text[at:]
        at += 1
        edited = dataclasses.replace(story, text=text)
        start, start_cpu = time.perf_counter(), time.process_time()
        plan = planner.plan(edited, window=args.window, reserve=args.reserve)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    check_invariants(plan, tokenizer.decode)

    fresh: list[float] = []
    for _ in range(5):
        start = time.perf_counter()
        NovelPlanner(tokenizer).plan(edited, window=args.window, reserve=args.reserve)
        fresh.append((time.perf_counter() - start) * 1000)

    fired = sum(1 for p in plan.pieces if p.kind == "lore" and p.sent)
    dropped = sum(1 for p in plan.pieces if p.kind == "lore" and p.status == "dropped")
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} Python {platform.python_version()}".strip()
    )
    print(
        f"story: {len(text)} characters, {plan.story_tokens} tokens; lorebook: {args.entries} entries; "
        f"window {args.window}, reserve {args.reserve}"
    )
    print(
        f"plan: {plan.total_tokens} tokens sent, {fired} lore entries in, {dropped} dropped by the budget, "
        f"story cut at character {plan.story_cut}, stable prefix {plan.stable_tokens} tokens"
    )
    print(f"cold first plan (encode everything):     {cold_ms:8.2f} ms")
    print(
        f"one keystroke, NovelPlanner (cached):    median {statistics.median(times):6.3f} ms   "
        f"p90 {percentile(times, 0.9):6.3f} ms   max {max(times):6.3f} ms   (n={len(times)})"
    )
    print(
        f"  the same, CPU time of this process:    median {statistics.median(cpu):6.3f} ms   "
        f"p90 {percentile(cpu, 0.9):6.3f} ms   (other processes on the machine do not count)"
    )
    print(f"one keystroke, fresh planner (no cache): median {statistics.median(fresh):6.3f} ms   (n=5)")
    if hasattr(os, "getloadavg"):
        print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
