"""The closed sets of values a user picks from, each defined once.

Presets, the planner, the engine, the chat and the commands import these; nothing else spells them out. The
module imports nothing, so the command line can offer them as choices without slowing `--help`.
"""

from __future__ import annotations

from typing import Literal

Mode = Literal["base", "instruct"]
"""The two models of a preset: the base model continues text, the instruct model follows instructions."""
MODES: tuple[Mode, ...] = ("base", "instruct")

Policy = Literal["rolling", "middle", "summarize", "stop"]
"""How the planner fits a conversation into the window (docs/context.md)."""
POLICIES: tuple[Policy, ...] = ("rolling", "middle", "summarize", "stop")

Residency = Literal["auto", "both", "swap", "single"]
"""Where the idle model waits (tui.engine.residency): on the accelerator, in host memory, or not loaded."""
RESIDENCIES: tuple[Residency, ...] = ("auto", "both", "swap", "single")

Quantization = Literal["int8", "int4"]
"""Weight-only quantization of the local models (needs a CUDA GPU and the `quant` extra)."""
QUANTIZATIONS: tuple[Quantization, ...] = ("int8", "int4")
