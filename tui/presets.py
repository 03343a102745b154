"""Model presets and the user's settings, read from TOML into typed, frozen dataclasses.

Built-in presets live in presets.toml beside this module; the user's config.toml may add presets (optionally
`extends` another) and choose the default. Every problem is a UserError that names the file and the field.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tui.choices import MODES, QUANTIZATIONS, RESIDENCIES, Mode, Quantization, Residency
from tui.errors import UserError
from tui.paths import config_file
from tui.unknown_keys import reject_unknown_keys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


BUILTIN_FILE = Path(__file__).with_name("presets.toml")
DEFAULT_PRESET = "demo"


@dataclass(frozen=True)
class GenerationDefaults:
    """Sampling settings from the model card; the settings dialog and CLI flags override them per call."""

    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    do_sample: bool = True
    repetition_penalty: float = 1.0


@dataclass(frozen=True)
class ModeSpec:
    """One of the two models of a preset."""

    model: str
    """A hub id, a local directory, or `demo:base` / `demo:instruct`."""
    template: str
    """A name in prompt_template/ (without .j2), or a path to a .j2 file."""
    generation: GenerationDefaults
    stop: tuple[str, ...] = ()
    """Stop strings in addition to the template's own and the eos id."""
    adapter: str | None = None
    """A LoRA adapter directory (from `stablelm-tui train`) loaded on top of `model`, active from the start."""
    remote_base_url: str | None = None
    """This model's server when base and instruct are served apart (vLLM: one server per model)."""
    remote_model: str | None = None
    """This model's served name when one server serves both (`stablelm-tui serve --mode both`)."""


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    tokenizer: str
    context_window: int
    base: ModeSpec
    instruct: ModeSpec
    add_bos: bool = False
    eos_token_id: int | None = None
    trust_remote_code: bool = False
    source: str = ""
    """The file the preset came from, for messages."""
    remote_base_url: str | None = None
    """An OpenAI-compatible server (vLLM...) to use instead of the in-process model."""
    remote_api_key_env: str | None = None
    """The *name* of the environment variable holding the API key; the key itself is never stored."""
    remote_model: str | None = None
    quantize: Quantization | None = None
    """Weight-only "int8" or "int4" for the local models (a CUDA GPU and `pip install "stablelm-tui[quant]"`);
    None: full precision. `chat/generate --quantize` override it."""
    residency: Residency = "auto"
    """Where the idle one of the two models waits: "both" on the accelerator, "swap" in host memory, "single" not
    loaded at all, "auto" picks from the measured sizes (tui/engine/residency.py). `chat --residency` overrides."""

    def mode(self, mode: Mode) -> ModeSpec:
        return self.base if mode == "base" else self.instruct

    def remote_for(self, mode: Mode) -> tuple[str | None, str | None]:
        """(server URL, served model name) for `mode`: the mode's own setting, else the preset's."""
        spec = self.mode(mode)
        return spec.remote_base_url or self.remote_base_url, spec.remote_model or self.remote_model

    def served_name(self, mode: Mode) -> str:
        """The name `stablelm-tui serve` gives this preset's `mode` model, which `chat --server` asks for."""
        return f"{self.name}-{mode}"


@dataclass(frozen=True)
class Settings:
    default_preset: str
    presets: dict[str, Preset] = field(default_factory=dict)
    config_path: Path | None = None

    def preset(self, name: str | None = None) -> Preset:
        chosen = name or self.default_preset
        try:
            return self.presets[chosen]
        except KeyError:
            known = ", ".join(sorted(self.presets))
            raise UserError(f"unknown preset '{chosen}' (known: {known})") from None


# The keys a TOML file may use are the dataclasses' fields, so a new field is a known key the moment it exists.
CONFIG_KEYS = frozenset({"default_preset", "presets"})
PRESET_KEYS = frozenset({f.name for f in fields(Preset)} - {"name", "source"} | {"extends"})
MODE_KEYS = frozenset(f.name for f in fields(ModeSpec))
GENERATION_KEYS = frozenset(f.name for f in fields(GenerationDefaults))


def _reject_unknown_preset_keys(table: dict[str, Any], where: str) -> None:
    """Typos are refused before anything is built, so `windw` is named instead of a missing `context_window`."""
    reject_unknown_keys(table, PRESET_KEYS, where)
    for mode in MODES:
        spec = table.get(mode)
        if not isinstance(spec, dict):
            continue  # a wrong type is reported by the builder, with the expected one
        reject_unknown_keys(spec, MODE_KEYS, where, f"{mode}.")
        generation = spec.get("generation")
        if isinstance(generation, dict):
            reject_unknown_keys(generation, GENERATION_KEYS, where, f"{mode}.generation.")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except PermissionError:
        raise UserError(f"{path}: cannot read the file (permission denied)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the file: {exc.strerror}") from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class _Fields:
    """Typed access to one preset's table; errors name the file, the preset and the dotted field."""

    def __init__(self, table: dict[str, Any], where: str, prefix: str = "") -> None:
        self.table = table
        self.where = where
        self.prefix = prefix

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def get(
        self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, required: bool = True
    ) -> Any:
        if key not in self.table:
            if default is not ... or not required:
                return None if default is ... else default
            raise UserError(f"{self.where}: missing field '{self._name(key)}'")
        value = self.table[key]
        # bool is an int in Python; a flag written as 1 or a count written as true is a mistake.
        bad_bool = isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
        if bad_bool or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise UserError(f"{self.where}: field '{self._name(key)}' must be {names}, got {value!r}")
        return value

    def sub(self, key: str) -> _Fields:
        return _Fields(self.get(key, dict), self.where, f"{self._name(key)}.")


