"""The chat's headless core: the conversation, its settings, the plan as the screen shows it, saving and resuming.

Nothing here imports Textual (tests/unit/test_headless_contract.py checks it), so every screen (the chat TUI
today, others later) and every test can use it without a terminal. tui/app draws it.
"""
