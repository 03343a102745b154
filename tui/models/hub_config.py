"""Recognising a Japanese StableLM Alpha checkpoint (what goes wrong while fetching one: tui.engine.errors).

The Hub's config.json for these models has an `auto_map` (remote code) and no `model_type`, so transformers'
AutoConfig cannot map it to a local class: it would ask for `trust_remote_code`. `load_config` reads the file
itself (no code runs) and returns our config, which `AutoModelForCausalLM.from_pretrained(ref, config=...)`
then maps to our native module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers import PretrainedConfig

from tui.models.ja_alpha import ARCHITECTURE, MODEL_TYPE, JapaneseStableLMAlphaConfig


def is_ja_alpha(config_dict: Mapping[str, Any]) -> bool:
    """True for an original Hub config.json (by `architectures`) or one saved by our config class."""
    return config_dict.get("model_type") == MODEL_TYPE or ARCHITECTURE in (
        config_dict.get("architectures") or ()
    )


def load_config(ref: str, **hub_kwargs: Any) -> JapaneseStableLMAlphaConfig | None:
    """Our config for a Japanese StableLM Alpha checkpoint (hub id or directory), else None.

    `hub_kwargs` are those of `from_pretrained` (revision, token, local_files_only, cache_dir...). Only
    config.json is read; hub errors (gated, not found, offline) propagate for tui.engine.errors.explain_load_error.
    """
    config_dict, _ = PretrainedConfig.get_config_dict(ref, **hub_kwargs)
    if not is_ja_alpha(config_dict):
        return None
    config = JapaneseStableLMAlphaConfig.from_dict(config_dict)
    config.name_or_path = ref
    return config
