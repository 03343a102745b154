"""The novel screen (小説モード): the story the base model continues, its メモリ, 脚注 and lorebook, and the ledger.

Layout: the story fills the screen; the panels (メモリ, 脚注, Lore with its test field, 設定, Ledger) sit beside it
from 110 columns and take its place below that (ctrl+o). Keys are the screen's own and all in the key bar, the
help (F1) and the palette. The background half (planning, model, streaming, autosave) is NovelWorkers.
"""

from __future__ import annotations

import dataclasses
from contextlib import suppress
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.widgets import Input, Label, TabbedContent, TabPane, TextArea

from tui.app.screens.novel_workers import AUTOSAVE_TICK_S, FLUSH_HZ, NovelWorkers, lines_for_area
from tui.app.widgets.key_bar import KeyBar
from tui.app.widgets.ledger_view import LedgerView
from tui.app.widgets.lore_panel import LorePanel, LoreTable
from tui.app.widgets.novel_status import NovelStatus
from tui.app.widgets.story_settings import StorySettings
from tui.errors import StableLMTuiError
from tui.novel.lore import entries_fired_by
from tui.novel.story import LoreEntry, Story

PANELS = ("tab-memory", "tab-note", "tab-lore", "tab-settings", "tab-ledger")
PANEL_FOCUS = {
    "tab-memory": "#memory",
    "tab-note": "#note",
    "tab-lore": "#lore-table",
    "tab-settings": "#scan-tokens",
}
NOVEL_KEYS = (
    ("typing", "edit the story anywhere, also while a continuation streams (it is added at the end)"),
    ("ctrl+z / ctrl+y", "undo / redo your own typing in a text field"),
    ("tab / shift+tab", "move between the story and the panels' fields"),
    ("n, Enter, Space, Del", "in the lorebook list: new entry, edit, enable/disable, delete"),
    ("設定 (F3)", "scan window, lore budget, reply length in tokens; 禁止ワード one per line"),
    ("ctrl+p", "command palette: every action by name"),
)
NOVEL_HELP = (
    "Autosaved as you type and while a continuation streams (at most half a second is at risk). The Ledger "
    "shows the exact prompt the next continuation gets: every piece, included or not, why, and its token "
    "count; the status line says how many of those tokens the model's cache already holds (reused) and how "
    "many it computes again (prefill)."
)


