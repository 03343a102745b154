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
    from tui.lifeline import end_with_parent_from_env

    end_with_parent_from_env()  # a browser tab's app (stablelm-tui web): SIGTERM, so saved, if web dies
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
    hold = None
    if store is not None and getattr(args, "continue_last", False):
        resume, hold = _continue_target(store, {"preset": preset.name, "mode": mode})
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
    idle_minutes = getattr(args, "idle_minutes", None)
    opened = first_screen(chat) if first_screen is not None else None
    app = ChatApp(
        chat,
        heartbeat=heartbeat,
        handle_signals=True,
        idle_s=idle_minutes * 60 if idle_minutes else None,
        first_screen=opened,
    )
    result = app.run()
    if store is not None:
        store.close()
    if hold is not None:
        hold.release()
    return int(result or 0)


def _continue_target(store: Any, settings: dict[str, Any]) -> tuple[int, Any]:
    """`--continue`: the newest conversation when no other app has it open, else a new one created now.

    Each `web` tab runs `chat --continue`: reopening a tab resumes where it was, and a second tab opened beside
    it gets a conversation of its own instead of writing into the first one's. The new conversation is created
    (and held) at once, not at its first message, so a third tab cannot take it either.
    """
    from tui.chat.open_lock import try_hold

    latest = store.latest_id()
    if latest is not None and (hold := try_hold(latest)) is not None:
        return latest, hold
    fresh = store.create_conversation(settings=settings)
    hold = try_hold(fresh)
    return fresh, hold
