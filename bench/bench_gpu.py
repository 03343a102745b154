"""GPU benchmark for the engine on a random-init model with the Japanese StableLM Alpha 7B shape (fp16).

Reports, each measured in this one run:
  - decode tokens/s of LocalBackend.stream against the memory-bandwidth bound (weight bytes / bandwidth),
    beside plain model.generate on the same model (the streaming ratio);
  - TTFT for a 2048-token prompt (cold cache) and for one new turn on top of it (warm cache);
  - base <-> instruct toggle time with both resident, and with the idle model swapped to pinned host memory;
  - int8 weight-only decode (torchao) when torchao is installed.
Random weights decode as fast as trained ones: speed depends on shapes and dtypes, not on values.

    bench/gpu.sh            # the whole thing on the GPU (< 8 minutes)
    bench/gpu.sh --tiny     # a few-MB model on CPU in seconds: checks the script itself
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import Any

# Peak DRAM bandwidth (GB/s) by GPU name, from the vendors' data sheets; the measured copy bandwidth is shown too.
PEAK_BANDWIDTH_GBS = {
    "H200": 4800,
    "H100 SXM": 3350,
    "H100 80GB HBM3": 3350,
    "H100 PCIe": 2000,
    "H100": 3350,
    "A100-SXM4-80GB": 2039,
    "A100 80GB PCIe": 1935,
    "A100-SXM4-40GB": 1555,
    "A100": 1555,
    "L40S": 864,
    "A10G": 600,
    "L4": 300,
    "T4": 320,
}

JA_ALPHA_7B: dict[str, Any] = {
    "vocab_size": 65536,
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "intermediate_size": 11008,
    "max_position_embeddings": 2048,
}
TINY: dict[str, Any] = {
    "vocab_size": 65536,
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    "max_position_embeddings": 2048,
}


def build_model(shape: dict[str, Any], dtype: Any, device: Any, seed: int) -> tuple[Any, str]:
    """A random-init causal LM of `shape`: our Japanese StableLM Alpha class when tui.models has it, else StableLM."""
    import torch

    torch.manual_seed(seed)
    model = None
    arch = ""
    try:
        from transformers import AutoConfig, AutoModelForCausalLM

        from tui.models import MODEL_TYPE

        # The Alpha architecture derives its MLP width from hidden_size (11008 at 4096).
        alpha_shape = {k: v for k, v in shape.items() if k != "intermediate_size"}
        config = AutoConfig.for_model(MODEL_TYPE, **alpha_shape)
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        arch = type(model).__name__
    except ImportError:
        pass
    if model is None:
        from transformers import StableLmConfig, StableLmForCausalLM

        config = StableLmConfig(
            **shape,
            num_key_value_heads=shape["num_attention_heads"],
            use_parallel_residual=True,
            tie_word_embeddings=False,
            eos_token_id=3,
            pad_token_id=3,
        )
        torch.set_default_dtype(dtype)
        try:
            with torch.device(device):
                model = StableLmForCausalLM(config)
        finally:
            torch.set_default_dtype(torch.float32)
        arch = "StableLmForCausalLM (stand-in: tui.models has no Alpha class yet)"
    model.eval()
    return model, arch


def weight_bytes(model: Any) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def measured_copy_bandwidth(device: Any) -> float | None:
    """GB/s of a large device-to-device copy (reads + writes), a practical ceiling for decode."""
    import torch

    if device.type != "cuda":
        return None
    buf = torch.empty(1 << 30, dtype=torch.uint8, device=device)
    out = torch.empty_like(buf)
    out.copy_(buf)
    torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(10):
        out.copy_(buf)
    torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    del buf, out
    return 2 * 10 * (1 << 30) / seconds / 1e9


def peak_bandwidth(device: Any) -> tuple[str, float | None]:
    import torch

    if device.type != "cuda":
        return "cpu", None
    name = torch.cuda.get_device_name(device)
    for key, gbs in PEAK_BANDWIDTH_GBS.items():
        if key in name:
            return name, float(gbs)
    return name, None


class Ids:
    """The engine only needs decode() from a tokenizer; this benchmark never looks at the text."""

    def decode(self, ids: Any) -> str:
        return "".join(chr(0x4E00 + (int(i) % 20000)) for i in ids)


def stream_once(backend: Any, prompt: list[int], new: int) -> Any:
    from tui.engine.events import Finished
    from tui.engine.request import GenerationRequest

    request = GenerationRequest(prompt_ids=prompt, max_new_tokens=new, do_sample=False)
    for event in backend.stream(request, threading.Event()):
        if isinstance(event, Finished):
            return event
    raise AssertionError("no Finished")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tiny", action="store_true", help="tiny fp32 model on CPU: check the script, not the GPU"
    )
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from tui.engine.local import LocalBackend
    from tui.engine.residency import ModelPair

    started = time.perf_counter()
    if args.tiny:
        device, dtype, shape = torch.device("cpu"), torch.float32, TINY
    else:
        if not torch.cuda.is_available():
            raise SystemExit(
                "bench_gpu: no CUDA GPU visible to PyTorch (use --tiny to check the script on CPU)"
            )
        device, dtype, shape = torch.device("cuda"), torch.float16, JA_ALPHA_7B
    gpu, peak = peak_bandwidth(device)
    copy_bw = measured_copy_bandwidth(device)
    models = {}
    for mode, seed in (("base", 1), ("instruct", 2)):
        t0 = time.perf_counter()
        models[mode], arch = build_model(shape, dtype, device, seed)
        print(
            f"built {mode}: {arch}, {weight_bytes(models[mode]) / 1e9:.2f} GB in {time.perf_counter() - t0:.1f} s"
        )
    size = weight_bytes(models["base"])
    tokenizer = Ids()
    backend = LocalBackend(models["base"], tokenizer, name="ja-alpha-7b-shape")
    gen = torch.Generator().manual_seed(0)
    prompt = torch.randint(10, shape["vocab_size"], (32,), generator=gen).tolist()

    # Decode speed: ours vs plain generate, greedy, same prompt.
    stream_once(backend, prompt, 8)
    ours, plain = [], []
    for _ in range(args.repeats):
        backend.reset_cache()
        fin = stream_once(backend, prompt, args.new_tokens)
        ours.append(fin.stats.tokens_per_s)
        ids = torch.tensor([prompt], device=device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        models["base"].generate(
            ids,
            max_new_tokens=args.new_tokens,
            min_new_tokens=args.new_tokens,
            do_sample=False,
            pad_token_id=3,
            eos_token_id=3,
        )
        if device.type == "cuda":
            torch.cuda.synchronize()
        plain.append((args.new_tokens - 1) / max(time.perf_counter() - t0 - fin.stats.ttft_s, 1e-9))
    tps = statistics.median(ours)
    print(f"\ndevice: {gpu}; weights {size / 1e9:.2f} GB ({dtype})")
    if copy_bw:
        print(f"measured copy bandwidth: {copy_bw:.0f} GB/s")
    if peak:
        bound = peak * 1e9 / size
        print(
            f"decode: {tps:.1f} tokens/s; bandwidth bound {bound:.1f} tokens/s (peak {peak:.0f} GB/s) "
            f"-> {tps / bound:.0%} of the bound"
        )
    else:
        print(f"decode: {tps:.1f} tokens/s (no bandwidth figure for this device)")
    print(
        f"plain model.generate decode: {statistics.median(plain):.1f} tokens/s; "
        f"stream/generate = {tps / statistics.median(plain):.3f} (generate time minus our TTFT)"
    )

    # TTFT at 2048 tokens: cold, then one more turn on top (warm cache).
    window = shape["max_position_embeddings"]
    long_prompt = torch.randint(10, shape["vocab_size"], (window - 1,), generator=gen).tolist()
    colds = []
    for _ in range(args.repeats):
        backend.reset_cache()
        colds.append(stream_once(backend, long_prompt, 1).stats.ttft_s)
    backend.reset_cache()
    stream_once(backend, long_prompt[:-40], 1)
    warm = stream_once(backend, long_prompt, 1).stats
    print(
        f"TTFT {len(long_prompt)}-token prompt: cold {statistics.median(colds) * 1000:.1f} ms; "
        f"warm (last {warm.prefill_tokens} tokens new) {warm.ttft_s * 1000:.1f} ms; "
        f"peak memory {warm.peak_memory_bytes / 1e9:.2f} GB"
    )

    # Toggle base <-> instruct.
    backends = {m: LocalBackend(models[m], tokenizer, name=m) for m in models}
    for residency in ("both", "swap"):
        pair = ModelPair(
            {"base": "base", "instruct": "instruct"},
            tokenizer,
            residency=residency,
            loader=lambda ref, *_: backends[ref],
        )
        pair.toggle("base")
        pair.toggle("instruct")
        times = []
        for mode in ("base", "instruct", "base", "instruct"):
            report = pair.toggle(mode)  # type: ignore[arg-type]
            stream_once(pair.backend(), prompt, 2)  # the toggled model really answers
            times.append(report.seconds)
        print(
            f"toggle with residency {residency}: median {statistics.median(times) * 1000:.1f} ms "
            f"({report.action}; {', '.join(f'{t * 1000:.1f}' for t in times)} ms)"
        )
        for b in backends.values():
            b.model.to(device)

    # int8 weight-only (torchao) on the instruct model, if available.
    try:
        from torchao.quantization import Int8WeightOnlyConfig, quantize_
    except ImportError:
        print("int8 weight-only: torchao not installed, skipped")
    else:
        if device.type == "cuda":
            quantize_(models["instruct"], Int8WeightOnlyConfig())
            q = LocalBackend(models["instruct"], tokenizer, name="int8")
            stream_once(q, prompt, 8)
            q_tps = statistics.median(
                stream_once(q, prompt, args.new_tokens).stats.tokens_per_s for _ in range(args.repeats)
            )
            print(f"int8 weight-only (torchao, eager): {q_tps:.1f} tokens/s vs fp16 {tps:.1f}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
