"""vLLM plugin (entry point group `vllm.general_plugins` in pyproject): teaches vLLM our Alpha architecture.

vLLM loads general plugins in every process it starts (the API server, the engine core, each worker), so the
registration below reaches the worker processes that build the model; a registration made only in the process
that runs `stablelm-tui serve` would not. It may run several times per process: every call is idempotent.

What it registers (checked against vLLM 0.32's `model_executor/models/registry.py` and `transformers/base.py`):
- our config and model classes with transformers' Auto classes, so vLLM's `AutoConfig.from_pretrained` reads
  the serving directory's config.json (`model_type = japanese_stablelm_alpha`) and its Transformers backend
  builds the base model with `AutoModel.from_config`: our installed code, never the Hub's remote code;
- the architecture name with vLLM's model registry, mapped to the Transformers backend's causal-LM class.

The backend replaces attention with vLLM's paged attention through transformers' attention interface; it checks
that each layer dispatches through it and refuses to start otherwise ("Layer 0 does not dispatch through the
Transformers attention interface"), so a model class that does not follow the interface cannot run silently
without the KV cache.
"""

from __future__ import annotations

TRANSFORMERS_BACKEND = "vllm.model_executor.models.transformers:TransformersForCausalLM"


def register() -> None:
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    from tui.models.ja_alpha import (
        ARCHITECTURE,
        MODEL_TYPE,
        JapaneseStableLMAlphaConfig,
        JapaneseStableLMAlphaForCausalLM,
        JapaneseStableLMAlphaModel,
    )

    AutoConfig.register(MODEL_TYPE, JapaneseStableLMAlphaConfig, exist_ok=True)
    AutoModel.register(JapaneseStableLMAlphaConfig, JapaneseStableLMAlphaModel, exist_ok=True)
    AutoModelForCausalLM.register(
        JapaneseStableLMAlphaConfig, JapaneseStableLMAlphaForCausalLM, exist_ok=True
    )
    from vllm import ModelRegistry

    ModelRegistry.register_model(ARCHITECTURE, TRANSFORMERS_BACKEND)
