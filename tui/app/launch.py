"""Build the app from the command line's arguments and run it (`stablelm-tui chat`)."""

from __future__ import annotations

import argparse
from typing import Any

from tui.errors import UserError
from tui.presets import Preset


def _services_for(preset: Preset, backend: str | None, device: str = "auto") -> Any:
    from tui.app.core_services import CoreServices
    from tui.app.hosts import PairHost
    from tui.tokenizers import tokenizer_for_preset

    if backend == "openai":
        raise UserError("the OpenAI-compatible backend is not available in the TUI yet; use --backend local")
    # tokenizer_for_preset caches per spec: the host's detokenizer and the planner share one instance.
    return CoreServices(
        preset, PairHost(preset, tokenizer_for_preset(preset), device=device), backend_name="local"
    )


def _vm_status() -> Any:
    import importlib

    try:
        vminfo = importlib.import_module("tui.vminfo")  # written by the provisioning helper
    except ImportError:
        return None
    describe = getattr(vminfo, "status_text", None)
    return describe if callable(describe) else None


def launch(args: argparse.Namespace, preset: Preset) -> int:
    from tui.app.app import ChatApp
    from tui.app.conversation import Conversation, ModeName
    from tui.app.settings import ChatSettings
    from tui.presets import load_settings
    from tui.recorder import ConversationRecorder
    from tui.store import SessionStore, StoreError

    settings = load_settings()
    backend = getattr(args, "backend", None)
    device = getattr(args, "device", None) or "auto"
    services = _services_for(preset, backend, device)
    mode: ModeName = "base" if getattr(args, "mode", None) == "base" else "instruct"
    chat_settings = ChatSettings(seed=getattr(args, "seed", None))
    conversation = Conversation()
    store: SessionStore | None = None
    recorder: ConversationRecorder | None = None
    try:
        store = SessionStore()
    except StoreError as exc:
        if getattr(args, "resume", None) is not None:
            raise
        print(f"stablelm-tui: warning: sessions will not be saved: {exc}")
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
        return _services_for(settings.preset(name), backend, device)

    app = ChatApp(
        services,
        mode=mode,
        settings=chat_settings,
        conversation=conversation,
        recorder=recorder,
        store=store,
        services_factory=factory,
        preset_names=tuple(sorted(settings.presets)),
        vm_status=_vm_status(),
        handle_signals=True,
    )
    result = app.run()
    if store is not None:
        store.close()
    return int(result or 0)
