"""The chat application: holds the screens and routes what is not a screen's own (quit, signals, the palette).

The chat itself (its widgets, workers, keys and reply lifecycle) is tui.app.screens.chat.ChatScreen, the
default screen. The app saves through it on quit, on SIGHUP/SIGTERM and after --idle-minutes without a key, and
beats the VM's idle heartbeat on every key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tui.app.screens.chat import ChatScreen


class ChatApp(App[int]):
    CSS_PATH = "app.tcss"
    # Below 110 columns the inspector replaces the chat instead of sharing the width (app.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012  (Textual declares it mutable)

    def __init__(
        self,
        chat: ChatScreen,
        *,
        heartbeat: Any = None,
        handle_signals: bool = False,
        idle_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        first_screen: Screen[Any] | None = None,
    ) -> None:
        super().__init__()
        self.chat_screen = chat
        self.first_screen = first_screen
        """A screen opened over the chat at start (`stablelm-tui novel open`); the chat stays beneath it."""
        self.heartbeat = heartbeat
        """tui.vminfo.Heartbeat: user activity keeps the VM's idle watchdog from stopping it."""
        self.handle_signals = handle_signals
        self.idle_s = idle_s
        """Save and quit after this long without a key (`chat --idle-minutes`), so a forgotten browser tab
        does not keep a scale-to-zero instance up; None: never."""
        self._clock = clock
        self._last_activity = clock()
        self._saved = False

    def on_load(self) -> None:
        self.title = "stablelm-tui"

    async def on_mount(self) -> None:
        # Pushed and awaited here (not returned as the default screen, which mounts after the app is ready), so
        # the input has the focus before the first key arrives.
        await self.push_screen(self.chat_screen)
        if self.first_screen is not None:
            await self.push_screen(self.first_screen)
        if self.handle_signals:
            self._install_signal_handlers()
        if self.idle_s is not None:
            self.set_interval(min(30.0, self.idle_s / 4), self._end_if_idle)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._last_activity = self._clock()
            if self.heartbeat is not None:
                self.heartbeat.beat()  # rate-limited inside; a no-op off the VM
        await super().on_event(event)

    def _end_if_idle(self) -> None:
        assert self.idle_s is not None
        if self.chat_screen.generating:
            # A long reply is the user waiting, not the user gone: the clock starts when it ends.
            self._last_activity = self._clock()
            return
        if self._clock() - self._last_activity >= self.idle_s:
            self.save_and_exit()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette (ctrl+p) lists every action of the screen by name, beside Textual's own."""
        yield from super().get_system_commands(screen)
        for binding in screen.BINDINGS:
            if not isinstance(binding, Binding) or binding.action.startswith("app."):
                continue
            if not screen.check_action(binding.action, ()):
                continue
            yield SystemCommand(
                binding.tooltip.capitalize(),
                f"key: {binding.key}",
                partial(screen.run_action, binding.action),
            )

    def _install_signal_handlers(self) -> None:
        """SIGTERM (spot preemption, shutdown): save, then exit cleanly. SIGHUP (the SSH link dropped, the tmux
        session was killed): save, then leave at once (hang_up)."""
        import asyncio
        import signal

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.save_and_exit)
        loop.add_signal_handler(signal.SIGHUP, self.hang_up)

    def _shut_down_screens(self) -> None:
        """Save what every open screen holds: the chat, and a story open in the novel screen."""
        for screen in self.screen_stack:
            if screen is not self.chat_screen and hasattr(screen, "shutdown"):
                screen.shutdown()
        self.chat_screen.shutdown()
        self._saved = True

    def save_and_exit(self) -> None:
        self._shut_down_screens()
        self.exit(0)

    def on_unmount(self) -> None:
        """The app ended without our quit: textual-serve tells a tab's app to quit when the browser tab closes
        (Textual's own ExitApp). Save what the quit would have saved: the reply so far, whole."""
        if not self._saved:
            self._shut_down_screens()

    def hang_up(self) -> None:
        """The terminal is gone. Everything is saved and the store closed first; then the process ends without
        Textual's own exit, which would try to restore a terminal that no longer exists: its output thread dies
        on the first write and the exit waits for it forever (tests/functional/test_tmux_signals.py)."""
        import os

        self._shut_down_screens()
        self.chat_screen.close_store()
        os._exit(0)

    async def action_quit(self) -> None:
        self.save_and_exit()
