"""One small adapter trained on the demo base model, shared by the training, adapter and compare tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SENTENCES = (
    "吾輩は猫である。",
    "名前はまだ無い。",
    "どこで生れたかとんと見当がつかぬ。",
    "何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。",
    "吾輩はここで始めて人間というものを見た。",
)


def write_text_data(folder: Path, lines: int = 60) -> Path:
    """A few thousand tokens of one repetitive text: a tiny model can learn it in a few dozen steps."""
    path = folder / "neko.txt"
    text = "".join(SENTENCES[i % len(SENTENCES)] + ("\n" if i % 3 == 2 else "") for i in range(lines))
    path.write_text(text, encoding="utf-8")
    return path


# Fast settings for a 2-core CI machine: short sequences, a small rank, a high learning rate.
FAST = ("--max-tokens", "64", "--rank", "4", "--lr", "3e-3")


@pytest.fixture(scope="session")
def trained_adapter(
    tmp_path_factory: pytest.TempPathFactory, demo_models: dict[str, Path]
) -> Iterator[dict[str, Any]]:
    """{"dir": adapter folder, "data": data file, "events": the run's events}, trained once per session."""
    from tui.train.plan import TrainOptions
    from tui.train.run import train

    folder = tmp_path_factory.mktemp("trained")
    data = write_text_data(folder)
    events: list[Any] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STABLELM_TUI_CONFIG_DIR", str(folder / "config"))
        options = TrainOptions(
            data=(str(data),),
            out=folder / "adapter",
            preset="demo",
            mode="base",
            steps=24,
            eval_every=8,
            rank=4,
            lr=3e-3,
            max_tokens=64,
            device="cpu",
        )
        out = train(options, events.append)
    card = json.loads((out / "training_card.json").read_text(encoding="utf-8"))
    yield {"dir": out, "data": data, "events": events, "card": card}
