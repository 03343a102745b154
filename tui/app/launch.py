"""Build the app from the command line's arguments and run it (`stablelm-tui chat`)."""

from __future__ import annotations

import argparse
from typing import Any

from tui.errors import UserError
from tui.presets import MODES, Preset


def _services_for(preset: Preset, args: argparse.Namespace) -> Any:
    from tui.app.core_services import CoreServices
    from tui.tokenizers import tokenizer_for_preset

    tokenizer = tokenizer_for_preset(preset)  # cached per spec: the planner and the engine share it
    backend = getattr(args, "backend", None)
    base_url = getattr(args, "base_url", None)
    server = getattr(args, "server", None)
    remote = base_url or server or any(preset.remote_for(m)[0] for m in MODES)
    if backend == "openai" or (backend is None and remote):
        from tui.app.hosts import RemoteHost
        from tui.engine.remote import backend_for_preset

        backends = {
            mode: backend_for_preset(preset, mode, tokenizer, base_url=base_url, server=server)
            for mode in MODES
        }
        host: Any = RemoteHost(backends, backends["instruct"].config.base_url)
        return CoreServices(preset, host, backend_name="openai")
    from tui.app.hosts import PairHost

    device = getattr(args, "device", None) or "auto"
    return CoreServices(preset, PairHost(preset, tokenizer, device=device), backend_name="local")


def _vm_status() -> str:
    """The VM's elapsed time, cost and idle countdown (tui.vminfo); empty when not on a provisioned VM."""
    from tui.vminfo import format_status, read_status

    status = read_status()
    return format_status(status) if status is not None else ""


def launch(args: argparse.Namespace, preset: Preset) -> int:
    from tui.app.app import ChatApp
    from tui.app.conversation import Conversation, ModeName
    from tui.app.settings import ChatSettings
    from tui.presets import load_settings
    from tui.recorder import ConversationRecorder
    from tui.store import SessionStore, StoreError
    from tui.vminfo import Heartbeat

    settings = load_settings()
    services = _services_for(preset, args)
    mode: ModeName = "base" if getattr(args, "mode", None) == "base" else "instruct"
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
        from tui.app.resume import restore

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
