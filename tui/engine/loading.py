"""Loading a causal LM: dtype, device placement, optional weight-only quantization, progress, clear errors."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tui.choices import Quantization
from tui.engine.errors import EngineError, explain_load_error
from tui.engine.events import LoadProgress
from tui.errors import UserError


@dataclass(frozen=True)
class LoadOptions:
    device: str = "auto"
    """"auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:1"..."""
    dtype: str = "auto"
    """"auto": bf16 on GPUs that support it, else fp16; fp32 on CPU. Or "float16", "bfloat16", "float32"."""
    quantization: Quantization | None = None
    """Weight-only int8/int4: torchao when installed (fast decode kernels), else bitsandbytes (memory only)."""
    trust_remote_code: bool = False
    """Pass True only when the preset allows it AND the user confirmed this code (tui.trust.check_remote_code)."""
    local_files_only: bool = False
    cpu_threads: int | None = None
    """Threads for CPU matrix work (process-wide); None keeps torch's default. The TUI leaves a core to the UI."""
    # -- adapters and training (tui.engine.adapters, tui.train) --
    adapter: str | None = None
    """A LoRA adapter directory to load on top, active; it must have been trained on this model."""
    quantization_config: Any = None
    """An explicit transformers quantization config used instead of the one `quantization` picks (training
    needs bitsandbytes 4-bit, which PEFT trains on); `quantization` must be set too."""


def resolve_device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise EngineError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EngineError(f"device {name} asked for, but no CUDA GPU is available to PyTorch here")
    return device


def resolve_dtype(name: str, device: Any) -> Any:
    import torch

    if name == "auto":
        if device.type != "cuda":
            return torch.float32
        # Without including_emulation=False torch says yes on a T4 (sm_75), where bf16 is emulated and slow.
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    table = {
        "float16": torch.float16,
        "fp16": torch.float16,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
    }
    table |= {"float32": torch.float32, "fp32": torch.float32}
    if name not in table:
        raise EngineError(f"unknown dtype {name!r}: use auto, float16, bfloat16 or float32")
    return table[name]


QUANT_EXTRA = 'pip install "stablelm-tui[quant]"'
"""How to get torchao: the `quant` extra in pyproject.toml."""


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def quantization_library(
    kind: Quantization, device: Any, installed: Callable[[str], bool] = _installed
) -> Literal["torchao", "bitsandbytes"]:
    """Which library quantizes `kind` on `device`, or EngineError naming what to change or install.

    Checked before anything loads (tui.engine.factory), so a missing extra is said before the screen opens.
    """
    if device.type != "cuda":
        raise EngineError(
            f"{kind} quantization needs a CUDA GPU; on {device.type} run the model in full precision "
            "(--quantize none)"
        )
    if installed("torchao"):
        return "torchao"
    if installed("bitsandbytes"):
        return "bitsandbytes"  # saves memory like torchao but decodes slower than fp16: only a fallback
    raise EngineError(f"{kind} quantization needs torchao, which the quant extra installs: {QUANT_EXTRA}")


def quantization_config(
    kind: Quantization, device: Any, installed: Callable[[str], bool] = _installed
) -> Any:
    """A transformers quantization config for weight-only int8/int4, or EngineError naming what to install."""
    if quantization_library(kind, device, installed) == "torchao":
        from transformers import TorchAoConfig

        try:
            from torchao.quantization import Int4WeightOnlyConfig, Int8WeightOnlyConfig
        except ImportError as exc:
            raise EngineError(
                f"the installed torchao is too old for weight-only {kind} ({exc}): {QUANT_EXTRA} --upgrade"
            ) from None
        if kind == "int8":
            return TorchAoConfig(quant_type=Int8WeightOnlyConfig())
        return TorchAoConfig(quant_type=Int4WeightOnlyConfig(group_size=128))
    from transformers import BitsAndBytesConfig

    if kind == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")


