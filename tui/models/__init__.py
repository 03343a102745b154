"""Our own model code where transformers has none: Japanese StableLM Alpha.

Importing this package registers the architecture with transformers' Auto classes (in this process only), so
`AutoModelForCausalLM.from_pretrained` builds our native module and never the Hub's remote code. The Hub's
config.json files have no `model_type`, so pass `config=load_config(ref)` for those (see tui.models.hub_config).
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from tui.models import conversion
from tui.models.checkpoint import build_tiny_checkpoint
from tui.models.hub_config import is_ja_alpha, load_config
from tui.models.ja_alpha import (
    ARCHITECTURE,
    MODEL_TYPE,
    ContextTooLongError,
    JapaneseStableLMAlphaConfig,
    JapaneseStableLMAlphaForCausalLM,
    JapaneseStableLMAlphaModel,
)

AutoConfig.register(MODEL_TYPE, JapaneseStableLMAlphaConfig, exist_ok=True)
AutoModel.register(JapaneseStableLMAlphaConfig, JapaneseStableLMAlphaModel, exist_ok=True)
AutoModelForCausalLM.register(JapaneseStableLMAlphaConfig, JapaneseStableLMAlphaForCausalLM, exist_ok=True)
conversion.register()

__all__ = [
    "ARCHITECTURE",
    "MODEL_TYPE",
    "ContextTooLongError",
    "JapaneseStableLMAlphaConfig",
    "JapaneseStableLMAlphaForCausalLM",
    "JapaneseStableLMAlphaModel",
    "build_tiny_checkpoint",
    "is_ja_alpha",
    "load_config",
]
