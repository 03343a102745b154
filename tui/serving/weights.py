"""The weight files of a serving directory, in the layout our module has (split MLP input), for every engine.

transformers converts the checkpoints' packed MLP input (`packed_input_proj`) into `up_proj` + `gate_proj` while it
loads (tui/models/conversion.py), but vLLM's Transformers backend applies only renames, not splits. So a file that
holds a packed tensor is rewritten once into the serving directory with the two halves as their own tensors;
files without one (and everything else) are symbolic links. `embed_out` keeps its name: renaming is a rename
(both engines apply ours). `.bin` checkpoints are rewritten as safetensors (vLLM and transformers read both,
but one format keeps one index).

A rewritten file is kept while its source file (path, size, mtime) is unchanged: the record is WEIGHTS.json.
Memory: one source file at a time (a 7B shard, a few GB).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tui.errors import UserError
from tui.models.conversion import PACKED_MLP, SPLIT_MLP

RECORD = "WEIGHTS.json"
INDEX = "model.safetensors.index.json"


def _identity(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"source": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def split_packed(tensors: dict[str, Any]) -> dict[str, Any]:
    """The same tensors with every packed MLP input cut into (up, gate) rows, as the original chunks it."""
    out: dict[str, Any] = {}
    for name, tensor in tensors.items():
        if name.endswith(PACKED_MLP):
            prefix = name[: -len(PACKED_MLP)]
            for suffix, half in zip(SPLIT_MLP, tensor.chunk(2, dim=0), strict=True):
                out[prefix + suffix] = half.contiguous()
        else:
            out[name] = tensor
    return out


def _safetensors_keys(path: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return list(handle.keys())


def _read(path: Path) -> dict[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    import torch

    loaded = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    return {name: tensor for name, tensor in loaded.items() if isinstance(tensor, torch.Tensor)}


def _rewrite(source: Path, target: Path) -> list[str]:
    from safetensors.torch import save_file

    tensors = split_packed(_read(source))
    partial = target.with_name(target.name + ".part")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(partial), metadata={"format": "pt"})
    partial.replace(target)
    return list(tensors)


def _weight_files(source: Path) -> list[Path]:
    safetensors = sorted(source.glob("*.safetensors"))
    files = safetensors or sorted(source.glob("*.bin"))
    if not files:
        raise UserError(f"{source}: no weight files (*.safetensors or *.bin) to serve")
    return files


def place_weights(source: Path, target: Path) -> None:
    """Link or rewrite every weight file of `source` into `target`, plus an index when there are several."""
    try:
        record = json.loads((target / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    files = _weight_files(source)
    placed: dict[str, list[str]] = {}
    rewritten: dict[str, Any] = {}
    for path in files:
        name = path.with_suffix(".safetensors").name
        out = target / name
        keys = _safetensors_keys(path) if path.suffix == ".safetensors" else None
        if keys is not None and not any(k.endswith(PACKED_MLP) for k in keys):
            if out.is_symlink() or out.exists():
                out.unlink()
            out.symlink_to(path.resolve())
            placed[name] = keys
            continue
        identity = _identity(path)
        previous = record.get(name)
        if previous and previous["identity"] == identity and out.is_file() and not out.is_symlink():
            placed[name] = previous["keys"]
        else:
            if out.is_symlink():
                out.unlink()
            placed[name] = _rewrite(path, out)
        rewritten[name] = {"identity": identity, "keys": placed[name]}
    for stale in target.glob("*.safetensors"):
        if stale.name not in placed:
            stale.unlink()
    index = target / INDEX
    if len(placed) > 1:
        weight_map = {key: name for name, keys in placed.items() for key in keys}
        index.write_text(
            json.dumps({"metadata": {}, "weight_map": weight_map}, indent=2) + "\n", encoding="utf-8"
        )
    elif index.exists() or index.is_symlink():
        index.unlink()
    (target / RECORD).write_text(json.dumps(rewritten, indent=2) + "\n", encoding="utf-8")