def _progress_tqdm(model: str, progress: Callable[[LoadProgress], None]) -> type:
    """A tqdm class that forwards file-download progress to `progress` (transformers accepts `tqdm_class`)."""
    from tqdm.auto import tqdm

    class _Forward(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True  # no terminal output: the UI draws the bar
            super().__init__(*args, **kwargs)
            self._done = 0

        def update(self, n: float | None = 1) -> bool | None:
            self._done += int(n or 0)
            progress(LoadProgress(model, "download", self._done, int(self.total or 0)))
            return None

    return _Forward


def _shard_count(path: Path) -> int:
    if (path / "model.safetensors.index.json").is_file() or (path / "pytorch_model.bin.index.json").is_file():
        return len({p.name for p in path.glob("*.safetensors")} or {p.name for p in path.glob("*.bin")})
    return 1


def _check_local(path: str) -> None:
    """A path (not a hub id) that is missing or is no model directory gets its own sentence."""
    local = Path(path).expanduser()
    looks_like_path = path.startswith(("/", "./", "../", "~")) or local.exists()
    if not looks_like_path:
        return
    if not local.is_dir():
        raise EngineError(f"model directory {path} not found: check the path in the preset")
    if not (local / "config.json").is_file():
        raise EngineError(f"{path} is not a model directory (no config.json in it)")


def load_model(ref: str, options: LoadOptions, progress: Callable[[LoadProgress], None] | None = None) -> Any:
    """Return an eval-mode model on its device; EngineError with one sentence when anything goes wrong."""
    from tui.demo import resolve_model_ref

    path = resolve_model_ref(ref)
    _check_local(path)
    emit = progress or (lambda _event: None)
    try:
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        from tui.hub import hub_reachable, looks_like_hub_id

        # Importing tui.models registers the Japanese StableLM Alpha architecture with the Auto classes.
        from tui.models import load_config as load_ja_alpha_config

        hf_logging.disable_progress_bar()
        device = resolve_device(options.device)
        if device.type == "cpu" and options.cpu_threads:
            import torch

            torch.set_num_threads(options.cpu_threads)
        dtype = resolve_dtype(options.dtype, device)
        kwargs: dict[str, Any] = {
            "dtype": dtype,
            "trust_remote_code": options.trust_remote_code,
            # Without a reachable hub, go straight to the local cache instead of a minute of retries.
            "local_files_only": options.local_files_only or (looks_like_hub_id(path) and not hub_reachable()),
        }
        if progress is not None:
            kwargs["tqdm_class"] = _progress_tqdm(ref, progress)
        if options.quantization is not None:
            kwargs["quantization_config"] = options.quantization_config or quantization_config(
                options.quantization, device
            )
        accelerate = importlib.util.find_spec("accelerate") is not None
        if device.type == "cuda" and accelerate:
            # "auto" spreads a model over several GPUs (and CPU) when one is not enough.
            kwargs["device_map"] = "auto" if options.device == "auto" else {"": device}
        local = Path(path)
        shards = _shard_count(local) if local.is_dir() else 1
        emit(LoadProgress(ref, "load", 0, shards))
        # Japanese StableLM Alpha's config names no model_type, only remote code: hand transformers our own
        # config so it builds our native class instead of asking to run the repository's code.
        ja_alpha_config = load_ja_alpha_config(path, local_files_only=kwargs["local_files_only"])
        if ja_alpha_config is not None:
            kwargs["config"] = ja_alpha_config
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        emit(LoadProgress(ref, "load", shards, shards))
        if "device_map" not in kwargs and options.quantization is None:
            emit(LoadProgress(ref, "move", 0, 1))
            model.to(device)
            emit(LoadProgress(ref, "move", 1, 1))
        model.eval()
        if options.adapter is not None:
            from tui.engine.adapters import attach_adapter

            attach_adapter(model, options.adapter, ref=ref)
        emit(LoadProgress(ref, "ready", 1, 1))
        return model
    except (EngineError, UserError):
        raise
    except Exception as exc:
        if is_cuda_oom(exc):
            _free_cuda()
        raise EngineError(explain_load_error(exc, ref)) from exc


def is_cuda_oom(exc: BaseException) -> bool:
    from tui.engine.errors import is_out_of_memory

    return is_out_of_memory(exc)


def _free_cuda() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
