"""stablelm-tui: a terminal chat console for Japanese StableLM."""

__version__ = "0.1.0"
