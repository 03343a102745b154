"""One message in the chat pane: a label line (who wrote it, which model, how it ended) and its text.

Text is shown literally by default: neutralised (control characters and escapes made visible) and wrapped in
`Content` so no Rich/Textual markup is ever parsed. In Markdown mode the body is a Markdown widget fed through
`MarkdownStream` while streaming, then re-rendered once in full (streamed code blocks can end up blank).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Markdown, Static
from textual.widgets._markdown import MarkdownStream

from tui.app.conversation import Turn
from tui.sanitize import neutralize

REASON_LABELS = {
    "cancelled": "stopped",
    "length": "max tokens",
    "error": "error",
    "stop": "stop string",
    "eos": "",
}


def label_for(turn: Turn, status: str = "kept") -> str:
    if turn.role == "user":
        label = "you"
    elif turn.role == "system":
        label = "system"
    else:
        label = f"assistant · {(turn.mode or '?').upper()}"
        if turn.reason and REASON_LABELS.get(turn.reason):
            label += f" · {REASON_LABELS[turn.reason]}"
        elif turn.partial and not turn.reason:
            label += " · …"
    if status in ("dropped", "truncated", "summarized"):
        label += f"  [{status}]" if status != "dropped" else "  [not in context]"
    return label


class MessageView(Vertical):
    """Shows one Turn. The app calls `append` at most ~15 times a second while a reply streams."""

    DEFAULT_CSS = ""

    def __init__(self, turn: Turn, *, markdown: bool = False) -> None:
        super().__init__(classes=f"message -{turn.role}")
        self.turn = turn
        self.markdown = markdown
        self.status = "kept"
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        yield Static(Content(label_for(self.turn)), classes="message-label")
        if self.markdown:
            yield Markdown(neutralize(self.turn.content), classes="message-body")
        else:
            yield Static(self._body_content(), classes="message-body")

    def _body_content(self) -> Content:
        text = neutralize(self.turn.content)
        if not text and self.turn.partial:
            text = "…"
        return Content(text)

    def refresh_label(self) -> None:
        self.query_one(".message-label", Static).update(Content(label_for(self.turn, self.status)))

    def set_context_status(self, status: str) -> None:
        """kept / dropped / truncated / summarized: CSS dims what the model will not see."""
        if status == self.status:
            return
        for name in ("dropped", "truncated", "summarized"):
            self.set_class(status == name, f"-{name}")
        self.status = status
        self.refresh_label()

    async def append(self, text: str) -> None:
        """The turn's content already includes `text`; show the growth."""
        if self.markdown:
            body = self.query_one(Markdown)
            if self._stream is None:
                self._stream = Markdown.get_stream(body)
            await self._stream.write(neutralize(text))
        else:
            self.query_one(".message-body", Static).update(self._body_content())

    async def finalize(self) -> None:
        """The reply ended: stop the stream and render the whole text once (fixes streamed code blocks)."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if self.markdown:
            await self.query_one(Markdown).update(neutralize(self.turn.content))
        else:
            self.query_one(".message-body", Static).update(self._body_content())
        self.refresh_label()
