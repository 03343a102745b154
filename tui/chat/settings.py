"""What the settings dialog edits: the conversation's own settings (sampling, context policy, template, window),
saved with it, and the local engine's (quantization, residency), which are not."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, cast

from tui.choices import POLICIES, QUANTIZATIONS, RESIDENCIES, Policy, Quantization, Residency
from tui.errors import UserError


@dataclass(frozen=True)
class ChatSettings:
    temperature: float | None = None
    """None: the preset's value for the active mode."""
    top_p: float | None = None
    max_new_tokens: int | None = None
    policy: Policy = "rolling"
    template: str | None = None
    """None: the active mode's own template (switches with ctrl+t); a name or path pins one template."""
    window: int | None = None
    """None: the preset's context window. Smaller is allowed (to test trimming); larger is refused."""
    markdown: bool = False
    """Render replies as Markdown instead of literal text."""
    seed: int | None = None
    """Sampling seed (None: random); with the same seed and prompt the local backend repeats its reply."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatSettings:
        """Settings saved with a conversation, back. A field that is mistyped or out of range (an older or
        hand-edited record) is dropped and keeps its default; the other fields are kept."""
        kept: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            if name not in data:
                continue
            try:
                validate(cls(**{**kept, name: data[name]}))
            except UserError:
                continue
            kept[name] = data[name]
        return cls(**kept)


# The type each field must have when it is set (None means "the preset's value" where the default is None).
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "temperature": (int, float),
    "top_p": (int, float),
    "max_new_tokens": (int,),
    "policy": (str,),
    "template": (str,),
    "window": (int,),
    "markdown": (bool,),
    "seed": (int,),
}


def _check_types(settings: ChatSettings) -> None:
    for name, kinds in FIELD_TYPES.items():
        value = getattr(settings, name)
        if value is None and ChatSettings.__dataclass_fields__[name].default is None:
            continue
        # bool is an int in Python; a count written as true is a mistake.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise UserError(f"{name} must be {' or '.join(k.__name__ for k in kinds)}, got {value!r}")


def validate(settings: ChatSettings, max_window: int | None = None) -> ChatSettings:
    """Raise UserError naming the field when a value has the wrong type or is out of range."""
    _check_types(settings)
    if settings.temperature is not None and not 0.0 <= settings.temperature <= 5.0:
        raise UserError("temperature must be between 0 and 5")
    if settings.top_p is not None and not 0.0 < settings.top_p <= 1.0:
        raise UserError("top_p must be in (0, 1]")
    if settings.max_new_tokens is not None and not 1 <= settings.max_new_tokens <= 32768:
        raise UserError("max_new_tokens must be between 1 and 32768")
    if settings.policy not in POLICIES:
        raise UserError(f"policy must be one of {', '.join(POLICIES)}")
    if settings.window is not None:
        if settings.window < 16:
            raise UserError("window must be at least 16 tokens")
        if max_window is not None and settings.window > max_window:
            raise UserError(f"window cannot exceed the model's {max_window} tokens")
    return settings


def parse_form(values: dict[str, str], current: ChatSettings, max_window: int | None) -> ChatSettings:
    """Turn the dialog's text fields into settings; blank means "the preset's default"."""

    def number(name: str, kind: type) -> Any:
        raw = values.get(name, "").strip()
        if not raw:
            return None
        try:
            return kind(raw)
        except ValueError:
            raise UserError(f"{name} must be a number, got {raw!r}") from None

    template = values.get("template", "").strip() or None
    return validate(
        replace(
            current,
            temperature=number("temperature", float),
            top_p=number("top_p", float),
            max_new_tokens=number("max_new_tokens", int),
            policy=cast("Policy", values.get("policy") or current.policy),  # validate() checks it
            template=template,
            window=number("window", int),
        ),
        max_window,
    )


@dataclass(frozen=True)
class EngineSettings:
    """How the local models run, as the settings dialog edits them; a change reloads the models. Not saved with
    a conversation: it belongs to the machine (a GPU's memory), not to what was said."""

    quantize: Quantization | Literal["none"] = "none"
    residency: Residency = "auto"


def parse_engine_form(values: dict[str, str], current: EngineSettings) -> EngineSettings:
    """The dialog's quantize and residency choices; a value outside the lists is a UserError."""
    quantize = values.get("quantize") or current.quantize
    residency = values.get("residency") or current.residency
    if quantize not in (*QUANTIZATIONS, "none"):
        raise UserError(f"quantize must be one of {', '.join((*QUANTIZATIONS, 'none'))}")
    if residency not in RESIDENCIES:
        raise UserError(f"residency must be one of {', '.join(RESIDENCIES)}")
    return EngineSettings(cast("Quantization", quantize), cast("Residency", residency))
