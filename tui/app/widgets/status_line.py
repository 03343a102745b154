"""The top status line: preset, mode (unmistakable), backend/device, model state, last reply's speed, VM info."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Generic, TypeVar

from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

InfoT = TypeVar("InfoT", bound="DataclassInstance")

MODE_STYLES = {"base": "bold #000000 on #ffaf00", "instruct": "bold #ffffff on #005fd7"}


@dataclass(frozen=True)
class StatusInfo:
    preset: str = ""
    mode: str = "instruct"
    lora: bool = False
    """The mode's LoRA adapter is on: the badge reads BASE+LoRA / INSTRUCT+LoRA."""
    backend: str = "local"
    device: str = ""
    state: str = "ready"
    """ready | loading | generating | error"""
    load_done: int = 0
    load_total: int = 0
    load_stage: str = ""
    toggle: str = ""
    """What the last ctrl+t took: "switch 0.01s", "swap 1.20s", "load 9.80s", "reload 11.02s"."""
    tokens_per_s: float | None = None
    ttft_s: float | None = None
    reused: int | None = None
    counts_may_differ: bool = False
    """The server tokenized the prompt text itself (it rejected token ids): its counts may differ from the meter's."""
    vm: str = ""
    save_error: str = ""


def progress_bar(done: int, total: int, width: int = 10) -> str:
    if total <= 0:
        return "░" * width
    cells = round(min(done, total) / total * width)
    return "█" * cells + "░" * (width - cells)


def append_model_state(text: Text, state: str, loading: str) -> None:
    """The model's state (ready | loading | generating | error) in its colour; `loading` is what a load shows."""
    if state == "loading":
        text.append(loading, style="#ffd75f")
    elif state == "generating":
        text.append("generating…", style="bold #87d787")
    elif state == "error":
        text.append("error", style="bold #ff5f5f")
    else:
        text.append("ready", style="#87d787")


def render_status(info: StatusInfo) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    badge = info.mode.upper() + ("+LoRA" if info.lora else "")
    text.append(f" {badge} ", style=MODE_STYLES.get(info.mode, "reverse"))
    text.append(f" {info.preset} │ {info.backend}")
    if info.device:
        text.append(f" {info.device}")
    text.append(" │ ")
    append_model_state(
        text, info.state, f"loading {progress_bar(info.load_done, info.load_total)} {info.load_stage}"
    )
    if info.toggle and info.state != "loading":
        text.append(f" · {info.toggle}", style="#87afd7")
    if info.tokens_per_s is not None:
        text.append(f" │ {info.tokens_per_s:.1f} tok/s")
        if info.ttft_s is not None:
            text.append(f" ttft {info.ttft_s:.2f}s")
        if info.reused is not None:
            text.append(f" reused {info.reused}")
        if info.counts_may_differ:
            text.append(" server re-tokenized: counts may differ", style="#ffd75f")
    if info.vm:
        text.append(f" │ {info.vm}", style="#d7afff")
    if info.save_error:
        text.append(f" │ unsaved: {info.save_error}", style="bold #ff5f5f")
    return text


class InfoLine(Static, Generic[InfoT]):
    """A line that shows a frozen dataclass (`info`) through its render function: the chat's and the novel's."""

    def __init__(self, info: InfoT, render: Callable[[InfoT], Text], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.info = info
        self._render_info = render

    def set(self, **changes: object) -> None:
        self.info = replace(self.info, **changes)
        self.update(self._render_info(self.info))


class StatusLine(InfoLine[StatusInfo]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(StatusInfo(), render_status, id=id)
