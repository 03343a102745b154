"""One backend factory for every command: a preset plus the user's engine choices -> a ModelHost.

`chat` keeps the host for the session (both models, a toggle between them); `generate` asks it for one mode's
backend. Both read the same flags the same way (EngineChoice.from_args), so a preset that names a server, a
device, a quantization or a residency means the same thing to each.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from tui.choices import MODES, Mode, Quantization, Residency
from tui.errors import UserError

if TYPE_CHECKING:
    from tui.engine.hosts import ModelHost
    from tui.presets import Preset

NO_QUANTIZATION = "none"
"""`--quantize none`: full precision even where the preset asks for a quantization."""


@dataclass(frozen=True)
class EngineChoice:
    """How to run a preset's models; None everywhere means "as the preset says"."""

    backend: Literal["local", "openai"] | None = None
    """None: openai when a server URL is known (the flag or the preset's remote_base_url), else local."""
    base_url: str | None = None
    server: str | None = None
    """A `stablelm-tui serve`: its models are named after the preset and mode, so the toggle follows them."""
    remote_model: str | None = None
    """The served model's name; None: the preset's, else the only one the server lists."""
    read_timeout_s: float = 120.0
    api_key_env: str | None = None
    """The variable holding the server's API key; None: the preset's `remote_api_key_env`."""
    device: str = "auto"
    quantize: Quantization | Literal["none"] | None = None
    """None: the preset's `quantize`; "none": full precision whatever the preset says."""
    residency: Residency | None = None
    """None: the preset's `residency`."""
    adapters: Mapping[Mode, str] = field(default_factory=dict)
    """LoRA adapters asked for on the command line, per mode (over the preset's `adapter`)."""
    leave_core_for_ui: bool = False
    """On a CPU, torch's threads would take every core and starve a UI thread (bench/bench_tui_stream.py):
    the TUI leaves one core to the app."""

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides: Any) -> EngineChoice:
        """The flags `chat` and `generate` share; a command without one of them gets the default."""
        timeout = getattr(args, "timeout", None)
        if timeout is not None and timeout <= 0:
            raise UserError(f"--timeout must be positive, got {timeout}")
        values: dict[str, Any] = {
            "backend": getattr(args, "backend", None),
            "base_url": getattr(args, "base_url", None),
            "server": getattr(args, "server", None),
            "remote_model": getattr(args, "remote_model", None),
            "read_timeout_s": timeout if timeout is not None else 120.0,
            "api_key_env": getattr(args, "api_key_env", None),
            "device": getattr(args, "device", None) or "auto",
            "quantize": getattr(args, "quantize", None),
            "residency": getattr(args, "residency", None),
            "adapters": adapter_flags(getattr(args, "adapter", None), getattr(args, "mode", "instruct")),
        }
        return cls(**{**values, **overrides})

    def quantization(self, preset: Preset) -> Quantization | None:
        if self.quantize is None:
            return preset.quantize
        return None if self.quantize == NO_QUANTIZATION else cast("Quantization", self.quantize)

    def residency_for(self, preset: Preset) -> Residency:
        return self.residency or preset.residency

    def adapters_for(self, preset: Preset) -> dict[Mode, str]:
        """The adapter each mode loads with: the flag's, else the preset's."""
        chosen = {mode: preset.mode(mode).adapter for mode in MODES}
        chosen.update(self.adapters)
        return {mode: adapter for mode, adapter in chosen.items() if adapter}


def adapter_flags(values: str | Sequence[str] | None, default_mode: str | None) -> dict[Mode, str]:
    """`--adapter DIR` (for `default_mode`) and `--adapter base=DIR` / `--adapter instruct=DIR`, per mode.

    UserError when a mode is named twice, or a bare DIR has no mode to go to (`serve --mode both`).
    """
    if not values:
        return {}
    chosen: dict[Mode, str] = {}
    for value in [values] if isinstance(values, str) else values:
        name, equals, folder = value.partition("=")
        if equals and name in MODES:
            mode = cast("Mode", name)
        elif default_mode in MODES:
            mode, folder = cast("Mode", default_mode), value
        else:
            raise UserError(f"--adapter {value}: say which model it is for: base={value} or instruct={value}")
        if not folder:
            raise UserError(f"--adapter {value}: name the adapter folder after the =")
        if mode in chosen:
            raise UserError(f"--adapter names two adapters for the {mode} model: give one per model")
        chosen[mode] = folder
    return chosen


def open_host(
    preset: Preset, choice: EngineChoice, *, modes: Sequence[Mode] = MODES, tokenizer: Any = None
) -> ModelHost:
    """The host for `preset`'s models. Nothing loads yet (the first use of a mode does), but every fault that
    can be seen now is raised now, before a screen opens: a missing server URL, an unknown device, a
    quantization without a GPU, remote code not confirmed for one of `modes`."""
    from tui.tokenizers import tokenizer_for_preset

    tokenizer = tokenizer if tokenizer is not None else tokenizer_for_preset(preset)
    remote = choice.base_url or choice.server or any(preset.remote_for(mode)[0] for mode in MODES)
    kind = choice.backend or ("openai" if remote else "local")
    if kind == "openai":
        from tui.engine.hosts import RemoteHost
        from tui.engine.remote import backend_for_preset

        if choice.adapters:
            raise UserError("--adapter loads into the local model; a server loads its adapters itself")
        # One backend per mode: one server's two models (`serve --mode both`), two servers, or one model.
        backends = {
            mode: backend_for_preset(
                preset,
                mode,
                tokenizer,
                base_url=choice.base_url,
                server=choice.server,
                model=choice.remote_model,
                read_timeout_s=choice.read_timeout_s,
                api_key_env=choice.api_key_env,
            )
            for mode in modes
        }
        return RemoteHost(backends, next(iter(backends.values())).config.base_url)

    from tui.engine.hosts import PairHost
    from tui.engine.loading import LoadOptions, quantization_library
    from tui.trust import remote_code_allowed

    # One load setting serves both models: every model that carries code must be confirmed (an unconfirmed one
    # raises here), and a model without code is unaffected by the flag.
    trust = any([remote_code_allowed(preset, preset.mode(mode).model) for mode in modes])
    quantization = choice.quantization(preset)
    options = LoadOptions(
        device=choice.device,
        quantization=quantization,
        trust_remote_code=trust,
        cpu_threads=max(1, (os.cpu_count() or 2) - 1) if choice.leave_core_for_ui else None,
    )
    refs: dict[Mode, str] = {mode: preset.mode(mode).model for mode in MODES}
    host = PairHost(
        refs,
        tokenizer,
        options=options,
        residency=choice.residency_for(preset),
        adapters=choice.adapters_for(preset),
    )
    if quantization is not None:
        quantization_library(quantization, host.pair.device)  # no GPU, or no library: said now, not at load
    return host
