"""vLLM decode speed for the Japanese StableLM Alpha 7B shape, through `stablelm-tui serve --engine vllm`.

A random-init checkpoint in the original layout (fp16, about 14 GB; random weights decode as fast as trained
ones) is served by vLLM exactly as a user serves a preset: our serving directory, our plugin, our launcher.
One request at a time (a chat's load): decode tokens/s from the stream's chunk times against the
memory-bandwidth bound (weight bytes / peak bandwidth); bench_gpu.py's figure for the local engine on the
same shape is printed just before this one by bench/gpu.sh.

    .venv-vllm/bin/python bench/bench_vllm.py           # on a CUDA machine, vLLM installed (bench/gpu.sh)
    .venv-vllm/bin/python bench/bench_vllm.py --tiny    # a tiny model on vLLM's CPU build: checks the script
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_gpu import PEAK_BANDWIDTH_GBS

ALPHA_7B = {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32}
TINY = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}


def build_checkpoint(root: Path, sizes: dict[str, int], dtype_name: str) -> Path:
    import torch

    from tui.demo import ensure_demo_models
    from tui.models import MODEL_TYPE, build_tiny_checkpoint

    out = root / "alpha-7b-shape"
    build_tiny_checkpoint(out, seed=0, dtype=getattr(torch, dtype_name), **sizes)
    config = json.loads((out / "config.json").read_text())
    config["model_type"] = MODEL_TYPE
    (out / "config.json").write_text(json.dumps(config, indent=2))
    shutil.copyfile(ensure_demo_models().base / "tokenizer.model", out / "tokenizer.model")
    return out


def write_preset(config_dir: Path, model_dir: Path) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text(
        f'[presets.bench]\nextends = "demo"\n[presets.bench.base]\nmodel = {json.dumps(str(model_dir))}\n'
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"stablelm-tui serve exited with status {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"vLLM was not ready within {timeout:g} s")


def timed_stream(url: str, prompt: list[int], new_tokens: int) -> tuple[float, float, int]:
    """(time to first token, decode tokens/s after it, tokens) for one greedy streamed completion."""
    import httpx

    body = {
        "model": "bench-base",
        "prompt": prompt,
        "max_tokens": new_tokens,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    began = time.perf_counter()
    first = last = 0.0
    tokens = 0
    with httpx.stream("POST", f"{url}/v1/completions", json=body, timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if event.get("usage"):
                tokens = int(event["usage"]["completion_tokens"])
            if event.get("choices") and event["choices"][0].get("text"):
                last = time.perf_counter()
                first = first or last
    ttft = first - began
    return ttft, (tokens - 1) / (last - first) if last > first else 0.0, tokens


def gpu_bound(weight_bytes: int) -> tuple[str, float | None]:
    import torch

    if not torch.cuda.is_available():
        return "cpu", None
    name = torch.cuda.get_device_name(0)
    peak = next((gbs for key, gbs in PEAK_BANDWIDTH_GBS.items() if key in name), None)
    return name, (peak * 1e9 / weight_bytes if peak else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny model on CPU: check the script")
    parser.add_argument("--tokens", type=int, default=256, help="new tokens per request (default 256)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
    args = parser.parse_args()
    sizes, dtype = (TINY, "float32") if args.tiny else (ALPHA_7B, "float16")
    serve = Path(sys.executable).with_name("stablelm-tui")
    root = Path(tempfile.mkdtemp(prefix="bench-vllm-"))
    try:
        began = time.perf_counter()
        model_dir = build_checkpoint(root, sizes, dtype)
        weight_bytes = sum(f.stat().st_size for f in model_dir.glob("*.safetensors"))
        print(f"checkpoint: {weight_bytes / 1e9:.2f} GB {dtype} in {time.perf_counter() - began:.0f} s")
        env = dict(os.environ, STABLELM_TUI_CONFIG_DIR=str(root / "config"))
        env["STABLELM_TUI_DATA_DIR"] = str(root / "data")
        write_preset(root / "config", model_dir)
        port = free_port()
        command = [str(serve), "serve", "--engine", "vllm", "--preset", "bench", "--mode", "base"]
        command += [
            "--port",
            str(port),
            "--dtype",
            dtype,
            "--tensor-parallel-size",
            str(args.tensor_parallel_size),
        ]
        began = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(proc, url, 1200)
            print(
                f"vLLM up in {time.perf_counter() - began:.0f} s (tensor parallel {args.tensor_parallel_size})"
            )
            prompt = list(range(1000, 1128))
            timed_stream(url, prompt, 8)  # warm-up
            results: list[Any] = [timed_stream(url, prompt, args.tokens) for _ in range(args.runs)]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(180)
        rate = statistics.median(r[1] for r in results)
        ttft = statistics.median(r[0] for r in results)
        device, bound = gpu_bound(weight_bytes)
        print(f"vLLM decode ({device}, 128-token prompt, {args.tokens} new, median of {args.runs}):")
        print(f"  {rate:.1f} tokens/s, TTFT {ttft * 1000:.0f} ms")
        if bound:
            print(f"  bandwidth bound {bound:.1f} tokens/s: {rate / bound:.0%} of it")
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
