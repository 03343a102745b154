"""`stablelm-tui train` on the demo base model: it learns, the adapter is standard PEFT, and it switches in place."""

from __future__ import annotations

import math
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from tui.engine.events import Finished
from tui.engine.request import GenerationRequest

pytestmark = [pytest.mark.usefixtures("demo_models"), pytest.mark.slow]
PROMPT = "吾輩は猫である。"


def greedy(backend: Any, prompt: str, new: int = 12) -> tuple[int, ...]:
    ids = backend.tokenizer.encode(prompt)
    request = GenerationRequest(prompt_ids=ids, max_new_tokens=new, do_sample=False)
    for event in backend.stream(request, threading.Event()):
        if isinstance(event, Finished):
            return event.token_ids
    raise AssertionError("no Finished event")


def test_training_a_few_dozen_steps_lowers_the_held_out_loss(trained_adapter: dict[str, Any]) -> None:
    from tui.train.progress import Evaluated, StepDone

    results = trained_adapter["card"]["results"]
    assert results["steps"] == 24
    assert results["final_heldout_loss"] < results["initial_heldout_loss"] - 0.5
    evaluations = [e.heldout_loss for e in trained_adapter["events"] if isinstance(e, Evaluated)]
    assert len(evaluations) == 4  # before training, then every 8 steps
    assert evaluations[-1] < evaluations[0]
    steps = [e for e in trained_adapter["events"] if isinstance(e, StepDone)]
    assert [e.step for e in steps] == list(range(1, 25))
    assert all(math.isfinite(e.loss) and e.tokens_per_s > 0 for e in steps)


def test_the_card_names_the_base_model_data_and_settings(trained_adapter: dict[str, Any]) -> None:
    from tui.engine.identity import model_identity

    card = trained_adapter["card"]
    assert card["base"] == model_identity("demo:base").as_dict()
    assert card["settings"]["rank"] == 4 and card["settings"]["max_tokens"] == 64
    assert card["settings"]["targets"] == ["dense", "gate_proj", "out_proj", "query_key_value", "up_proj"]
    [data_file] = card["data"]["files"]
    assert data_file["kind"] == "text" and data_file["loss_tokens"] > 500
    assert card["data"]["heldout_sequences"] >= 1
    assert "held-out loss before" in (trained_adapter["dir"] / "README.md").read_text(encoding="utf-8")


def test_the_adapter_folder_is_private_and_nothing_incomplete_is_left(
    trained_adapter: dict[str, Any],
) -> None:
    folder: Path = trained_adapter["dir"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["README.md", "adapter_config.json", "adapter_model.safetensors", "training_card.json"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.iterdir())
    assert not folder.with_name(folder.name + ".incomplete").exists()


def test_the_adapter_loads_with_plain_peft_and_changes_the_output(
    trained_adapter: dict[str, Any],
    demo_models: dict[str, Path],
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    import tui.models  # noqa: F401 - registers the Alpha architecture with the Auto classes

    base = AutoModelForCausalLM.from_pretrained(demo_models["base"]).eval()
    ids = torch.tensor([[10535, 49244, 793, 5062, 3202]])
    with torch.no_grad():
        before = base(input_ids=ids).logits
        tuned = PeftModel.from_pretrained(base, str(trained_adapter["dir"])).eval()
        after = tuned(input_ids=ids).logits
    assert not torch.allclose(before, after, atol=1e-3)


def test_switching_the_adapter_off_and_on_in_place_changes_the_reply_without_reloading(
    trained_adapter: dict[str, Any],
) -> None:
    from tui.engine.adapters import active_adapter, toggle_adapter
    from tui.engine.loading import LoadOptions
    from tui.engine.local import LocalBackend
    from tui.tokenizers import load_tokenizer

    tokenizer = load_tokenizer("demo:base")
    plain = LocalBackend.load("demo:base", tokenizer, LoadOptions(device="cpu"))
    backend = LocalBackend.load(
        "demo:base", tokenizer, LoadOptions(device="cpu", adapter=str(trained_adapter["dir"]))
    )
    model = backend.model
    assert active_adapter(model) is not None and active_adapter(model).label == "LoRA:adapter"  # type: ignore[union-attr]
    with_adapter = greedy(backend, PROMPT)
    assert toggle_adapter(backend) is None
    without = greedy(backend, PROMPT)
    assert backend.model is model
    assert without == greedy(plain, PROMPT) != with_adapter
    assert toggle_adapter(backend) is not None
    assert greedy(backend, PROMPT) == with_adapter


def test_generate_with_the_adapter_differs_from_generate_without(
    trained_adapter: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tui.cli import main

    argv = ["generate", "--preset", "demo", "--mode", "base", "--prompt", PROMPT, "--seed", "3"]
    argv += ["--max-new-tokens", "12", "--device", "cpu"]
    assert main(argv) == 0
    without = capsys.readouterr().out
    assert main([*argv, "--adapter", str(trained_adapter["dir"])]) == 0
    assert capsys.readouterr().out != without


def test_an_adapter_for_another_base_model_is_refused_with_exit_2(
    trained_adapter: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tui.cli import main

    argv = ["generate", "--preset", "demo", "--mode", "instruct", "--prompt", PROMPT, "--device", "cpu"]
    assert main([*argv, "--adapter", str(trained_adapter["dir"])]) == 2
    err = capsys.readouterr().err
    assert "was trained on demo:base, a different model from demo:instruct" in err
    assert err.count("\n") == 1


def test_the_presets_adapter_field_is_used_like_adapter(
    trained_adapter: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    isolated_dirs: Path,
) -> None:
    from tui.cli import main

    config = isolated_dirs / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[presets.tuned]\nextends = "demo"\n[presets.tuned.base]\nadapter = "{trained_adapter["dir"]}"\n',
        encoding="utf-8",
    )
    argv = ["generate", "--mode", "base", "--prompt", PROMPT, "--seed", "3", "--max-new-tokens", "12"]
    argv += ["--device", "cpu"]
    assert main([*argv, "--preset", "tuned"]) == 0
    from_preset = capsys.readouterr().out
    assert main([*argv, "--preset", "demo", "--adapter", str(trained_adapter["dir"])]) == 0
    assert capsys.readouterr().out == from_preset
