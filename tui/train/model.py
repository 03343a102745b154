"""The model side of training: load the base (optionally 4-bit), wrap it with LoRA, checkpoint activations.

Precision follows the engine's rule: bf16 on GPUs that compute it natively, fp16 on the others (a T4), fp32 on
CPU. LoRA weights stay fp32 whatever the base (PEFT upcasts them), and fp16 runs use a gradient scaler so small
gradients do not underflow. 4-bit (QLoRA) loads the base through bitsandbytes NF4 with double quantization; it
needs CUDA.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

from tui.errors import UserError

OOM_TRAIN_ADVICE = "lower --max-tokens (e.g. 1024), use --quantize int4, or lower --rank"


def load_base(ref: str, *, device: str, quantize: str | None, trust_remote_code: bool) -> Any:
    """The base model on its device, or UserError with one sentence (including out of memory)."""
    from tui.engine.errors import EngineError, is_out_of_memory
    from tui.engine.loading import LoadOptions, load_model, resolve_device, resolve_dtype

    try:
        where = resolve_device(device)
    except EngineError as exc:
        raise UserError(str(exc)) from None
    bnb_config = None
    if quantize is not None:
        if where.type != "cuda":
            raise UserError(
                "--quantize int4 (QLoRA) needs a CUDA GPU: bitsandbytes 4-bit training does not run on CPU; "
                "train without --quantize here"
            )
        if importlib.util.find_spec("bitsandbytes") is None:
            raise UserError("--quantize int4 needs bitsandbytes: pip install 'stablelm-tui[train]'")
        from transformers import BitsAndBytesConfig

        bnb_config = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=resolve_dtype("auto", where),
        )
    options = LoadOptions(
        device=device,
        quantization="int4" if quantize else None,
        quantization_config=bnb_config,
        trust_remote_code=trust_remote_code,
    )
    try:
        return load_model(ref, options)
    except EngineError as exc:
        if is_out_of_memory(exc) or "out of memory" in str(exc).lower():
            raise UserError(f"out of GPU memory loading {ref} for training: {OOM_TRAIN_ADVICE}") from None
        raise UserError(str(exc)) from None


def model_device(model: Any) -> Any:
    return model.get_input_embeddings().weight.device


def compute_dtype(model: Any) -> Any:
    """The dtype activations run in: the embedding's (4-bit models keep embeddings in the compute dtype)."""
    return model.get_input_embeddings().weight.dtype


def enable_gradient_checkpointing(model: Any) -> str:
    """Recompute each decoder layer in the backward pass instead of keeping its activations; how it was done.

    transformers' classes, and our Alpha class (its layers are transformers' GradientCheckpointingLayer), do it
    themselves. A class that does not declare support gets each decoder layer (the classes `_no_split_modules`
    names) wrapped in torch's non-reentrant checkpoint, which needs no input that requires grad and so works with
    frozen embeddings under LoRA.
    """
    if getattr(model, "supports_gradient_checkpointing", False):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return "transformers"
    import torch
    from torch.utils.checkpoint import checkpoint

    layer_classes = set(getattr(model, "_no_split_modules", None) or ())
    layers = [m for m in model.modules() if type(m).__name__ in layer_classes]
    if not layers:
        return "off (no decoder layers found)"
    for layer in layers:

        def checkpointed(*args: Any, _forward: Any = layer.forward, **kwargs: Any) -> Any:
            if not torch.is_grad_enabled():
                return _forward(*args, **kwargs)
            return checkpoint(_forward, *args, use_reentrant=False, **kwargs)

        layer.forward = functools.update_wrapper(checkpointed, layer.forward)
    return f"{len(layers)} layers"


def add_lora(model: Any, *, rank: int, alpha: int, dropout: float, quantized: bool) -> Any:
    """Wrap `model` with a fresh trainable LoRA adapter on the LORA_TARGETS layers; returns PEFT's model."""
    try:
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    except ImportError:
        raise UserError(
            "training needs peft: pip install 'stablelm-tui[train]' (or pip install peft)"
        ) from None
    from tui.train.targets import lora_targets

    targets = lora_targets(model)
    if quantized:
        # Freezes the base, casts norms to fp32; gradient checkpointing is ours (see above).
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    from tui.engine.adapters import quiet_peft

    with quiet_peft():
        return get_peft_model(model, config)


def sequence_loss(model: Any, ids: tuple[int, ...], loss: tuple[bool, ...], device: Any) -> tuple[Any, int]:
    """(sum of the cross-entropy over the learned tokens, how many): next-token prediction on one sequence."""
    import torch
    import torch.nn.functional as F

    input_ids = torch.tensor([ids], device=device)
    logits = model(input_ids=input_ids, use_cache=False).logits[0, :-1]
    targets = input_ids[0, 1:]
    mask = torch.tensor(loss[1:], device=device)
    per_token = F.cross_entropy(logits.float(), targets, reduction="none")
    return (per_token * mask).sum(), int(mask.sum())