class NovelScreen(NovelWorkers):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "app.quit", "Quit", id="novel.quit", priority=True, tooltip="save and quit"),
        Binding("escape", "stop", "Stop", id="novel.stop", tooltip="stop the continuation (its text stays)"),
        Binding("ctrl+g", "write", "Write", id="novel.write", tooltip="write: the model continues the story"),
        Binding("ctrl+r", "retry", "Retry", id="novel.retry", tooltip="replace the last continuation"),
        # Priority: the text area's own f6 (select line) and f7 (select all) would take these keys first.
        Binding(
            "f7", "undo", "Undo", id="novel.undo", priority=True, tooltip="take the last continuation out"
        ),
        Binding("f8", "redo", "Redo", id="novel.redo", tooltip="put the undone continuation back"),
        Binding(
            "ctrl+o", "panels", "Panels", id="novel.panels", tooltip="メモリ, 脚注, lorebook, ledger on/off"
        ),
        Binding("f4", "next_panel", "Next", id="novel.next_panel", tooltip="next panel (opens the panels)"),
        Binding(
            "f3",
            "settings",
            "設定",
            id="novel.settings",
            tooltip="story settings: scan window, lore budget, reply length, 禁止ワード",
        ),
        Binding(
            "f6",
            "close",
            "Chat",
            id="novel.close",
            priority=True,
            tooltip="back to the chat (the story is saved)",
        ),
        Binding("f1", "help", "Help", id="novel.help", tooltip="this help"),
    ]
    DEFAULT_CSS = """
    NovelScreen #novel-status { height: 1; background: $panel; }
    NovelScreen #novel-main { height: 1fr; }
    NovelScreen #story { width: 1fr; border: none; padding: 0 1; }
    NovelScreen #panels { width: 56; border-left: solid $primary; }
    NovelScreen.-narrow #panels { width: 1fr; border-left: none; }
    NovelScreen.-narrow.-panels #story { display: none; }
    NovelScreen.-panels-closed #panels { display: none; }
    NovelScreen #panels TextArea { height: 1fr; border: none; }
    NovelScreen #note-depth-row { height: 1; }
    NovelScreen #note-depth-row Label { width: auto; padding-right: 1; }
    NovelScreen #note-depth { border: none; height: 1; width: 8; }
    NovelScreen #lore-table { height: 1fr; }
    NovelScreen #lore-test { border: none; height: 1; background: $boost; }
    NovelScreen #lore-test-result { height: auto; max-height: 5; }
    NovelScreen #ledger-summary { height: auto; }
    NovelScreen #ledger-table { height: 1fr; }
    """

    panels_open: reactive[bool] = reactive(True)

    def compose(self) -> ComposeResult:
        story = self.session.story
        yield NovelStatus(id="novel-status")
        with Horizontal(id="novel-main"):
            yield TextArea(lines_for_area(story.text), id="story", soft_wrap=True)
            with TabbedContent(id="panels", initial="tab-ledger"):
                with TabPane("メモリ", id="tab-memory"):
                    yield TextArea(story.memory, id="memory", soft_wrap=True)
                with TabPane("脚注", id="tab-note"):
                    with Horizontal(id="note-depth-row"):
                        yield Label("lines before the end:")
                        yield Input(str(story.note_depth), type="integer", id="note-depth")
                    yield TextArea(story.note, id="note", soft_wrap=True)
                with TabPane("Lore", id="tab-lore"):
                    yield LorePanel(id="lore")
                with TabPane("設定", id="tab-settings"):
                    yield StorySettings(id="settings")
                with TabPane("Ledger", id="tab-ledger"):
                    yield LedgerView(id="ledger")
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        self.status.set(
            story=self.session.path.name, backend=self.host.backend_name, device=self.host.device()
        )
        self.lore_panel.show_lore(self.session.story.lore)
        preset = self.session.preset
        self.settings_panel.show(
            self.session.story,
            window=preset.context_window,
            preset_reply=preset.base.generation.max_new_tokens,
            apply=self._apply_settings,
        )
        self.panels_open = self.app.size.width >= 110
        self.watch_panels_open(self.panels_open)
        area = self.story_area
        self._shown_area = area.text
        area.move_cursor(area.document.end)
        area.scroll_end(animate=False)
        area.focus()
        self.set_interval(1 / FLUSH_HZ, self.drain)
        self.set_interval(AUTOSAVE_TICK_S, self.autosave)
        self.schedule_plan(0)
        if self.session.last_error:
            self.status.set(save_error=self.session.last_error)

    def watch_panels_open(self, shown: bool) -> None:
        self.set_class(shown, "-panels")
        self.set_class(not shown, "-panels-closed")

    # ----- keys --------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return True if self.generating else None
        if action in ("write", "retry", "undo", "redo"):
            return not self.generating or None
        return True

    def action_stop(self) -> None:
        if self.generating:
            self.cancel.set()  # the engine ends within a token with reason "cancelled"; the text stays

    def action_write(self) -> None:
        self.settings_panel.commit()
        self.start_continuation()

    def action_retry(self) -> None:
        self.settings_panel.commit()
        self.start_continuation(retry=True)

    def action_undo(self) -> None:
        self._history_step(undo=True)

    def action_redo(self) -> None:
        self._history_step(undo=False)

    def _history_step(self, *, undo: bool) -> None:
        if self.generating:
            return
        self.take_edits()
        try:
            story = self.session.undo() if undo else self.session.redo()
        except StableLMTuiError as exc:
            self.notify(str(exc), title="undo" if undo else "redo", severity="warning", markup=False)
            return
        self.show_story_text(story.text)
        self.schedule_plan(0)

    def action_panels(self) -> None:
        self.panels_open = not self.panels_open
        if self.panels_open:
            self._focus_panel()
        else:
            self.story_area.focus()

    def action_next_panel(self) -> None:
        tabs = self.query_one(TabbedContent)
        current = PANELS.index(tabs.active) if tabs.active in PANELS else -1
        tabs.active = PANELS[(current + 1) % len(PANELS)]
        self.panels_open = True
        self._focus_panel()

    def action_settings(self) -> None:
        self.query_one(TabbedContent).active = "tab-settings"
        self.panels_open = True
        self._focus_panel()

    def _focus_panel(self) -> None:
        self.query_one(PANEL_FOCUS.get(self.query_one(TabbedContent).active, "#ledger-table")).focus()

    def action_close(self) -> None:
        self.shutdown()
        self.app.pop_screen()

    def action_help(self) -> None:
        from tui.app.screens.help import HelpScreen

        bindings = [
            b for node in (self, self.app) for bs in node._bindings.key_to_bindings.values() for b in bs
        ]
        bindings += [b for b in LoreTable.BINDINGS if isinstance(b, Binding)]
        self.app.push_screen(HelpScreen(bindings, extra=NOVEL_KEYS, note=NOVEL_HELP))

    # ----- the panels --------------------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "lore-test":
            self._show_lore_test()
        elif event.input.id == "note-depth" and event.value.strip() not in ("", "-"):
            try:
                self.session.edit(note_depth=int(event.value))
            except (StableLMTuiError, ValueError) as exc:
                self.notify(str(exc), title="脚注", severity="warning", markup=False)
                return
            self.schedule_plan()

    @property
    def settings_panel(self) -> StorySettings:
        return self.query_one(StorySettings)

    def _apply_settings(self, changes: dict[str, object]) -> Story:
        story = self.session.edit(**changes)  # checked like the story file; raises, changing nothing
        self.schedule_plan(0)
        return story

    def shutdown(self) -> None:
        with suppress(NoMatches):
            self.settings_panel.commit()  # a value typed just before leaving is the writer's too
        super().shutdown()

    def _show_lore_test(self) -> None:
        text = self.query_one("#lore-test", Input).value
        story = self.session.story
        fired = entries_fired_by(story.lore, text, fold_kana=story.fold_kana) if text else []
        self.lore_panel.show_test(text, story.lore, fired)

    def _set_lore(self, lore: tuple[LoreEntry, ...], cursor: int | None = None) -> bool:
        try:
            self.session.edit(lore=lore)
        except StableLMTuiError as exc:
            self.notify(str(exc), title="lorebook", severity="error", markup=False)
            return False
        self.lore_panel.show_lore(lore, cursor)
        self._show_lore_test()
        self.schedule_plan(0)
        return True

    def _check_entry(self, index: int | None) -> object:
        def check(entry: LoreEntry) -> str | None:
            lore = list(self.session.story.lore)
            if index is None:
                lore.append(entry)
            else:
                lore[index] = entry
            from tui.novel.schema import check_story

            try:
                check_story(dataclasses.replace(self.session.story, lore=tuple(lore)), "lorebook")
            except StableLMTuiError as exc:
                return str(exc)
            return None

        return check

    def on_lore_table_entry_requested(self, message: LoreTable.EntryRequested) -> None:
        from tui.app.screens.lore_entry import LoreEntryScreen

        lore = self.session.story.lore
        index = message.index
        if message.request == "toggle" and index is not None:
            entry = lore[index]
            self._set_lore(
                (*lore[:index], dataclasses.replace(entry, enabled=not entry.enabled), *lore[index + 1 :])
            )
        elif message.request == "delete" and index is not None:
            self._set_lore((*lore[:index], *lore[index + 1 :]))
            self.notify(Text(f"deleted entry #{index + 1}").plain, markup=False)
        elif message.request in ("new", "edit"):
            editing = index if message.request == "edit" else None
            entry = lore[editing] if editing is not None else LoreEntry()
            title = f"Lorebook entry #{editing + 1}" if editing is not None else "New lorebook entry"

            def apply(result: LoreEntry | None) -> None:
                if result is None:
                    return
                current = self.session.story.lore
                if editing is None:
                    self._set_lore((*current, result), len(current))
                else:
                    self._set_lore((*current[:editing], result, *current[editing + 1 :]), editing)

            self.app.push_screen(LoreEntryScreen(entry, title, self._check_entry(editing)), apply)  # type: ignore[arg-type]
