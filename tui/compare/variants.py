"""What `compare` runs: variants (model x adapter x template) and prompts, parsed from the command line.

A variant is written `MODE` or `MODE+ADAPTER_DIR` (MODE is base or instruct of the preset); `--template`
crosses every variant with each template given, otherwise each uses its mode's template. Pure: no model here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tui.choices import MODES, Mode
from tui.errors import UserError
from tui.presets import Preset

DEFAULT_VARIANTS = "base,instruct"


@dataclass(frozen=True)
class Variant:
    mode: Mode
    adapter: str | None
    template: str
    template_in_label: bool = False
    """True when --template chose the template: then the label names it."""

    @property
    def label(self) -> str:
        name = self.mode + (f"+{Path(self.adapter).name}" if self.adapter else "")
        if not self.template_in_label:
            return name
        return f"{name}@{Path(self.template).stem if '/' in self.template else self.template}"


def parse_variants(spec: str, preset: Preset, templates: list[str] | None = None) -> list[Variant]:
    variants: list[Variant] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        mode_name, plus, adapter = item.partition("+")
        if mode_name not in MODES:
            raise UserError(
                f"variant {item!r}: start it with base or instruct (e.g. base, instruct, base+ADAPTER_DIR)"
            )
        mode: Mode = "base" if mode_name == "base" else "instruct"
        if plus and not adapter:
            raise UserError(f"variant {item!r}: name the adapter folder after the +")
        for template in templates or [preset.mode(mode).template]:
            variants.append(Variant(mode, adapter or None, template, template_in_label=bool(templates)))
    if not variants:
        raise UserError("--variants names no variant (e.g. base,instruct,base+ADAPTER_DIR)")
    labels = [v.label for v in variants]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise UserError(
            f"--variants names {', '.join(repeated)} twice (adapter folders are told apart by their names)"
        )
    return variants


def read_prompts(name: str) -> list[str]:
    """Prompts from a JSONL file of {"prompt": "..."} objects (multi-line prompts) or a text file, one per line."""
    try:
        text = Path(name).read_text(encoding="utf-8").removeprefix("\ufeff")
    except FileNotFoundError:
        raise UserError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{name}: is a directory, not a prompts file") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{name}: not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise UserError(f"{name}: cannot read: {exc.strerror or exc}") from None
    lines = [(number, line) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]
    prompts: list[str] = []
    if name.lower().endswith(".jsonl"):
        for number, line in lines:
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise UserError(f"{name}:{number}: not valid JSON ({exc})") from None
            if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
                raise UserError(f'{name}:{number}: expected an object like {{"prompt": "..."}}')
            prompts.append(record["prompt"])
    else:
        prompts = [line.rstrip("\r") for _, line in lines]
    if not prompts:
        raise UserError(f"{name}: no prompts in it (one per line, or JSONL objects with a 'prompt')")
    return prompts
