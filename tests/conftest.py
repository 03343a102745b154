"""Shared fixtures: every test runs with its own config and data dirs; the demo models are built once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# The app in tmux panes with the preset `long` (a reply still streams seconds in), for the signal tests.
from tests.functional.tmux_helpers import open_long  # noqa: F401

# One small adapter, trained once per session on the demo base model, for the training, adapter and compare tests.
from tests.functional.train_helpers import trained_adapter  # noqa: F401


@pytest.fixture(autouse=True)
def isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point the app's config and data dirs at a fresh folder, so no test reads or writes the user's files.

    The cache dir stays shared: it only holds the demo models and the tokenizer, which are rebuildable and
    verified by hash, and sharing it keeps the suite from rebuilding them per test.
    """
    home = tmp_path_factory.mktemp("app-home")
    monkeypatch.setenv("STABLELM_TUI_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("STABLELM_TUI_DATA_DIR", str(home / "data"))
    yield home


@pytest.fixture(scope="session")
def demo_models() -> dict[str, Path]:
    """The two tiny demo model directories ({"base": DIR, "instruct": DIR}), built if missing."""
    from tui.demo import ensure_demo_models

    models = ensure_demo_models()
    return {"base": models.base, "instruct": models.instruct}


@pytest.fixture(scope="session")
def nerdstash_model(demo_models: dict[str, Path]) -> Path:
    """The real nerdstash v1 sentencepiece model file (the copy inside the demo model directory)."""
    return demo_models["base"] / "tokenizer.model"
