"""The 設定 panel of the novel screen: scan window, lore budget, reply length and 禁止ワード, by keyboard.

The panel reads what is typed (tui.novel.settings) and hands valid changes to the screen's `apply`, which makes
them through the NovelSession (checked like the story file) and re-plans. A refused value is one sentence on the
panel's message line as it is typed; the story keeps what it had, and leaving the field shows the saved value.

A valid value is applied on Enter, on leaving the field, before a continuation is written, or once the writer
stops typing for a moment (SETTLE_S): never per keystroke, so erasing 300 to type 250 does not save 30 and 3 on
the way, nor does typing 魔王 ban 魔 first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static, TextArea

from tui.errors import StableLMTuiError
from tui.novel.settings import (
    LORE_BUDGET,
    REPLY_TOKENS,
    SCAN_TOKENS,
    TOKEN_SETTINGS,
    TokenSetting,
    read_banned,
    read_tokens,
    show_banned,
)
from tui.novel.story import Story

INPUT_IDS = {
    SCAN_TOKENS.field: "scan-tokens",
    LORE_BUDGET.field: "lore-budget",
    REPLY_TOKENS.field: "reply-tokens",
}
HINTS = {
    SCAN_TOKENS.field: "last tokens searched for lore keys",
    LORE_BUDGET.field: "tokens for entries keys fire",
    REPLY_TOKENS.field: "tokens; empty: the preset's",
}
SETTLE_S = 0.8
Apply = Callable[[dict[str, Any]], Story]
"""Make the changes (Story field -> value) to the story; returns it, or raises StableLMTuiError saying why not."""
BANNED_TIP = (
    "禁止ワード: one word or phrase per line (a phrase may hold 、 or a comma); the model never writes them"
)


class StorySettings(Vertical):
    DEFAULT_CSS = """
    StorySettings .setting-row { height: 1; }
    StorySettings .setting-row Label { width: 13; }
    StorySettings .setting-row Input { border: none; height: 1; width: 7; padding: 0 1; }
    StorySettings .setting-row .setting-hint { width: 1fr; padding-left: 1; color: $text-muted; }
    StorySettings #banned-label { height: 1; }
    StorySettings #banned { height: 1fr; border: none; }
    StorySettings #settings-message { height: auto; min-height: 1; max-height: 3; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.story = Story()
        self.window = 0
        self._apply: Apply | None = None
        self._pending: set[str] = set()
        """Ids of the fields edited since their value was last applied."""
        self._settle: Any = None

    def compose(self) -> ComposeResult:
        for setting in TOKEN_SETTINGS:
            with Horizontal(classes="setting-row"):
                yield Label(setting.label)
                yield Input(id=INPUT_IDS[setting.field], tooltip=f"{setting.label}: {HINTS[setting.field]}")
                yield Static(HINTS[setting.field], classes="setting-hint")
        yield Static(id="settings-message")
        yield Label("禁止ワード (one per line):", id="banned-label")
        yield TextArea(id="banned", soft_wrap=True, tooltip=BANNED_TIP)

    def show(self, story: Story, *, window: int, preset_reply: int, apply: Apply) -> None:
        """Fill the fields from `story` (on mount); `apply` makes a writer's valid changes."""
        self.story, self.window, self._apply = story, window, apply
        for setting in TOKEN_SETTINGS:
            self._input(setting).value = self._saved_text(setting)
        self.query_one("#reply-tokens", Input).placeholder = f"{preset_reply}"
        self.query_one("#banned", TextArea).load_text(show_banned(story.banned))
        self._pending.clear()

    def commit(self) -> None:
        """Apply every edited field that holds a valid value (the rest keep their refusal)."""
        if self._settle is not None:
            self._settle.stop()
            self._settle = None
        changes: dict[str, Any] = {}
        for setting in TOKEN_SETTINGS:
            if INPUT_IDS[setting.field] in self._pending:
                valid, value = self._read(setting)
                if valid:
                    changes[setting.field] = value
        if "banned" in self._pending:
            changes["banned"] = read_banned(self.query_one("#banned", TextArea).text)
        self._pending.clear()
        changes = {field: value for field, value in changes.items() if getattr(self.story, field) != value}
        if not changes or self._apply is None:
            return
        try:
            self.story = self._apply(changes)
        except StableLMTuiError as exc:  # the story file's own rules; the story keeps what it had
            self._refuse(str(exc))
            return
        said = [
            f"{s.label} {self._saved_text(s) or s.empty_means}" for s in TOKEN_SETTINGS if s.field in changes
        ]
        if "banned" in changes:
            said.append(f"{len(self.story.banned)} 禁止ワード")
        self._say(Text("saved: " + ", ".join(said), style="dim"))

    def _read(self, setting: TokenSetting) -> tuple[bool, int | None]:
        """(True, the field's value), or (False, None) with the refusal said."""
        try:
            keeps = getattr(self.story, setting.field)
            return True, read_tokens(setting, self._input(setting).value, window=self.window, keeps=keeps)
        except StableLMTuiError as exc:
            self._refuse(str(exc))
            return False, None

    def _edited(self, widget_id: str) -> None:
        self._pending.add(widget_id)
        if self._settle is not None:
            self._settle.stop()
        self._settle = self.set_timer(SETTLE_S, self.commit)

    def _refuse(self, reason: str) -> None:
        self._say(Text(reason, style="bold #ff5f5f"))

    def _say(self, text: Text) -> None:
        self.query_one("#settings-message", Static).update(text)

    def _input(self, setting: TokenSetting) -> Input:
        return self.query_one(f"#{INPUT_IDS[setting.field]}", Input)

    def _saved_text(self, setting: TokenSetting) -> str:
        value = getattr(self.story, setting.field)
        return "" if value is None else str(value)

    def _setting_of(self, input_id: str | None) -> TokenSetting | None:
        return next((s for s in TOKEN_SETTINGS if INPUT_IDS[s.field] == input_id), None)

    def on_input_changed(self, event: Input.Changed) -> None:
        setting = self._setting_of(event.input.id)
        if setting is None or not self.window:
            return
        event.stop()
        if event.value == self._saved_text(setting):
            self._pending.discard(INPUT_IDS[setting.field])
        elif self._read(setting)[0]:
            self._say(
                Text(
                    f"{setting.label} {event.value.strip() or setting.empty_means}: Enter saves", style="dim"
                )
            )
            self._edited(INPUT_IDS[setting.field])
        else:
            self._pending.discard(INPUT_IDS[setting.field])

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._setting_of(event.input.id) is not None:
            event.stop()
            self.commit()

    def on_input_blurred(self, event: Input.Blurred) -> None:
        """Leaving a field applies its value, or, refused, shows the saved one again (the message stays)."""
        setting = self._setting_of(event.input.id)
        if setting is None or not self.window:
            return
        self.commit()
        if event.input.value != self._saved_text(setting):
            event.input.value = self._saved_text(setting)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if event.text_area.id == "banned" and self.window:
            event.stop()
            if read_banned(event.text_area.text) != self.story.banned:
                self._edited("banned")

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        if event.widget is self.query_one("#banned", TextArea):
            self.commit()
