"""Training benchmark: LoRA tokens/s and peak GPU memory for the Japanese StableLM Alpha 7B shape at 2048 tokens.

Runs the real training code (tui.train: load_base with bitsandbytes NF4, add_lora on LORA_TARGETS, gradient
checkpointing, the Trainer's steps) on a random-weight checkpoint of the 7B shape written to a temporary folder,
with random token ids as data (speed depends on shapes, not on values). Configurations:
  - qlora-int4: 4-bit base, what a T4 16 GB or an L4 24 GB uses (`train --quantize int4`);
  - lora-16bit: the base in bf16/fp16 (about 17 GB by estimate, docs/training.md), tried on GPUs of 22 GB or
    more; an out-of-memory is reported as such.
Every figure is measured in this run; nothing is extrapolated.

    bench/gpu.sh              # engine then training figures on the GPU
    python bench/bench_train.py --tiny   # a tiny model on CPU in under a minute: checks the script itself
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

SEQUENCE_TOKENS = 2048
LORA_16BIT_MIN_GPU_GB = 22


def write_checkpoint(folder: Path, tiny: bool, device: Any) -> Path:
    """A random checkpoint in the original Hub layout: tiny via tui.models, 7B drawn on the GPU in shards."""
    import torch
    from safetensors.torch import save_file

    from tui.models import build_tiny_checkpoint
    from tui.models.checkpoint import SEVEN_B_SIZES, original_config

    if tiny:
        return build_tiny_checkpoint(folder, seed=1)
    config = original_config(dtype="float16", **SEVEN_B_SIZES)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    # The shapes of random_state_dict, but drawn in fp16 on the GPU: the fp32 CPU path would take minutes.
    generator = torch.Generator(device=device).manual_seed(1)
    hidden, vocab = SEVEN_B_SIZES["hidden_size"], SEVEN_B_SIZES["vocab_size"]
    from tui.models.ja_alpha import mlp_width

    width = mlp_width(hidden)
    shapes: dict[str, tuple[int, ...]] = {"transformer.embed_in.weight": (vocab, hidden)}
    for i in range(SEVEN_B_SIZES["num_hidden_layers"]):
        p = f"transformer.layers.{i}."
        shapes |= {
            p + "post_attention_layernorm.weight": (hidden,),
            p + "post_attention_layernorm.bias": (hidden,),
            p + "attention.query_key_value.weight": (3 * hidden, hidden),
            p + "attention.dense.weight": (hidden, hidden),
            p + "mlp.packed_input_proj.weight": (2 * width, hidden),
            p + "mlp.out_proj.weight": (hidden, width),
        }
    shapes |= {
        "transformer.final_layer_norm.weight": (hidden,),
        "transformer.final_layer_norm.bias": (hidden,),
        "embed_out.weight": (vocab, hidden),
    }
    weight_map: dict[str, str] = {}
    shard: dict[str, Any] = {}
    shard_bytes, index = 0, 0

    def flush() -> None:
        nonlocal shard, shard_bytes, index
        name = f"model-{index:05d}.safetensors"
        save_file(shard, str(folder / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, name))
        shard, shard_bytes, index = {}, 0, index + 1

    for name, shape in shapes.items():
        fan_in = shape[-1] if len(shape) == 2 else 1
        scale = 1.0 if name.endswith("embed_in.weight") else fan_in**-0.5 if len(shape) == 2 else 0.1
        tensor = torch.randn(shape, generator=generator, device=device, dtype=torch.float16) * scale
        if len(shape) == 1 and name.endswith("weight"):
            tensor += 1.0
        shard[name] = tensor.cpu()
        shard_bytes += tensor.numel() * 2
        if shard_bytes > 2 << 30:
            flush()
    if shard:
        flush()
    index_doc = {
        "metadata": {"total_size": sum(2 * _numel(s) for s in shapes.values())},
        "weight_map": weight_map,
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index_doc), encoding="utf-8")
    return folder


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def run_config(
    checkpoint: Path, work: Path, *, quantize: str | None, steps: int, tokens: int, device: str
) -> dict[str, Any]:
    import torch

    from tui.presets import load_settings
    from tui.train.checkpoints import WorkDir
    from tui.train.loop import Trainer
    from tui.train.model import add_lora, enable_gradient_checkpointing, load_base
    from tui.train.plan import TrainOptions, TrainPlan
    from tui.train.progress import StepDone
    from tui.train.sequences import TrainSequence

    cuda = device != "cpu"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    model = load_base(str(checkpoint), device=device, quantize=quantize, trust_remote_code=False)
    load_s = time.perf_counter() - started
    dtype = model.get_input_embeddings().weight.dtype  # before PEFT's 4-bit preparation upcasts it
    enable_gradient_checkpointing(model)
    peft_model = add_lora(model, rank=16, alpha=32, dropout=0.05, quantized=quantize is not None)
    gen = torch.Generator().manual_seed(0)

    def sequence() -> TrainSequence:
        ids = tuple(torch.randint(10, 65536, (tokens,), generator=gen).tolist())
        return TrainSequence(ids, (True,) * tokens, ("random",))

    out = work / f"adapter-{quantize or '16bit'}"
    options = TrainOptions(data=("random",), out=out, steps=steps, max_tokens=tokens, quantize=None)
    plan = TrainPlan(
        options=options,
        preset=load_settings().preset("ja-alpha"),
        model_ref=str(checkpoint),
        template_name="none",
        template_identity="none",
        tokenizer_identity="none",
        eos_id=3,
        files=[],
        train=[sequence() for _ in range(4)],
        heldout=[sequence()],
        total_steps=steps,
        eval_every=steps,
        save_every=steps,
    )
    work_dir = WorkDir(out)
    work_dir.start(plan.manifest(), resume=False)
    times: list[float] = []
    last = [time.perf_counter()]

    def on_event(event: Any) -> None:
        if isinstance(event, StepDone):
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now

    trainer = Trainer(plan, peft_model, work_dir, on_event, fp16=dtype == torch.float16)
    trainer.evaluate()  # before timing: the step 0 evaluation the real run makes
    last[0] = time.perf_counter()
    trainer.run()
    # The last step also evaluates and saves; the first warms kernels up: time the ones between.
    steady = times[1:-1] or times
    per_step = statistics.median(steady)
    result = {
        "config": f"qlora-{quantize}" if quantize else "lora-16bit",
        "load_s": round(load_s, 1),
        "tokens_per_step": tokens,
        "step_s": round(per_step, 3),
        "tokens_per_s": round(tokens / per_step, 1),
        "peak_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda else None,
    }
    del trainer, peft_model, model
    if cuda:
        torch.cuda.empty_cache()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tiny", action="store_true", help="tiny fp32 model on CPU: check the script, not the GPU"
    )
    parser.add_argument("--steps", type=int, default=8, help="steps per configuration (8; 4 with --tiny)")
    args, _engine_options = parser.parse_known_args()  # gpu.sh passes the engine benchmark's options too

    import torch

    from tui.errors import UserError

    started = time.perf_counter()
    if args.tiny:
        device, tokens, steps = "cpu", 128, min(args.steps, 4)
        configs: list[str | None] = [None]
        gpu = "cpu"
    else:
        if not torch.cuda.is_available():
            raise SystemExit(
                "bench_train: no CUDA GPU visible to PyTorch (use --tiny to check the script on CPU)"
            )
        device, tokens, steps = "cuda", SEQUENCE_TOKENS, args.steps
        gpu = torch.cuda.get_device_name(0)
        total_gb = torch.cuda.get_device_properties(0).total_memory / 1e9
        configs = ["int4"] + ([None] if total_gb >= LORA_16BIT_MIN_GPU_GB else [])
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        checkpoint = write_checkpoint(folder / "model", args.tiny, device)
        print(
            f"random {'tiny' if args.tiny else '7B-shape'} checkpoint written in {time.perf_counter() - t0:.0f} s"
        )
        print(f"device: {gpu}; {tokens} tokens per step, LoRA rank 16 on the attention and MLP projections")
        for quantize in configs:
            try:
                result = run_config(
                    checkpoint, folder, quantize=quantize, steps=steps, tokens=tokens, device=device
                )
            except UserError as exc:  # out of memory is a result too
                print(f"{'qlora-' + quantize if quantize else 'lora-16bit'}: {exc}")
                continue
            peak = f"{result['peak_gb']} GB peak" if result["peak_gb"] is not None else "peak n/a on CPU"
            print(
                f"{result['config']}: {result['tokens_per_s']:,} tokens/s ({result['step_s']} s per step), "
                f"{peak}, base loaded in {result['load_s']} s"
            )
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
