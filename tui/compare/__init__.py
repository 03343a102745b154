"""Side-by-side comparison of variants (model x adapter x template) on the same prompts, with numbers.

Headless: `run_compare` reports each reply through a callback as it is done, so the CLI and a TUI view can
both show it; nothing here imports Textual.
"""
