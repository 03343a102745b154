"""The generation engine: token ids in, a stream of text events out. Headless: never imports Textual.

Importing this package is cheap (no torch); torch and transformers load when a model does.
"""

from tui.engine.errors import EngineError
from tui.engine.events import Finished, GenerationStats, LoadProgress, StreamEvent, TextChunk
from tui.engine.request import GenerationRequest

__all__ = [
    "EngineError",
    "Finished",
    "GenerationRequest",
    "GenerationStats",
    "LoadProgress",
    "StreamEvent",
    "TextChunk",
]
