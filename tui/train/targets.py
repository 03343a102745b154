"""Which linear layers a LoRA adapter wraps, per model family: the one table to change when a layer is renamed.

Keys are the `model_type` of a loaded model's config. Our Japanese StableLM Alpha class fuses q/k/v in
`query_key_value` (per head) and, since the MLP's packed input was split at load time for tensor parallelism
(tui/models/conversion.py), has `up_proj` and `gate_proj` where the checkpoints have `packed_input_proj`. When a
layer is renamed its new names go here and nowhere else. Adapters trained before such a rename name the old
modules in their adapter_config.json and no longer load: retrain them.
"""

from __future__ import annotations

from typing import Any

from tui.errors import UserError

# Attention and MLP projections of every StableLM generation (docs/models.md lists which class loads which).
LORA_TARGETS: dict[str, tuple[str, ...]] = {
    # Japanese StableLM Alpha (tui.models): attention in/out, MLP up, gate and out.
    "japanese_stablelm_alpha": ("query_key_value", "dense", "up_proj", "gate_proj", "out_proj"),
    # Japanese StableLM Beta (Llama), Gamma (Mistral), 3B-4E1T and Stable LM 2 (StableLm).
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "mistral": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "stablelm": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    # English StableLM Alpha (GPT-NeoX).
    "gpt_neox": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
}


def lora_targets(model: Any) -> list[str]:
    """The module names to wrap for `model`; UserError for a family this table does not know."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    targets = LORA_TARGETS.get(str(model_type))
    if targets is None:
        known = ", ".join(sorted(LORA_TARGETS))
        raise UserError(
            f"no LoRA target layers are known for model type {model_type!r} (known: {known}); "
            "add them to LORA_TARGETS in tui/train/targets.py"
        )
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in targets if t not in names]
    if missing:
        raise UserError(
            f"the model has no layer named {', '.join(missing)} although its type {model_type!r} should: "
            "update LORA_TARGETS in tui/train/targets.py"
        )
    return list(targets)
