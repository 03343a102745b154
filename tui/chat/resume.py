"""Turn a stored conversation back into the app's Conversation, with a recorder that keeps saving to it."""

from __future__ import annotations

from typing import Any

from tui.chat.conversation import Conversation, Turn
from tui.chat.settings import ChatSettings
from tui.choices import MODES, Mode
from tui.recorder import ConversationRecorder
from tui.store import SessionStore
from tui.unknown_keys import reject_unknown_keys

RECORD_KEYS = frozenset({"preset", "mode", "template"})
"""Saved with a conversation besides the ChatSettings fields (see ChatApp.settings_record)."""
SAVED_SETTINGS_KEYS = RECORD_KEYS | frozenset(ChatSettings.__dataclass_fields__)


def restore(
    store: SessionStore, conversation_id: int
) -> tuple[Conversation, ConversationRecorder, ChatSettings, Mode | None]:
    stored = store.load(conversation_id)
    reject_unknown_keys(
        stored.settings, SAVED_SETTINGS_KEYS, f"{store.path}: conversation {stored.id}'s settings"
    )
    recorder = ConversationRecorder(store, conversation_id=stored.id, settings=dict(stored.settings))
    turns: list[Turn] = []
    for local_id, message in enumerate(stored.messages):
        role: Any = message.role
        writer: Any = message.mode if message.mode in MODES else None
        turns.append(
            Turn(
                role=role,
                content=message.content,
                mode=writer,
                partial=message.partial,
                reason=str(message.meta.get("reason")) if message.meta.get("reason") else None,
                pinned=message.pinned,
                local_id=local_id,
                meta=dict(message.meta),
                ids=message.token_ids,
            )
        )
        recorder.adopt(local_id, message.id)
    settings = ChatSettings.from_dict(stored.settings)
    mode_setting = stored.settings.get("mode")
    active: Mode | None = mode_setting if mode_setting in MODES else None
    return Conversation(turns), recorder, settings, active
