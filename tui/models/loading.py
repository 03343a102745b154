"""Recognising a Japanese StableLM Alpha checkpoint, and one sentence for what goes wrong while fetching one.

The Hub's config.json for these models has an `auto_map` (remote code) and no `model_type`, so transformers'
AutoConfig cannot map it to a local class: it would ask for `trust_remote_code`. `load_config` reads the file
itself (no code runs) and returns our config, which `AutoModelForCausalLM.from_pretrained(ref, config=...)`
then maps to our native module.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from transformers import PretrainedConfig

from tui.models.ja_alpha import ARCHITECTURE, MODEL_TYPE, ContextTooLongError, JapaneseStableLMAlphaConfig

# The Hub models this module is for; gated ones need their terms accepted on the model page first.
KNOWN_MODELS = (
    "stabilityai/japanese-stablelm-base-alpha-7b",
    "stabilityai/japanese-stablelm-instruct-alpha-7b",
    "stabilityai/japanese-stablelm-instruct-alpha-7b-v2",
)


def is_ja_alpha(config_dict: Mapping[str, Any]) -> bool:
    """True for an original Hub config.json (by `architectures`) or one saved by our config class."""
    return config_dict.get("model_type") == MODEL_TYPE or ARCHITECTURE in (
        config_dict.get("architectures") or ()
    )


def load_config(ref: str, **hub_kwargs: Any) -> JapaneseStableLMAlphaConfig | None:
    """Our config for a Japanese StableLM Alpha checkpoint (hub id or directory), else None.

    `hub_kwargs` are those of `from_pretrained` (revision, token, local_files_only, cache_dir...). Only
    config.json is read; hub errors (gated, not found, offline) propagate for `explain_load_error`.
    """
    config_dict, _ = PretrainedConfig.get_config_dict(ref, **hub_kwargs)
    if not is_ja_alpha(config_dict):
        return None
    config = JapaneseStableLMAlphaConfig.from_dict(config_dict)
    config.name_or_path = ref
    return config


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes: transformers re-raises hub errors as OSError `from` the original."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def explain_load_error(exc: BaseException, model_id: str) -> str | None:
    """One sentence for a gated, missing, unreachable or damaged model; None when it is none of those.

    None lets the caller fall back to its general message (tui.engine.errors.explain_load_error).
    """
    chain = list(_chain(exc))
    names = {cls.__name__ for e in chain for cls in type(e).__mro__}
    text = " ".join(str(e) for e in chain)
    lowered = text.lower()
    page = f"https://huggingface.co/{model_id}"

    for e in chain:
        if isinstance(e, ContextTooLongError):
            return str(e)
    if "GatedRepoError" in names or "gated repo" in lowered or "gated repository" in lowered:
        status = next((s for e in chain if (s := _status(e)) is not None), None)
        if "awaiting a review" in lowered:
            return f"{model_id} is gated and your access request is still awaiting review by its authors ({page})"
        if status == 403 or "not in the authorized list" in lowered:
            return (
                f"{model_id} is gated and the account of this machine's token has not been granted access: "
                f"accept the terms on {page} with that account"
            )
        return (
            f"{model_id} is gated: accept its terms on {page}, then give this machine a token of that account "
            "(`hf auth login` or HF_TOKEN)"
        )
    if (
        "RepositoryNotFoundError" in names
        or "not a valid model identifier" in lowered
        or ("not a local folder or a valid repository name" in lowered)
    ):
        hint = ""
        if "japanese-stablelm" in model_id and model_id not in KNOWN_MODELS:
            hint = f" (the Alpha models are {', '.join(KNOWN_MODELS)})"
        return f"model {model_id} not found on the Hugging Face hub or as a directory: check the name{hint}"
    if "LocalEntryNotFoundError" in names or "OfflineModeIsEnabled" in names or "couldn't connect" in lowered:
        return (
            f"{model_id} is not in the local Hugging Face cache and the hub cannot be reached: "
            "download it once with a network, or point the preset at a local directory"
        )
    if "does not appear to have" in lowered or "no file named" in lowered:
        return (
            f"{model_id} is missing a weight file (an interrupted download?): download it again, "
            "e.g. `hf download " + model_id + "`"
        )
    if (
        "SafetensorError" in names
        or "headertoolarge" in lowered
        or "incomplete metadata" in lowered
        or "invalid load key" in lowered
        or "pytorchstreamreader failed" in lowered
        or "unexpected end of file" in lowered
    ):
        return (
            f"a weight file of {model_id} is corrupt or incomplete: delete it (`hf cache delete` for the hub cache) "
            "and download it again"
        )
    if "trust_remote_code" in text and "japanese-stablelm" in model_id and "alpha" in model_id:
        return (
            f"{model_id} was handed to transformers without our config: load it with "
            "config=tui.models.load_config(...) so our native module is used, never its remote code"
        )
    return None