def _positive(fields: _Fields, key: str, value: int) -> int:
    if value <= 0:
        raise UserError(f"{fields.where}: field '{fields._name(key)}' must be positive, got {value}")
    return value


def _one_of(fields: _Fields, key: str, allowed: tuple[str, ...], default: Any) -> Any:
    value = fields.get(key, str, default)
    if value is not None and value not in allowed:
        raise UserError(
            f"{fields.where}: field '{fields._name(key)}' must be one of {', '.join(allowed)}, got {value!r}"
        )
    return value


def _generation(fields: _Fields) -> GenerationDefaults:
    return GenerationDefaults(
        max_new_tokens=_positive(fields, "max_new_tokens", fields.get("max_new_tokens", int)),
        temperature=float(fields.get("temperature", (int, float), 1.0)),
        top_p=float(fields.get("top_p", (int, float), 1.0)),
        top_k=fields.get("top_k", int, 0),
        do_sample=fields.get("do_sample", bool, True),
        repetition_penalty=float(fields.get("repetition_penalty", (int, float), 1.0)),
    )


def _mode_spec(fields: _Fields) -> ModeSpec:
    stop = fields.get("stop", list, [])
    if not all(isinstance(s, str) and s for s in stop):
        raise UserError(f"{fields.where}: field '{fields._name('stop')}' must be a list of non-empty strings")
    return ModeSpec(
        model=fields.get("model", str),
        template=fields.get("template", str),
        generation=_generation(fields.sub("generation")),
        stop=tuple(stop),
        adapter=fields.get("adapter", str, required=False),
        remote_base_url=fields.get("remote_base_url", str, required=False),
        remote_model=fields.get("remote_model", str, required=False),
    )


def _build_preset(name: str, table: dict[str, Any], source: Path) -> Preset:
    fields = _Fields(table, f"{source}: preset '{name}'")
    return Preset(
        name=name,
        description=fields.get("description", str, ""),
        tokenizer=fields.get("tokenizer", str),
        context_window=_positive(fields, "context_window", fields.get("context_window", int)),
        base=_mode_spec(fields.sub("base")),
        instruct=_mode_spec(fields.sub("instruct")),
        add_bos=fields.get("add_bos", bool, False),
        eos_token_id=fields.get("eos_token_id", int, required=False),
        trust_remote_code=fields.get("trust_remote_code", bool, False),
        source=str(source),
        remote_base_url=fields.get("remote_base_url", str, required=False),
        remote_api_key_env=fields.get("remote_api_key_env", str, required=False),
        remote_model=fields.get("remote_model", str, required=False),
        quantize=_one_of(fields, "quantize", QUANTIZATIONS, None),
        residency=_one_of(fields, "residency", RESIDENCIES, "auto"),
    )


def _resolve_extends(
    name: str, raw: dict[str, tuple[dict[str, Any], Path]], seen: tuple[str, ...] = ()
) -> dict[str, Any]:
    table, source = raw[name]
    parent = table.get("extends")
    if parent is None:
        return table
    if not isinstance(parent, str) or parent not in raw:
        raise UserError(f"{source}: preset '{name}': field 'extends' names unknown preset {parent!r}")
    if parent in seen:
        raise UserError(f"{source}: preset '{name}': 'extends' loops through {' -> '.join((*seen, name))}")
    merged = _merge(_resolve_extends(parent, raw, (*seen, name)), table)
    merged.pop("extends", None)
    return merged


def load_settings(path: Path | None = None) -> Settings:
    """Built-in presets plus the user's config file (which may not exist)."""
    user_path = path or config_file()
    user_doc = _read_toml(user_path)
    raw: dict[str, tuple[dict[str, Any], Path]] = {}
    for source, document in ((BUILTIN_FILE, _read_toml(BUILTIN_FILE)), (user_path, user_doc)):
        reject_unknown_keys(document, CONFIG_KEYS, str(source))
        presets = document.get("presets", {})
        if not isinstance(presets, dict):
            raise UserError(f"{source}: 'presets' must be a table of tables")
        for name, table in presets.items():
            if not isinstance(table, dict):
                raise UserError(f"{source}: preset '{name}' must be a table")
            _reject_unknown_preset_keys(table, f"{source}: preset '{name}'")
            if name in raw and source == user_path and "extends" not in table:
                # Overriding a built-in preset by name keeps its other fields.
                table = _merge(raw[name][0], table)
            raw[name] = (table, source)

    presets_built = {name: _build_preset(name, _resolve_extends(name, raw), raw[name][1]) for name in raw}
    default = user_doc.get("default_preset", DEFAULT_PRESET)
    if not isinstance(default, str) or default not in presets_built:
        raise UserError(f"{user_path}: field 'default_preset' names unknown preset {default!r}")
    return Settings(default_preset=default, presets=presets_built, config_path=user_path)
