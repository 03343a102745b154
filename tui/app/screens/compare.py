"""The compare view (F2): two variants answer the same message side by side, streamed (tui.compare.live).

Side by side from 110 columns, one above the other below that (80x24 over SSH). The worker runs the variants
one after the other on the chat's own models and posts typed messages; reply text goes through one chunk buffer
per pane that a 15 Hz timer drains, as in the chat. Esc stops a running comparison, and closes the view when
nothing runs.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from tui.app.widgets.key_bar import KeyBar
from tui.chat.coalesce import ChunkBuffer
from tui.chat.core_services import CoreServices
from tui.chat.settings import ChatSettings
from tui.choices import Mode

FLUSH_HZ = 15


class CompareUpdate(Message, bubble=False):
    """A variant started or finished (tui.compare.live.VariantStarted / VariantDone), or the run ended (None)."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class ComparePane(VerticalScroll):
    def __init__(self, index: int) -> None:
        super().__init__(classes="compare-pane", id=f"compare-pane-{index}")
        self.index = index
        self.text = ""
        self.buffer = ChunkBuffer()

    def compose(self) -> ComposeResult:
        yield Static(Text("—"), classes="compare-label")
        yield Static(Text(""), classes="compare-body")

    def set_label(self, label: str, detail: str = "") -> None:
        text = Text(f"{'AB'[self.index]} · {label}", style="bold")
        if detail:
            text.append(f" · {detail}", style="dim")
        self.query_one(".compare-label", Static).update(text)

    def clear(self) -> None:
        self.text = ""
        self.buffer.drain()
        self.query_one(".compare-body", Static).update(Text(""))

    def flush(self, tail: str | None = None) -> None:
        """Move buffered text to the screen in one update (`tail`: the engine's whole text, authoritative)."""
        added = self.buffer.drain()
        if tail is not None:
            self.text = tail
        elif added:
            self.text += added
        else:
            return
        self.query_one(".compare-body", Static).update(Text(self.text))  # never markup: model text is literal
        self.scroll_end(animate=False)


class CompareScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "back", "Stop/Back", id="compare.back", tooltip="stop the comparison, or back to chat"
        ),
        Binding("f2", "back", "Chat", id="compare.chat", tooltip="back to the chat", show=False),
        Binding("ctrl+r", "rerun", "Again", id="compare.rerun", tooltip="run the same message again"),
    ]

    def __init__(self, core: CoreServices, mode: Mode, settings: ChatSettings, *, draft: str = "") -> None:
        super().__init__()
        from tui.compare.live import default_spec

        self.core = core
        self.settings = settings
        self.spec = default_spec(mode, core.adapter_on)
        self.draft = draft
        self.cancel = threading.Event()
        self.running = False
        self.last_message = ""
        self._labels = ["", ""]
        self.runs_done = 0
        """Comparisons finished (or stopped) so far."""

    def compose(self) -> ComposeResult:
        yield Static(
            Text("Compare: the same message, two variants, same seed", style="bold"), id="compare-title"
        )
        with Horizontal(id="compare-variants-row"):
            yield Label("Variants ")
            yield Input(self.spec, id="compare-variants", select_on_focus=False)
        with Container(id="compare-panes"):
            yield ComparePane(0)
            yield ComparePane(1)
        yield Input(self.draft, placeholder="message to both variants; Enter runs them", id="compare-message")
        yield KeyBar(id="compare-keys")

    def on_mount(self) -> None:
        self._label_panes()
        self.set_interval(1 / FLUSH_HZ, self._drain)
        self.query_one("#compare-message", Input).focus()

    def on_unmount(self) -> None:
        self.cancel.set()  # the app is quitting: the worker stops within one step and restores the adapters

    def _panes(self) -> list[ComparePane]:
        return list(self.query(ComparePane))

    def _variants(self) -> list[Any] | None:
        from tui.compare.live import view_variants

        spec = self.query_one("#compare-variants", Input).value
        try:
            remote = self.core.backend_name != "local"
            return view_variants(spec, self.core.preset, self.core.adapter_on, remote=remote)
        except Exception as exc:  # UserError: one sentence
            self.notify(str(exc), title="variants", severity="error", markup=False)
            return None

    def _label_panes(self) -> None:
        variants = self._variants()
        if variants is not None:
            for pane, variant in zip(self._panes(), variants, strict=True):
                pane.set_label(variant.label)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "compare-variants":
            self._label_panes()
            self.query_one("#compare-message", Input).focus()
            return
        self._run(event.value.strip())

    def action_rerun(self) -> None:
        self._run(self.last_message)

    def action_back(self) -> None:
        if self.running:
            self.cancel.set()
            return
        self.dismiss()

    def _run(self, message: str) -> None:
        if self.running:
            self.notify("a comparison is running: wait, or press Esc to stop it", markup=False)
            return
        if not message:
            self.notify("type a message for both variants first", markup=False)
            return
        variants = self._variants()
        if variants is None:
            return
        self.last_message = message
        self.cancel = threading.Event()
        self.running = True
        seed = self.settings.seed if self.settings.seed is not None else secrets.randbelow(2**31)
        for pane, variant in zip(self._panes(), variants, strict=True):
            pane.clear()
            pane.set_label(variant.label, "waiting")
        self._labels = [v.label for v in variants]
        self._worker(variants, message, seed, self.cancel)

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def _worker(self, variants: list[Any], message: str, seed: int, cancel: threading.Event) -> None:
        from tui.compare.live import VariantText, stream_pair

        panes = self._panes()
        events = stream_pair(
            self.core.host,
            self.core.preset,
            self.core.tokenizer,
            variants,
            message,
            cancel,
            seed=seed,
            temperature=self.settings.temperature,
            max_new_tokens=self.settings.max_new_tokens,
        )
        try:
            with self.core.foreground():
                for event in events:
                    if isinstance(event, VariantText):
                        panes[event.index].buffer.append(event.text)  # thread-safe; the timer draws it
                    else:
                        self.post_message(CompareUpdate(event))
        except Exception as exc:
            self.post_message(CompareUpdate(exc))
        self.post_message(CompareUpdate(None))

    def _drain(self) -> None:
        for pane in self._panes():
            pane.flush()

    def on_compare_update(self, message: CompareUpdate) -> None:
        from tui.compare.live import VariantDone, VariantStarted

        event = message.event
        if event is None:
            self.running = False
            self.runs_done += 1
            return
        if isinstance(event, Exception):
            self.notify(f"{type(event).__name__}: {event}", title="compare", severity="error", markup=False)
            return
        pane = self._panes()[event.index]
        label = self._labels[event.index]
        if isinstance(event, VariantStarted):
            pane.set_label(label, "generating…")
        elif isinstance(event, VariantDone):
            finished = event.finished
            if finished is None:
                pane.flush(tail=event.error or "")
                pane.set_label(label, "error")
                return
            pane.flush(tail=finished.text)
            stats = finished.stats
            pane.set_label(
                label, f"{finished.reason} · {stats.new_tokens} tok · {stats.tokens_per_s:.1f} tok/s"
            )
            if event.error:
                self.notify(event.error, title=label, severity="error", markup=False)
