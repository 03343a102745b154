"""The headless core never imports Textual, and the app never imports torch (the import contract of docs/tui.md)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import tui

HEADLESS_EXCLUDED = ("tui.app",)


def headless_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(tui.__path__, "tui."):
        if not info.name.startswith(HEADLESS_EXCLUDED) and info.name != "tui.__main__":
            names.append(info.name)
    return names


def test_headless_modules_do_not_import_textual() -> None:
    modules = headless_modules()
    assert "tui.presets" in modules
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]\n"
        "print('TEXTUAL', bad[:3])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert "TEXTUAL []" in result.stdout, result.stdout + result.stderr


def test_app_modules_do_not_import_torch() -> None:
    app_modules = [
        info.name for info in pkgutil.walk_packages(tui.__path__, "tui.") if info.name.startswith("tui.app")
    ]
    probe = (
        "import importlib, sys\n"
        f"for name in {app_modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('TORCH', 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert "TORCH False False" in result.stdout, result.stdout + result.stderr
