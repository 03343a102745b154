"""The configuration of Japanese StableLM Alpha, with the tensor- and pipeline-parallel plans of our module."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from transformers import PretrainedConfig

MODEL_TYPE = "japanese_stablelm_alpha"
ARCHITECTURE = "JapaneseStableLMAlphaForCausalLM"
MLP_MULTIPLE_OF = 256


def mlp_width(hidden_size: int) -> int:
    """The MLP width the original code derives from hidden_size (11008 for 4096); the config cannot change it."""
    ff_dim = int(8 * hidden_size / 3)
    return MLP_MULTIPLE_OF * ((ff_dim + MLP_MULTIPLE_OF - 1) // MLP_MULTIPLE_OF)


class JapaneseStableLMAlphaConfig(PretrainedConfig):
    """The configuration keys of the original `configuration_japanese_stablelm_alpha.py`, same names and defaults.

    The Hub config.json carries no `model_type` (the original class never set one), so `tui.models.load_config`
    recognises those files by their `architectures` entry; configs saved by this class carry `MODEL_TYPE`.
    """

    model_type = MODEL_TYPE
    keys_to_ignore_at_inference: ClassVar[list[str]] = ["cache", "past_key_values"]
    # Tensor parallel (transformers' `tp_plan="auto"`, vLLM's Transformers backend). `query_key_value` is laid out per
    # head ([heads, 3 * head_size] rows), so splitting its rows keeps whole heads (q, k and v together) on each
    # rank; the attention reshapes with -1 heads. The MLP's input is two linears (split from the checkpoint's
    # packed one at load time, tui/models/conversion.py), each split by columns like any gated MLP.
    base_model_tp_plan: ClassVar[dict[str, str]] = {
        "layers.*.attention.query_key_value": "colwise",
        "layers.*.attention.dense": "rowwise",
        "layers.*.mlp.gate_proj": "colwise",
        "layers.*.mlp.up_proj": "colwise",
        "layers.*.mlp.out_proj": "rowwise",
    }
    base_model_pp_plan: ClassVar[dict[str, Sequence[list[str]]]] = {
        "embed_in": (["input_ids"], ["inputs_embeds"]),
        "layers": (["hidden_states", "attention_mask"], ["hidden_states"]),
        "final_layer_norm": (["hidden_states"], ["hidden_states"]),
    }

    vocab_size: int = 65536
    hidden_size: int = 4096
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    hidden_act: str = "silu"
    """Recorded for compatibility: the original MLP always uses SiLU."""
    rotary_pct: float = 0.25
    rotary_emb_base: int = 10000
    rotary_scale_base: int = 512
    classifier_dropout: float = 0.1
    max_position_embeddings: int = 2048
    """Also sets the xPos centre (max_position_embeddings // 2): changing it changes every attention score."""
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-5
    use_cache: bool = True
    bos_token_id: int | None = 3
    eos_token_id: int | list[int] | None = 3
    pad_token_id: int | None = None
    tie_word_embeddings: bool = False
    use_parallel_residual: bool = True
    """Recorded for compatibility: the original block is always parallel."""
    use_bias_in_mlp: bool = True
    """Recorded for compatibility: the original MLP has no biases."""

    def __post_init__(self, **kwargs: Any) -> None:
        # The auto_map of a Hub config names remote code that we never run; keeping it would make a saved copy
        # point at that code again.
        kwargs.pop("auto_map", None)
        given_width = kwargs.pop("intermediate_size", None)
        super().__post_init__(**kwargs)
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_attention_heads}"
            )
        if given_width is not None and int(given_width) != mlp_width(self.hidden_size):
            raise ValueError(
                f"intermediate_size {given_width} does not match the width Japanese StableLM Alpha derives from "
                f"hidden_size {self.hidden_size} ({mlp_width(self.hidden_size)})"
            )

    @property
    def intermediate_size(self) -> int:
        return mlp_width(self.hidden_size)

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def head_dim(self) -> int:
        """The name vLLM and transformers' attention helpers read."""
        return self.head_size

    @property
    def rotary_ndims(self) -> int:
        return int(self.head_size * self.rotary_pct)
