"""Build the app from the command line's arguments and run it (`stablelm-tui chat`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from tui.errors import UserError
from tui.presets import Preset


def _vm_status() -> str:
    """The VM's elapsed time, cost and idle countdown (tui.vminfo); empty when not on a provisioned VM."""
    from tui.vminfo import format_status, read_status

    status = read_status()
    return format_status(status) if status is not None else ""


def launch(
    args: argparse.Namespace, preset: Preset, *, first_screen: Callable[[Any], Any] | None = None
) -> int:
    """first_screen: builds a screen to open over the chat at start, from the chat screen (`novel open`)."""
    from tui.app.app import ChatApp
    from tui.app.screens.chat import ChatScreen
    from tui.chat.conversation import Conversation
    from tui.chat.settings import ChatSettings
    from tui.choices import Mode
    from tui.engine.factory import EngineChoice, open_host
    from tui.presets import load_settings
    from tui.recorder import ConversationRecorder
    from tui.store import SessionStore, StoreError
    from tui.vminfo import Heartbeat

    settings = load_settings()
    engine = EngineChoice.from_args(args, leave_core_for_ui=True)
    host = open_host(preset, engine)  # a bad device, URL or quantization stops here, before the screen opens
    mode: Mode = "base" if getattr(args, "mode", None) == "base" else "instruct"
    chat_settings = ChatSettings(seed=getattr(args, "seed", None))
    conversation = Conversation()
    store: SessionStore | None = None
    recorder: ConversationRecorder | None = None
    save_unavailable = ""
    try:
        store = SessionStore()
    except StoreError as exc:
        if getattr(args, "resume", None) is not None:
            raise
        # The chat still opens; the status line says, for the whole session, that nothing is being saved.
        save_unavailable = f"sessions are not saved: {exc}"
    resume = getattr(args, "resume", None)
    if store is not None and resume is not None:
        from tui.chat.resume import restore

        conversation_id = store.latest_id() if resume == -1 else resume
        if conversation_id is None:
            raise UserError("no saved conversation to resume yet")
        conversation, recorder, chat_settings, saved_mode = restore(store, conversation_id)
        mode = saved_mode or mode
    if store is not None and recorder is None:
        recorder = ConversationRecorder(store, settings={"preset": preset.name, "mode": mode})

    heartbeat = Heartbeat.for_this_vm()
    chat = ChatScreen(
        preset,
        host,
        mode=mode,
        settings=chat_settings,
        conversation=conversation,
        recorder=recorder,
        store=store,
        save_unavailable=save_unavailable,
        presets=settings.presets,
        engine=engine,
        open_host=open_host,
        vm_status=_vm_status,
        heartbeat=heartbeat,
    )
    opened = first_screen(chat) if first_screen is not None else None
    result = ChatApp(chat, heartbeat=heartbeat, handle_signals=True, first_screen=opened).run()
    if store is not None:
        store.close()
    return int(result or 0)
