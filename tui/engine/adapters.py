"""LoRA adapters on a loaded model: load with PEFT, refuse one made for another model, switch in place.

PEFT injects LoRA layers into the model's own modules, so the model object the engine holds stays the same
object (its class, its forward signature, its KV cache handling); PEFT's wrapper is kept beside it only to
choose which adapter is active, or none. Switching never reloads or copies weights, which is what lets the TUI
turn an adapter on and off between two replies. After a switch the backend's KV cache is stale (keys and
values were computed with the other weights): `switch_adapter` drops it.

An adapter directory is what `stablelm-tui train` writes (or any PEFT LoRA directory): adapter_config.json,
adapter_model.safetensors and, from us, a card (CARD_FILE) naming the base model it was trained on. Everything
that is wrong with one is a UserError with one sentence.
"""

from __future__ import annotations

import contextlib
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.engine.identity import ModelIdentity, model_identity
from tui.errors import UserError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
CARD_FILE = "training_card.json"
LORA_SUFFIX = "+lora"
"""A server (`stablelm-tui serve`, local engine or vLLM) serves a mode's adapter beside its model under the model's
name plus this; the model's own name answers without the adapter. The chat's ctrl+l against a server switches
between the two names."""
# Held in the model's __dict__ (not a submodule): the model's state_dict and .to() never see PEFT's wrapper.
_ATTRIBUTE = "_stablelm_tui_adapters"


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    """The adapter's name inside PEFT (unique per model)."""
    path: Path
    base: ModelIdentity | None
    """The base model the card names; None for a PEFT directory without our card."""
    card: dict[str, Any] | None

    @property
    def label(self) -> str:
        """Short text for a status line: `LoRA:<folder>`."""
        return f"LoRA:{self.path.name}"


@dataclass
class AdapterSet:
    """PEFT's wrapper around one model, the adapters loaded into it, and which one (if any) is active."""

    peft_model: Any
    adapters: dict[str, AdapterInfo] = field(default_factory=dict)
    active: str | None = None


def read_adapter_dir(path: str | Path) -> tuple[Path, dict[str, Any], dict[str, Any] | None]:
    """The folder, its adapter_config.json and its card (None if absent); UserError if it is no LoRA adapter."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise UserError(f"adapter {path}: no such directory")
    try:
        config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{folder} is not an adapter directory (no {ADAPTER_CONFIG} in it)") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{folder / ADAPTER_CONFIG}: not readable JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("peft_type") != "LORA":
        raise UserError(f"{folder}: not a LoRA adapter (peft_type {config.get('peft_type')!r})")
    if not (folder / ADAPTER_WEIGHTS).is_file() and not (folder / "adapter_model.bin").is_file():
        raise UserError(f"{folder}: the adapter's weights ({ADAPTER_WEIGHTS}) are missing")
    card = None
    card_file = folder / CARD_FILE
    if card_file.is_file():
        try:
            card = json.loads(card_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{card_file}: not readable JSON ({exc})") from None
        if not isinstance(card, dict):
            raise UserError(f"{card_file}: expected a JSON object")
    return folder, config, card


def check_base(card: dict[str, Any] | None, folder: Path, ref: str) -> ModelIdentity | None:
    """The card's base identity, after checking it is the model `ref` names; UserError when it is not."""
    if card is None:
        return None
    base = ModelIdentity.from_dict(card.get("base"), str(folder / CARD_FILE))
    here = model_identity(ref)
    if not base.same_model(here):
        raise UserError(
            f"adapter {folder} was trained on {base.ref}, a different model from {ref}: "
            "use it with that model, or train one for this model"
        )
    return base


