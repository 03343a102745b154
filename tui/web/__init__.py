"""`stablelm-tui web`: textual-serve behind a token, over one model server. Never imports Textual itself."""
