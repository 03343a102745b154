"""Actions that open a modal screen and apply its answer: settings, session picker, preset picker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.chat.settings import ChatSettings

if TYPE_CHECKING:
    from tui.app.app import ChatApp


def open_settings(app: ChatApp) -> None:
    from tui.app.screens.settings import SettingsScreen

    def apply(result: ChatSettings | None) -> None:
        if result is None:
            return
        app.chat_settings = result
        app.autosave.update_settings(app.settings_record())
        app.schedule_plan(0)

    app.push_screen(
        SettingsScreen(
            app.chat_settings,
            max_window=app.services.context_window,
            active_template=app.services.template_name(app.mode, app.chat_settings),
        ),
        apply,
    )


def open_sessions(app: ChatApp) -> None:
    if app.store is None:
        return
    from tui.app.screens.sessions import SessionPicker

    async def chosen(conversation_id: int | None) -> None:
        if conversation_id is None or app.store is None:
            return
        if app.generating:
            app.notify("stop the reply first (Esc)", markup=False)
            return
        from tui.chat.autosave import Autosave
        from tui.chat.resume import restore

        app.save_now()
        try:
            conversation, recorder, settings, mode = restore(app.store, conversation_id)
        except Exception as exc:  # StoreError: say why and keep the current conversation
            app.notify(str(exc), title="sessions", severity="error", markup=False)
            return
        app.chat_settings = settings
        if mode is not None:
            app.mode = mode
            app.status.set(mode=mode)
        await app.load_conversation(conversation, Autosave(recorder))

    app.push_screen(SessionPicker(app.store), chosen)


def open_preset_picker(app: ChatApp) -> None:
    if not (app.services_factory and app.preset_names):
        return
    from tui.app.screens.presets import PresetPicker

    def chosen(name: str | None) -> None:
        if name is None or app.services_factory is None:
            return
        if app.generating:
            app.notify("stop the reply first (Esc)", markup=False)
            return
        try:
            services = app.services_factory(name)
        except Exception as exc:
            app.notify(str(exc), title="preset", severity="error", markup=False)
            return
        app.services.close()
        app.services = services
        app.attach_services()
        app.refresh_status_base()
        app.schedule_plan(0)
        if not app.services.is_resident(app.mode):
            app.start_load(app.mode)

    app.push_screen(PresetPicker(app.preset_names, app.services.preset_name), chosen)
