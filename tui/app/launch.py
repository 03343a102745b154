"""Build the app from the command line's arguments and run it (`stablelm-tui chat`)."""

from __future__ import annotations

import argparse
from typing import Any

from tui.errors import UserError
from tui.presets import Preset


def _services_for(preset: Preset, args: argparse.Namespace) -> Any:
    from tui.chat.core_services import CoreServices
    from tui.engine.factory import EngineChoice, open_host

    return CoreServices(preset, open_host(preset, EngineChoice.from_args(args, leave_core_for_ui=True)))


def _vm_status() -> str:
    """The VM's elapsed time, cost and idle countdown (tui.vminfo); empty when not on a provisioned VM."""
    from tui.vminfo import format_status, read_status

    status = read_status()
    return format_status(status) if status is not None else ""


def launch(args: argparse.Namespace, preset: Preset) -> int:
    from tui.app.app import ChatApp
    from tui.chat.conversation import Conversation
    from tui.chat.settings import ChatSettings
    from tui.choices import Mode
    from tui.presets import load_settings
    from tui.recorder import ConversationRecorder
    from tui.store import SessionStore, StoreError
    from tui.vminfo import Heartbeat

    settings = load_settings()
    services = _services_for(preset, args)
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

    def factory(name: str) -> Any:
        return _services_for(settings.preset(name), args)

    app = ChatApp(
        services,
        mode=mode,
        settings=chat_settings,
        conversation=conversation,
        recorder=recorder,
        store=store,
        services_factory=factory,
        preset_names=tuple(sorted(settings.presets)),
        vm_status=_vm_status,
        heartbeat=Heartbeat.for_this_vm(),
        handle_signals=True,
        save_unavailable=save_unavailable,
    )
    result = app.run()
    if store is not None:
        store.close()
    return int(result or 0)
