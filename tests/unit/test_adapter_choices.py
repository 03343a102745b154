"""Pure pieces of using adapters: the `--adapter [MODE=]DIR` flag, the compare view's variants, the status badge."""

from __future__ import annotations

import pytest

from tui.app.widgets.status_line import StatusInfo, render_status
from tui.compare.live import default_spec, view_variants
from tui.engine.factory import adapter_flags
from tui.errors import UserError
from tui.presets import load_settings


@pytest.mark.parametrize(
    ("values", "default", "expected"),
    [
        pytest.param(None, "instruct", {}, id="none"),
        pytest.param("A", "base", {"base": "A"}, id="generate's single string"),
        pytest.param(["A"], "instruct", {"instruct": "A"}, id="bare dir: the default mode"),
        pytest.param(["base=B", "instruct=I"], None, {"base": "B", "instruct": "I"}, id="one per mode"),
        pytest.param(
            ["x=y/z"], "base", {"base": "x=y/z"}, id="an = that names no mode is part of the folder"
        ),
    ],
)
def test_adapter_flags_map_each_folder_to_its_model(
    values: object, default: str | None, expected: dict
) -> None:
    assert adapter_flags(values, default) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "default", "message"),
    [
        pytest.param(
            ["D"], None, "say which model it is for: base=D or instruct=D", id="bare dir, two models"
        ),
        pytest.param(["base="], "base", "name the adapter folder after the =", id="empty folder"),
        pytest.param(["A", "instruct=B"], "instruct", "two adapters for the instruct model", id="twice"),
    ],
)
def test_adapter_flags_refuse_ambiguous_input_in_one_sentence(
    values: list[str], default: str | None, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        adapter_flags(values, default)


def adapters(mode: str) -> bool | None:
    return True if mode == "base" else None


def test_the_compare_view_defaults_to_the_model_with_and_without_its_adapter() -> None:
    assert default_spec("base", adapters) == "base,base+lora"
    assert default_spec("instruct", adapters) == "base,instruct"


def test_compare_view_variants_name_mode_adapter_and_template() -> None:
    preset = load_settings().preset("demo")
    base, lora = view_variants("base, base+lora", preset, adapters)
    assert (base.mode, base.adapter, lora.adapter, lora.label) == ("base", None, "lora", "base+lora")
    assert base.template == preset.base.template
    one, two = view_variants("instruct@plain,instruct", preset, adapters)
    assert (one.template, one.label, two.label) == ("plain", "instruct@plain", "instruct")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("base", "name two variants"),
        ("base,instruct,base", "name two variants"),
        ("chat,base", "start it with base or instruct"),
        ("base+mine,base", "after \\+ only `lora`"),
        ("instruct+lora,base", "the instruct model has no LoRA adapter in this chat"),
        ("base@,base", "name the template after the @"),
        ("base,base", "both variants are base"),
    ],
)
def test_compare_view_variants_refuse_bad_lists_in_one_sentence(spec: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        view_variants(spec, load_settings().preset("demo"), adapters)


def test_the_status_badge_says_when_the_lora_adapter_is_on() -> None:
    assert render_status(StatusInfo(mode="base", lora=True)).plain.startswith(" BASE+LoRA  ")
    assert render_status(StatusInfo(mode="instruct", lora=True)).plain.startswith(" INSTRUCT+LoRA  ")
    assert render_status(StatusInfo(mode="base")).plain.startswith(" BASE  ")
