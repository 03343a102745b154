"""LoRA target layers exist in every StableLM family's class, and PEFT wraps exactly them."""

from __future__ import annotations

from typing import Any

import pytest

from tui.errors import UserError
from tui.train.targets import LORA_TARGETS, lora_targets

TINY = {"vocab_size": 128, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1}


def tiny_model(model_type: str) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    import tui.models  # noqa: F401 - registers japanese_stablelm_alpha

    sizes = {"num_attention_heads": 4, **TINY}
    if model_type == "japanese_stablelm_alpha":
        sizes.pop("intermediate_size")  # derived from hidden_size by the architecture
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **sizes))


@pytest.mark.parametrize("model_type", sorted(LORA_TARGETS))
def test_every_family_gets_lora_on_its_attention_and_mlp_projections(model_type: str) -> None:
    from peft import LoraConfig, get_peft_model

    model = tiny_model(model_type)
    targets = lora_targets(model)
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=targets, task_type="CAUSAL_LM"))
    wrapped = {name.rsplit(".", 1)[-1] for name, m in peft_model.named_modules() if hasattr(m, "lora_A")}
    assert wrapped == set(targets)


def test_an_unknown_family_names_the_table_to_extend() -> None:
    class Config:
        model_type = "mamba"

    class Model:
        config = Config()

    with pytest.raises(UserError, match=r"model type 'mamba'.*LORA_TARGETS in tui/train/targets.py"):
        lora_targets(Model())
