"""vLLM plugin (entry point group `vllm.general_plugins` in pyproject): teaches vLLM our Alpha architecture.

vLLM loads general plugins in every process it starts (the API server, the engine core, each worker), so the
registration below reaches the worker processes that build the model; a registration made only in the process
that runs `stablelm-tui serve` would not. It may run several times per process: every call is idempotent.

What it registers (checked against vLLM 0.32's `model_executor/models/registry.py` and `transformers/base.py`):
- our config and model classes with transformers' Auto classes, so vLLM's `AutoConfig.from_pretrained` reads
  the serving directory's config.json (`model_type = japanese_stablelm_alpha`) and its Transformers backend
  builds the base model with `AutoModel.from_config`: our installed code, never the Hub's remote code;
- the architecture name with vLLM's model registry, mapped to the Transformers backend's causal-LM class.

The mapping is made only when our model class follows transformers' attention interface
(`is_backend_compatible()`): the backend replaces attention with vLLM's paged attention through that interface,
and a class that does not dispatch through it would run without the KV cache. Without the mapping vLLM says
plainly that the architecture is not supported.
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
    if not JapaneseStableLMAlphaModel.is_backend_compatible():
        return

    from vllm import ModelRegistry

    ModelRegistry.register_model(ARCHITECTURE, TRANSFORMERS_BACKEND)
