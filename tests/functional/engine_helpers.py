"""Helpers shared by the engine's functional tests (not a test module)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tui.engine.events import Finished, StreamEvent, TextChunk


class Spm:
    """The demo tokenizer behind the Tokenizer protocol's encode/decode/id_to_piece."""

    def __init__(self, path: Path) -> None:
        import sentencepiece

        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(path))
        self.eos_token_id = 3
        self.vocab_size = int(self.sp.get_piece_size())

    def encode(self, text: str) -> list[int]:
        return list(self.sp.encode(text))

    def decode(self, ids: Iterable[int]) -> str:
        return str(self.sp.decode(list(ids)))

    def id_to_piece(self, token_id: int) -> str:
        return str(self.sp.id_to_piece(token_id))

    def count(self, text: str) -> int:
        return len(self.encode(text))


def collect(events: Iterable[StreamEvent]) -> tuple[list[str], Finished]:
    chunks: list[str] = []
    finished: Any = None
    for event in events:
        assert finished is None, "nothing may follow Finished"
        if isinstance(event, TextChunk):
            assert event.text, "empty chunks are noise for the UI"
            chunks.append(event.text)
        else:
            assert isinstance(event, Finished)
            finished = event
    assert finished is not None, "a stream always ends with Finished"
    return chunks, finished


def never() -> threading.Event:
    return threading.Event()
