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

from tui.chat.conversation import Turn
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


# A streaming reply is drawn as frozen blocks plus one live tail, so each 15 Hz update re-renders only the tail
# instead of the whole reply (O(n) per update, O(n^2) per reply otherwise). Blocks end at a newline, or at
# BLOCK_CHARS characters when a model writes no newlines (a wrapped line may then break early at that point).
BLOCK_CHARS = 1500


def block_content(block: str) -> Content:
    # The next block starts on its own line anyway: drop the newline that ended this one.
    return Content(neutralize(block[:-1] if block.endswith("\n") else block))


def split_blocks(text: str) -> tuple[list[str], str]:
    """(frozen blocks, live tail) for `text`; the blocks joined with the tail give back `text`."""
    blocks: list[str] = []
    start = 0
    while True:
        newline = text.rfind("\n", start, start + BLOCK_CHARS + 1)
        if newline >= 0 and len(text) - start > 0 and newline + 1 < len(text):
            blocks.append(text[start : newline + 1])
            start = newline + 1
        elif len(text) - start > BLOCK_CHARS:
            blocks.append(text[start : start + BLOCK_CHARS])
            start += BLOCK_CHARS
        else:
            return blocks, text[start:]


class MessageView(Vertical):
    """Shows one Turn. The app calls `append` at most ~15 times a second while a reply streams."""

    def __init__(self, turn: Turn, *, markdown: bool = False) -> None:
        super().__init__(classes=f"message -{turn.role}")
        self.turn = turn
        self.markdown = markdown
        self.status = "kept"
        self._stream: MarkdownStream | None = None
        self._frozen = 0
        """Characters of turn.content already drawn in frozen blocks."""
        self._blocks: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(Content(label_for(self.turn)), classes="message-label")
        if self.markdown:
            yield Markdown(neutralize(self.turn.content), classes="message-body")
            return
        blocks, _tail = split_blocks(self.turn.content)
        for block in blocks:
            yield Static(block_content(block), classes="message-block")
        self._blocks = blocks
        self._frozen = sum(len(b) for b in blocks)
        yield Static(self._tail_content(), classes="message-body")

    def _tail_content(self) -> Content:
        text = neutralize(self.turn.content[self._frozen :])
        if not self.turn.content and self.turn.partial:
            text = "…"
        return Content(text)

    @property
    def text(self) -> str:
        """What the body shows, as plain text (for tests and copy)."""
        if self.markdown:
            return self.query_one(Markdown).source
        return neutralize(self.turn.content[: self._frozen]) + str(self.query_one(".message-body").render())

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
            return
        await self._show_tail()

    async def _show_tail(self) -> None:
        tail_widget = self.query_one(".message-body", Static)
        blocks, _tail = split_blocks(self.turn.content[self._frozen :])
        if blocks:
            # Counted as frozen before the mount is awaited: the 15 Hz drain and the end of the reply may both
            # get here, and the second must not mount the same blocks again (they showed twice).
            self._blocks.extend(blocks)
            self._frozen += sum(len(b) for b in blocks)
            await self.mount_all(
                [Static(block_content(b), classes="message-block") for b in blocks], before=tail_widget
            )
        tail_widget.update(self._tail_content())

    async def finalize(self) -> None:
        """The reply ended: stop the stream and render the whole text once (fixes streamed code blocks)."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if self.markdown:
            await self.query_one(Markdown).update(neutralize(self.turn.content))
        else:
            if "".join(self._blocks) != self.turn.content[: self._frozen]:
                # The engine's final text differs from what streamed (rare): redraw from scratch.
                await self.query(".message-block").remove()
                self._frozen = 0
                self._blocks = []
            await self._show_tail()
        self.refresh_label()
