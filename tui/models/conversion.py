"""Checkpoint conversion: the Hub's tensor names to our module's, applied by transformers while it loads.

Two tensors of the original checkpoints have another shape or name in our module:
- `mlp.packed_input_proj.weight` [2 * width, hidden] holds the MLP's up and gate projections stacked by rows
  (the original chunks its output into (ff, gate)); it is cut into `mlp.up_proj` and `mlp.gate_proj`, so each is a
  plain linear that tensor parallelism can split by columns (splitting the packed one would give a rank up-only or
  gate-only rows);
- `embed_out.weight` is the untied head, renamed `lm_head.weight` (the name vLLM's Transformers backend builds).

transformers reverses the mapping when saving, so `save_pretrained` writes the original layout again: checkpoints
we save still load in the original code. The mapping is registered once per process by `import tui.models`.
"""

from __future__ import annotations

from transformers.conversion_mapping import register_checkpoint_conversion_mapping
from transformers.core_model_loading import Chunk, WeightConverter, WeightRenaming

from tui.models.ja_alpha_config import MODEL_TYPE

PACKED_MLP = "mlp.packed_input_proj.weight"
SPLIT_MLP = ("mlp.up_proj.weight", "mlp.gate_proj.weight")
ORIGINAL_HEAD = "embed_out"
HEAD = "lm_head"


def register() -> None:
    register_checkpoint_conversion_mapping(
        MODEL_TYPE,
        [
            WeightConverter(
                source_patterns=PACKED_MLP, target_patterns=list(SPLIT_MLP), operations=[Chunk(dim=0)]
            ),
            WeightRenaming(source_patterns=rf"^{ORIGINAL_HEAD}\.", target_patterns=f"{HEAD}."),
        ],
        overwrite=True,
    )
