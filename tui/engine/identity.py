"""Which base model an adapter belongs to: a reference plus fingerprints of the model's files.

A LoRA adapter only makes sense on the weights it was trained on. The ref alone cannot say so (a hub id and a
local copy are the same model; base and instruct share every shape), so the identity also hashes:
- the config (architecture keys only: what `save_pretrained` or a conversion rewrites is left out), which tells
  a different architecture or size;
- the weights index: the index file when there is one, and per weight file its name, its size and 64 KiB read
  from its middle, which tells two checkpoints of the same shape apart (base vs instruct) without reading
  gigabytes. A quantized load reads the same files, so a QLoRA adapter matches the unquantized model.
Only the standard library is used: computing an identity costs a few small reads.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tui.errors import UserError

# Keys that say how a config was written, not what the model is.
VOLATILE_CONFIG_KEYS = frozenset(
    {
        "_name_or_path",
        "name_or_path",
        "transformers_version",
        "torch_dtype",
        "dtype",
        "auto_map",
        "model_type",
        "architectures",
        "use_cache",
        "_from_model_config",
        "quantization_config",
    }
)
SAMPLE_BYTES = 64 * 1024
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class ModelIdentity:
    ref: str
    """The model as the preset names it (hub id, directory, demo:base...)."""
    config_sha256: str
    weights_sha256: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ModelIdentity:
        keys = ("ref", "config_sha256", "weights_sha256")
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in keys):
            raise UserError(f"{where}: the base model identity is malformed (expected {', '.join(keys)})")
        return cls(**{k: data[k] for k in keys})

    def same_model(self, other: ModelIdentity) -> bool:
        return (self.config_sha256, self.weights_sha256) == (other.config_sha256, other.weights_sha256)


def model_directory(ref: str) -> Path:
    """The folder holding `ref`'s config.json: the ref itself, a demo model, or its snapshot in the HF cache."""
    from tui.demo import resolve_model_ref

    path = Path(resolve_model_ref(ref)).expanduser()
    if path.is_dir():
        return path
    from transformers.utils import cached_file

    try:
        config = cached_file(ref, "config.json", local_files_only=True)
    except Exception:  # not cached: the model was never loaded on this machine
        config = None
    if config is None:
        raise UserError(f"model {ref} is not on this machine: load it once, then use its adapters")
    return Path(config).parent


def config_fingerprint(directory: Path) -> str:
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{directory}/config.json: cannot read the model's config ({exc})") from None
    kept = {k: v for k, v in config.items() if k not in VOLATILE_CONFIG_KEYS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode("utf-8")).hexdigest()


def _weight_files(directory: Path) -> list[Path]:
    # transformers prefers safetensors when both formats are present; so does the fingerprint.
    for pattern in ("*.safetensors", "*.bin"):
        files = sorted(p for p in directory.glob(pattern) if p.is_file())
        if files:
            return files
    return []


def weights_fingerprint(directory: Path) -> str:
    digest = hashlib.sha256()
    for name in INDEX_FILES:
        index = directory / name
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
            except (OSError, ValueError, AttributeError) as exc:
                raise UserError(f"{index}: cannot read the weights index ({exc})") from None
            digest.update(json.dumps(weight_map, sort_keys=True).encode("utf-8"))
    files = _weight_files(directory)
    if not files:
        raise UserError(f"{directory}: no weight files (*.safetensors or *.bin) to identify the model by")
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.name}\0{size}\0".encode())
        with path.open("rb") as fh:
            fh.seek(max(0, size // 2 - SAMPLE_BYTES // 2))
            digest.update(fh.read(SAMPLE_BYTES))
    return digest.hexdigest()


def model_identity(ref: str) -> ModelIdentity:
    directory = model_directory(ref)
    return ModelIdentity(
        ref=ref,
        config_sha256=config_fingerprint(directory),
        weights_sha256=weights_fingerprint(directory),
    )
