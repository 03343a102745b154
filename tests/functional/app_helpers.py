"""Shared pieces of the Pilot tests: build the app on the demo preset with a scripted or real model host."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tui.app.app import ChatApp
from tui.app.screens.chat import ChatScreen
from tui.presets import load_settings


def make_app(host: Any, *, heartbeat: Any = None, handle_signals: bool = False, **chat: Any) -> ChatApp:
    """The app on the demo preset; `chat` are ChatScreen's options (mode, settings, recorder, store...)."""
    screen = ChatScreen(load_settings().preset("demo"), host, heartbeat=heartbeat, **chat)
    return ChatApp(screen, heartbeat=heartbeat, handle_signals=handle_signals)


async def wait_for(pilot: Any, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Let the app run until `condition()` holds (workers run in threads, so poll rather than sleep fixed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


def screen_text(app: ChatApp) -> str:
    """Everything the chat pane shows, as plain text."""
    return "\n".join(v.text for v in app.chat_screen.chat.views)
