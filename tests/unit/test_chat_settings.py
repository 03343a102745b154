"""The chat's own settings: the dialog's form, and settings saved with a conversation read back field by field."""

from __future__ import annotations

import pytest

from tui.chat.settings import ChatSettings, EngineSettings, parse_engine_form, parse_form, validate
from tui.errors import UserError


def test_a_bad_saved_field_drops_only_that_field() -> None:
    saved = {
        "temperature": 9.0,  # out of range
        "top_p": 0.5,
        "policy": "bogus",  # not a policy
        "markdown": "yes",  # not a bool
        "max_new_tokens": True,  # a bool is not a count
        "seed": 3,
        "window": 512,
        "from_a_newer_version": 1,
    }
    assert ChatSettings.from_dict(saved) == ChatSettings(top_p=0.5, seed=3, window=512)


def test_good_saved_settings_come_back_whole() -> None:
    settings = ChatSettings(temperature=0.7, top_p=0.9, max_new_tokens=64, policy="middle", template="x",
                            window=1024, markdown=True, seed=1)  # fmt: skip
    assert ChatSettings.from_dict(settings.as_dict()) == settings


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"temperature": "hot"}, "temperature must be a number, got 'hot'", id="not-a-number"),
        pytest.param({"top_p": "1.5"}, "top_p must be in (0, 1]", id="top-p-range"),
        pytest.param({"window": "8"}, "window must be at least 16 tokens", id="window-small"),
        pytest.param({"window": "4096"}, "window cannot exceed the model's 2048 tokens", id="window-large"),
    ],
)
def test_the_dialog_form_refuses_bad_values(values: dict[str, str], message: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_form(values, ChatSettings(), 2048)
    assert str(caught.value) == message


def test_blank_form_fields_mean_the_presets_values() -> None:
    current = ChatSettings(temperature=0.3, policy="stop")
    assert parse_form({"temperature": "", "policy": "stop"}, current, 2048) == ChatSettings(policy="stop")


def test_validate_names_the_mistyped_field() -> None:
    with pytest.raises(UserError, match=r"max_new_tokens must be int, got 1\.5"):
        validate(ChatSettings(max_new_tokens=1.5))  # type: ignore[arg-type]


def test_the_engine_part_of_the_form_takes_only_listed_values() -> None:
    current = EngineSettings()
    assert parse_engine_form({"quantize": "int4", "residency": "swap"}, current) == EngineSettings(
        "int4", "swap"
    )
    assert parse_engine_form({}, EngineSettings("int8", "both")) == EngineSettings("int8", "both")
    with pytest.raises(UserError, match="residency must be one of auto, both, swap, single"):
        parse_engine_form({"residency": "gpu"}, current)
