"""The directory an external engine (vLLM, `transformers serve`) is pointed at for one model of a preset.

Such engines read a plain transformers model directory: config.json naming a `model_type` and `architectures`,
the weights, and a tokenizer.json. The Alpha checkpoints have no model_type, an `auto_map` to remote code we never
run, and only a sentencepiece tokenizer.model; so we build a directory beside them:

- config.json: the checkpoint's, with our model_type and architecture and without the `auto_map`;
- the weights in our module's layout (tui/serving/weights.py): files that need no change and
  generation_config.json are symbolic links (a 7B checkpoint is 14 GB); files holding the packed MLP input are
  rewritten once with it split, because vLLM cannot split a tensor while loading;
- tokenizer.json + tokenizer_config.json: converted from the preset's sentencepiece model so that they tokenize
  exactly like it (tui/serving/spm_json.py), or copied when the preset's tokenizer already is a tokenizer.json.

The directory lives in the cache (`serving/<preset>-<mode>`), is refreshed on every call (cheap: links and two
small files) and keeps the converted tokenizer while the sentencepiece file's hash is unchanged.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.errors import UserError
from tui.paths import cache_dir
from tui.serving.weights import place_weights

if TYPE_CHECKING:
    from tui.presets import Mode, Preset

CONFIG = "config.json"
TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
STAMP = "SERVING.json"
# Bump when what this module writes changes, so old directories get a new tokenizer.json.
LAYOUT_VERSION = 2
LINKED_NAMES = ("generation_config.json",)
# A hub download fetches only what serving reads: safetensors when the repository has them, else the .bin shards;
# never the remote-code .py files.
HUB_FILES = ["config.json", "generation_config.json"]
HUB_WEIGHTS = (["*.safetensors", "*.safetensors.index.json"], ["*.bin", "*.bin.index.json"])


def serving_root() -> Path:
    return cache_dir() / "serving"


def _source_dir(ref: str) -> Path:
    """A local directory holding the model of `ref` (a directory, `demo:...`, or a hub id fetched to the cache)."""
    from tui.demo import resolve_model_ref
    from tui.hub import hub_reachable, looks_like_hub_id

    resolved = resolve_model_ref(ref)
    path = Path(resolved).expanduser()
    if path.is_dir():
        return path
    if not looks_like_hub_id(resolved):
        raise UserError(f"model {ref!r}: no such directory")
    from huggingface_hub import snapshot_download

    from tui.engine.errors import explain_load_error

    try:
        for weights in HUB_WEIGHTS:
            snapshot = Path(
                snapshot_download(
                    resolved, allow_patterns=HUB_FILES + weights, local_files_only=not hub_reachable()
                )
            )
            if any(snapshot.glob(weights[0])):
                return snapshot
        return snapshot
    except Exception as exc:  # hub errors of every kind get their one sentence there
        raise UserError(explain_load_error(exc, resolved)) from None


def serving_config(source: Path) -> dict[str, Any]:
    """The source config.json made loadable by name: our model_type and architecture, no remote-code auto_map."""
    from tui.models.hub_config import is_ja_alpha
    from tui.models.ja_alpha import ARCHITECTURE, MODEL_TYPE

    try:
        config = json.loads((source / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{source / CONFIG}: cannot read the model's config ({exc})") from None
    if is_ja_alpha(config):
        config["model_type"] = MODEL_TYPE
        config["architectures"] = [ARCHITECTURE]
        config.pop("auto_map", None)
    elif "model_type" not in config or config.pop("auto_map", None) is not None:
        raise UserError(
            f"{source}: the model needs its repository's own code (auto_map), which stablelm-tui never runs"
        )
    return dict(config)


def _write_text(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _link_files(source: Path, target: Path) -> None:
    for name in LINKED_NAMES:
        link = target / name
        if link.is_symlink():
            link.unlink()
        if (source / name).is_file():
            link.symlink_to((source / name).resolve())


def _write_tokenizer(preset: Preset, target: Path) -> None:
    from tui.serving.spm_json import spm_to_tokenizer_json, tokenizer_config
    from tui.tokenizers import HFJsonTokenizer, SentencePieceTokenizer, tokenizer_for_preset

    tokenizer = tokenizer_for_preset(preset)
    stamp_file = target / STAMP
    wanted = {"layout": LAYOUT_VERSION, "tokenizer": tokenizer.identity}
    try:
        current = json.loads(stamp_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = None
    if current == wanted and (target / TOKENIZER_JSON).is_file() and (target / TOKENIZER_CONFIG).is_file():
        return
    if isinstance(tokenizer, SentencePieceTokenizer):
        _write_text(target / TOKENIZER_JSON, spm_to_tokenizer_json(tokenizer.path))
        config = tokenizer_config(tokenizer.path)
    elif isinstance(tokenizer, HFJsonTokenizer):
        shutil.copyfile(tokenizer.path, target / TOKENIZER_JSON)
        beside = tokenizer.path.with_name(TOKENIZER_CONFIG)
        config = json.loads(beside.read_text(encoding="utf-8")) if beside.is_file() else {}
    else:  # pragma: no cover - tui.tokenizers has exactly these two kinds
        raise UserError(f"tokenizer {preset.tokenizer!r} cannot be written as a tokenizer.json")
    if preset.context_window:
        config["model_max_length"] = preset.context_window
    _write_text(target / TOKENIZER_CONFIG, json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    _write_text(stamp_file, json.dumps(wanted))


def prepare_serving_dir(preset: Preset, mode: Mode, root: Path | None = None) -> Path:
    """A directory vLLM or `transformers serve` can load for `preset`'s `mode` model; returned once complete."""
    # The mode's LoRA adapter is not part of this directory: vLLM loads it beside the model (vllm_launcher).
    source = _source_dir(preset.mode(mode).model)
    target = (root or serving_root()) / f"{preset.name}-{mode}"
    try:
        target.mkdir(parents=True, exist_ok=True)
        _write_text(target / CONFIG, json.dumps(serving_config(source), indent=2, sort_keys=True) + "\n")
        _link_files(source, target)
        place_weights(source, target)
        _write_tokenizer(preset, target)
    except OSError as exc:
        raise UserError(f"cannot write the serving directory {target}: {exc.strerror or exc}") from None
    return target
