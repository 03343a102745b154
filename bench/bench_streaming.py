"""Streaming overhead: our LocalBackend.stream against plain `model.generate`, same model, prompt and seed.

Both runs produce the same token ids (checked), both start from a cold KV cache, and both are timed from the
call to the last token (prefill included), so the ratio is what our loop, detokenizer and stop matching cost.
Runs alternate so drift (thermal, other load) hits both alike; the figure is the median ratio.

    .venv/bin/python bench/bench_streaming.py [--model demo:base] [--tokens 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="demo:base")
    parser.add_argument("--tokenizer", default="demo:base")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    import torch

    from tui.engine.events import Finished
    from tui.engine.loading import LoadOptions
    from tui.engine.local import LocalBackend
    from tui.engine.request import GenerationRequest
    from tui.tokenizers import load_tokenizer

    tokenizer = load_tokenizer(args.tokenizer)
    backend = LocalBackend.load(args.model, tokenizer, LoadOptions(device=args.device))
    model, device = backend.model, backend.device
    prompt = tokenizer.encode("ユーザー: 日本の四季について詳しく説明してください。\nシステム: ")
    request = GenerationRequest(
        prompt_ids=prompt, max_new_tokens=args.tokens, temperature=1.0, top_p=0.95, seed=args.seed
    )

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def ours() -> tuple[float, list[int]]:
        backend.reset_cache()
        sync()
        t0 = time.perf_counter()
        fin = None
        for event in backend.stream(request, threading.Event()):
            if isinstance(event, Finished):
                fin = event
        sync()
        assert fin is not None
        return time.perf_counter() - t0, list(fin.token_ids)

    def plain() -> tuple[float, list[int]]:
        ids = torch.tensor([prompt], device=device)
        torch.manual_seed(args.seed)
        sync()
        t0 = time.perf_counter()
        out = model.generate(
            ids,
            do_sample=True,
            temperature=1.0,
            top_p=0.95,
            top_k=0,
            max_new_tokens=args.tokens,
            min_new_tokens=args.tokens,  # no early eos: both runs make exactly N tokens
            pad_token_id=3,
            eos_token_id=3,
        )
        sync()
        return time.perf_counter() - t0, out[0, len(prompt) :].tolist()

    ours()
    plain()  # warm-up: allocator, kernels, caches
    ratios, ours_tps, plain_tps = [], [], []
    same = True
    for _ in range(args.repeats):
        t_plain, ids_plain = plain()
        t_ours, ids_ours = ours()
        same &= ids_plain == ids_ours
        ours_tps.append(args.tokens / t_ours)
        plain_tps.append(args.tokens / t_plain)
        ratios.append((args.tokens / t_ours) / (args.tokens / t_plain))
    name = Path(args.model).name if "/" in args.model else args.model
    print(
        f"model {name} on {device}, {len(prompt)} prompt tokens, {args.tokens} new tokens, {args.repeats} runs"
    )
    print(f"  plain model.generate : {statistics.median(plain_tps):9.1f} tokens/s (median)")
    print(f"  LocalBackend.stream  : {statistics.median(ours_tps):9.1f} tokens/s (median)")
    print(
        f"  ratio stream/generate: {statistics.median(ratios):.3f} (goal >= 0.95); per run: "
        + " ".join(f"{r:.3f}" for r in ratios)
    )
    print(f"  identical token ids  : {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
