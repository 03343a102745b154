"""The novel screen's status line: the story, the model's state, the plan's size and what the KV cache reuses."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from tui.app.widgets.status_line import InfoLine, append_model_state, progress_bar

NOVEL_BADGE = "bold #000000 on #d7afff"


@dataclass(frozen=True)
class NovelStatusInfo:
    story: str = ""
    backend: str = "local"
    device: str = ""
    state: str = "ready"
    """ready | loading | generating | error"""
    load_done: int = 0
    load_total: int = 0
    total: int | None = None
    """Prompt tokens of the current plan (the planner's count)."""
    budget: int = 0
    reused: int | None = None
    """Of `total`, the tokens the next continuation takes from the KV cache; the rest is prefilled."""
    plan_error: str = ""
    tokens_per_s: float | None = None
    save_error: str = ""


def render_novel_status(info: NovelStatusInfo) -> Text:
    """What matters most first: at 80 columns the line is cut at its end, which holds the story's name."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" NOVEL ", style=NOVEL_BADGE)
    text.append(" ")
    append_model_state(text, info.state, f"loading {progress_bar(info.load_done, info.load_total)}")
    if info.plan_error:
        text.append(" │ cannot send: see Ledger", style="bold #ff5f5f")
    elif info.total is not None:
        text.append(f" │ {info.total}/{info.budget} tok")
        if info.reused is not None:
            text.append(f" reuse {info.reused} prefill {info.total - info.reused}")
    if info.tokens_per_s is not None:
        text.append(f" │ {info.tokens_per_s:.1f} tok/s")
    if info.save_error:
        text.append(f" │ unsaved: {info.save_error}", style="bold #ff5f5f")
    text.append(f" │ {info.backend}")
    if info.device:
        text.append(f" {info.device}")
    text.append(f" │ {info.story}")
    return text


class NovelStatus(InfoLine[NovelStatusInfo]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(NovelStatusInfo(), render_novel_status, id=id)