def _check_shapes(model: Any, folder: Path) -> None:
    """Every LoRA matrix must fit a layer of `model`, so PEFT never half-attaches a foreign adapter."""
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        return
    from safetensors import safe_open

    modules = dict(model.named_modules())
    with safe_open(str(weights), framework="pt") as fh:
        for key in fh.keys():  # noqa: SIM118 - safe_open is not a Mapping
            match = re.fullmatch(r"(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.\w+)?\.weight", key)
            if match is None:
                continue
            layer = modules.get(match.group(1))
            shape = fh.get_slice(key).get_shape()
            if layer is None:
                raise UserError(
                    f"adapter {folder} changes a layer this model does not have ({match.group(1)}): "
                    "it was trained for another model"
                )
            base_layer = getattr(layer, "base_layer", layer)
            wanted = getattr(base_layer, "in_features" if match.group(2) == "A" else "out_features", None)
            got = shape[1] if match.group(2) == "A" else shape[0]
            if wanted is not None and got != wanted:
                raise UserError(
                    f"adapter {folder} does not fit {match.group(1)} ({got} vs {wanted} features): "
                    "it was trained for another model"
                )


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """PEFT asks transformers a deprecated question (is_gradient_checkpointing); the warning is not ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def adapters_of(model: Any) -> AdapterSet | None:
    return model.__dict__.get(_ATTRIBUTE)


def _unique_name(folder: Path, taken: dict[str, AdapterInfo]) -> str:
    stem = re.sub(r"\W", "_", folder.name) or "adapter"
    name, n = stem, 2
    while name in taken:
        name, n = f"{stem}_{n}", n + 1
    return name


def attach_adapter(model: Any, path: str | Path, *, ref: str) -> AdapterInfo:
    """Load the adapter at `path` into `model` (loaded from `ref`) and make it the active one.

    The model object stays the same; loading a second adapter keeps the first one available to switch to.
    """
    folder, _config, card = read_adapter_dir(path)
    base = check_base(card, folder, ref)
    _check_shapes(model, folder)
    adapter_set = adapters_of(model)
    name = _unique_name(folder, adapter_set.adapters if adapter_set else {})
    try:
        if adapter_set is None:
            from peft import PeftModel

            with quiet_peft():
                peft_model = PeftModel.from_pretrained(
                    model, str(folder), adapter_name=name, is_trainable=False
                )
            adapter_set = AdapterSet(peft_model)
            model.__dict__[_ATTRIBUTE] = adapter_set
        else:
            adapter_set.peft_model.load_adapter(str(folder), adapter_name=name, is_trainable=False)
    except ImportError:
        raise UserError(
            "adapters need peft: pip install 'stablelm-tui[train]' (or pip install peft)"
        ) from None
    except (ValueError, RuntimeError, KeyError) as exc:
        raise UserError(f"adapter {folder} does not load on {ref}: {str(exc).splitlines()[0]}") from None
    info = AdapterInfo(name=name, path=folder, base=base, card=card)
    adapter_set.adapters[name] = info
    _activate(adapter_set, name)
    model.eval()
    return info


def _activate(adapter_set: AdapterSet, name: str | None) -> None:
    lora = adapter_set.peft_model.base_model
    if name is None:
        lora.disable_adapter_layers()
    else:
        lora.enable_adapter_layers()
        adapter_set.peft_model.set_adapter(name)
    adapter_set.active = name


def set_active_adapter(model: Any, name: str | None) -> AdapterInfo | None:
    """Make adapter `name` active, or none (the base weights alone) for None; returns the active one."""
    adapter_set = adapters_of(model)
    if adapter_set is None:
        if name is None:
            return None
        raise UserError("no adapter is loaded into this model")
    if name is not None and name not in adapter_set.adapters:
        raise UserError(f"no adapter named {name!r} (loaded: {', '.join(adapter_set.adapters)})")
    _activate(adapter_set, name)
    return adapter_set.adapters[name] if name is not None else None


def active_adapter(model: Any) -> AdapterInfo | None:
    adapter_set = adapters_of(model)
    if adapter_set is None or adapter_set.active is None:
        return None
    return adapter_set.adapters[adapter_set.active]


def switch_adapter(backend: Any, name: str | None) -> AdapterInfo | None:
    """Switch a LocalBackend's model to adapter `name` (None: off) and drop its KV cache, between replies."""
    info = set_active_adapter(backend.model, name)
    backend.reset_cache()
    return info


def enable_adapter(backend: Any, on: bool) -> bool:
    """The last adapter loaded on (True) or none (False), in place; False when it already was so (the KV cache
    is then kept)."""
    adapter_set = adapters_of(backend.model)
    if adapter_set is None or not adapter_set.adapters:
        raise UserError("no adapter is loaded into this model")
    wanted = list(adapter_set.adapters)[-1] if on else None
    if adapter_set.active == wanted:
        return False
    switch_adapter(backend, wanted)
    return True


def toggle_adapter(backend: Any) -> AdapterInfo | None:
    """Off if an adapter is active, else the last one loaded back on: what the TUI's key will call."""
    adapter_set = adapters_of(backend.model)
    if adapter_set is None or not adapter_set.adapters:
        raise UserError("no adapter is loaded: start with --adapter DIR or set `adapter` in the preset")
    if adapter_set.active is not None:
        return switch_adapter(backend, None)
    return switch_adapter(backend, list(adapter_set.adapters)[-1])
