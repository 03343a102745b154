"""Presets: the built-ins are what the model cards say, and every config mistake names its file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.errors import UserError
from tui.paths import config_file
from tui.presets import load_settings


def write_config(text: str) -> Path:
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_ja_alpha_matches_the_model_cards() -> None:
    preset = load_settings().preset("ja-alpha")
    assert preset.base.model == "stabilityai/japanese-stablelm-base-alpha-7b"
    assert preset.instruct.model == "stabilityai/japanese-stablelm-instruct-alpha-7b"
    assert preset.tokenizer == "novelai/nerdstash-tokenizer-v1"
    assert preset.context_window == 2048
    assert (preset.add_bos, preset.eos_token_id, preset.trust_remote_code) == (False, 3, False)
    assert preset.base.generation.max_new_tokens == 128
    assert preset.instruct.generation.max_new_tokens == 256
    for spec in (preset.base, preset.instruct):
        assert (spec.generation.temperature, spec.generation.top_p, spec.generation.do_sample) == (
            1.0,
            0.95,
            True,
        )


def test_demo_is_the_default_and_shares_everything_but_the_weights_with_ja_alpha() -> None:
    settings = load_settings()
    assert settings.default_preset == "demo"
    demo, real = settings.preset(), settings.preset("ja-alpha")
    assert (demo.base.model, demo.instruct.model) == ("demo:base", "demo:instruct")
    for mode in ("base", "instruct"):
        assert demo.mode(mode).template == real.mode(mode).template  # type: ignore[arg-type]
        assert demo.mode(mode).stop == real.mode(mode).stop  # type: ignore[arg-type]
        assert demo.mode(mode).generation == real.mode(mode).generation  # type: ignore[arg-type]
    assert (demo.context_window, demo.eos_token_id, demo.add_bos) == (2048, 3, False)


def test_user_preset_extends_a_builtin_and_becomes_default() -> None:
    write_config(
        'default_preset = "mine"\n[presets.mine]\nextends = "ja-alpha"\ncontext_window = 1024\n'
        '[presets.mine.instruct]\nmodel = "/models/ft"\n'
    )
    preset = load_settings().preset()
    assert preset.name == "mine"
    assert preset.context_window == 1024
    assert preset.instruct.model == "/models/ft"
    assert preset.instruct.template == "ja-alpha-instruct"
    assert preset.base.model == "stabilityai/japanese-stablelm-base-alpha-7b"


def test_a_mode_may_name_its_own_server_and_served_model() -> None:
    write_config(
        '[presets.served]\nextends = "demo"\nremote_base_url = "http://h:8000"\n'
        '[presets.served.base]\nremote_model = "demo-base"\n'
        '[presets.served.instruct]\nremote_base_url = "http://h:8001"\n'
    )
    preset = load_settings().preset("served")
    assert preset.remote_for("base") == ("http://h:8000", "demo-base")
    assert preset.remote_for("instruct") == ("http://h:8001", None)
    assert preset.base.model == "demo:base"  # the rest of the mode still comes from the parent
    assert preset.served_name("instruct") == "served-instruct"


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(UserError, match=r"unknown preset 'nope' \(known: demo, ja-alpha\)"):
        load_settings().preset("nope")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(
            '[presets.x]\ntokenizer = "t"\ncontext_window = 2048\n[presets.x.base]\nmodel = "m"\n',
            r"preset 'x': missing field 'base.template'",
            id="missing-field",
        ),
        pytest.param(
            '[presets.x]\nextends = "ja-alpha"\ncontext_window = "big"\n',
            r"preset 'x': field 'context_window' must be int, got 'big'",
            id="wrong-type",
        ),
        pytest.param(
            '[presets.x]\nextends = "ja-alpha"\ncontext_window = 0\n',
            r"field 'context_window' must be positive",
            id="not-positive",
        ),
        pytest.param(
            '[presets.x]\nextends = "nowhere"\n', r"'extends' names unknown preset 'nowhere'", id="extends"
        ),
        pytest.param(
            'default_preset = "ghost"\n', r"'default_preset' names unknown preset 'ghost'", id="default"
        ),
        pytest.param("[presets\n", r"not valid TOML", id="syntax"),
    ],
)
def test_config_mistakes_name_file_and_field(config: str, message: str) -> None:
    path = write_config(config)
    with pytest.raises(UserError, match=message) as info:
        load_settings()
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(
            '[presets.x]\nextends = "ja-alpha"\nwindow = 1024\n',
            r"preset 'x': unknown key 'window' \(did you mean 'context_window'\?\)",
            id="window",
        ),
        pytest.param(
            '[presets.x]\nextends = "ja-alpha"\n[presets.x.instruct.generation]\ntemprature = 0.7\n',
            r"preset 'x': unknown key 'instruct.generation.temprature' "
            r"\(did you mean 'instruct.generation.temperature'\?\)",
            id="nested-generation",
        ),
        pytest.param(
            '[presets.x]\nextends = "ja-alpha"\n[presets.x.base]\nmodle = "/m"\n',
            r"preset 'x': unknown key 'base.modle' \(did you mean 'base.model'\?\)",
            id="mode-table",
        ),
        pytest.param(
            'default-preset = "demo"\n',
            r"unknown key 'default-preset' \(did you mean 'default_preset'\?\)",
            id="top-level",
        ),
        pytest.param(
            '[presets.x]\ntokenizr = "t"\ncontext_window = 2048\n',
            r"preset 'x': unknown key 'tokenizr' \(did you mean 'tokenizer'\?\)",
            id="typo-reported-before-the-missing-field-it-causes",
        ),
        pytest.param(
            "[presets.demo]\nzzz = 1\n",
            r"preset 'demo': unknown key 'zzz' \(known keys: add_bos, base, context_window, description, ",
            id="override-of-a-builtin-no-close-key",
        ),
    ],
)
def test_unknown_keys_name_the_file_the_key_and_the_closest_known_key(config: str, message: str) -> None:
    path = write_config(config)
    with pytest.raises(UserError, match=message) as info:
        load_settings()
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


def test_an_unknown_key_in_the_user_config_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    path = write_config('[presets.mine]\nextends = "demo"\nwindow = 1024\n')
    assert main(["presets"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"stablelm-tui: error: {path}: preset 'mine': unknown key 'window' (did you mean 'context_window'?)\n"
    )


def test_quantize_and_residency_come_from_the_preset() -> None:
    assert (load_settings().preset("ja-alpha").quantize, load_settings().preset("ja-alpha").residency) == (
        None,
        "auto",
    )
    write_config('[presets.small]\nextends = "ja-alpha"\nquantize = "int4"\nresidency = "swap"\n')
    preset = load_settings().preset("small")
    assert (preset.quantize, preset.residency) == ("int4", "swap")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(
            'quantize = "int3"', "field 'quantize' must be one of int8, int4, got 'int3'", id="quantize"
        ),
        pytest.param(
            'residency = "gpu"',
            "field 'residency' must be one of auto, both, swap, single, got 'gpu'",
            id="residency",
        ),
        pytest.param("quantize = 8", "field 'quantize' must be str, got 8", id="quantize-type"),
    ],
)
def test_a_bad_quantize_or_residency_names_the_allowed_values(line: str, message: str) -> None:
    path = write_config(f'[presets.x]\nextends = "ja-alpha"\n{line}\n')
    with pytest.raises(UserError) as info:
        load_settings()
    assert str(info.value) == f"{path}: preset 'x': {message}"
