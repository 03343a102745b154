"""Serving a preset's models over the OpenAI API (`stablelm-tui serve`): our own engine, vLLM or transformers."""
