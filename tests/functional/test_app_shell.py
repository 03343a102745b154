"""Pilot tests of the app shell with a scripted model: send, stream, stop, toggle, literal output, keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.app_helpers import make_app, wait_for
from tests.functional.scripted import ScriptedBackend, ScriptedHost
from tui.app.messages import GenerationFinished
from tui.choices import Mode
from tui.context import ContextPlan, Message, plan_context
from tui.presets import load_settings
from tui.templates import load_template
from tui.tokenizers import tokenizer_for_preset


@pytest.fixture(autouse=True)
def _demo(demo_models: dict[str, Path]) -> None:
    """The demo preset's tokenizer lives in the demo model directory."""


def planned(mode: Mode, messages: list[Message], draft: str = "") -> ContextPlan:
    """The planner's own answer for the demo preset, computed here without the app."""
    preset = load_settings().preset("demo")
    return plan_context(
        messages,
        tokenizer=tokenizer_for_preset(preset),
        template=load_template(preset.mode(mode).template),
        window=preset.context_window,
        reserve=preset.mode(mode).generation.max_new_tokens,
        draft=draft,
    )


async def test_send_streams_reply_and_shows_model_label() -> None:
    host = ScriptedHost(instruct=ScriptedBackend(chunks=["一", "二", "三"] * 10, delay_s=0.005))
    app = make_app(host)
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"hello")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 2 and not screen.generating)
        reply = screen.conversation.turns[1]
        assert reply.content == "一二三" * 10
        assert reply.mode == "instruct" and reply.reason == "eos" and not reply.partial
        view = screen.chat.views[1]
        assert "INSTRUCT" in str(view.query_one(".message-label").render())
        assert "一二三一二三" in view.text
        assert screen.composer.text == ""
        # The engine got exactly the planner's ids for this conversation.
        request = host.instruct.requests[0]
        assert request.prompt_ids == planned("instruct", [Message("user", "hello")]).token_ids
        assert request.max_new_tokens == 256


async def test_stream_is_coalesced_and_tail_is_never_lost() -> None:
    chunks = [f"{i}," for i in range(300)]
    host = ScriptedHost(instruct=ScriptedBackend(chunks=chunks, delay_s=0.003))
    app = make_app(host)
    screen = app.chat_screen
    appended: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x", "enter")
        await wait_for(pilot, lambda: len(screen.chat.views) == 2)
        original = screen.chat.views[1].append

        async def spy(text: str) -> None:
            appended.append(text)
            await original(text)

        screen.chat.views[1].append = spy  # type: ignore[method-assign]
        await wait_for(
            pilot,
            lambda: not screen.generating and screen.conversation.turns[-1].reason is not None,
        )
    assert screen.conversation.turns[-1].content == "".join(chunks)
    # 300 chunks reached the screen in far fewer updates (15 Hz timer), and nothing was lost.
    assert 0 < len(appended) < 150


async def test_escape_stops_and_keeps_partial_text() -> None:
    host = ScriptedHost(instruct=ScriptedBackend(chunks=["あ"] * 400, delay_s=0.01))
    finished: list[GenerationFinished] = []

    def hook(message: object) -> None:
        if isinstance(message, GenerationFinished):
            finished.append(message)

    app = make_app(host)
    screen = app.chat_screen

    screen = app.chat_screen
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await pilot.press("q", "enter")
        await wait_for(
            pilot,
            lambda: len(screen.conversation.turns) == 2 and len(screen.conversation.turns[1].content) >= 3,
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.generating)
        reply = screen.conversation.turns[1]
        assert reply.reason == "cancelled" and reply.partial
        assert 3 <= len(reply.content) < 400
        assert "stopped" in str(screen.chat.views[1].query_one(".message-label").render())
    assert [m.reason for m in finished] == ["cancelled"]


async def test_model_output_is_shown_literally() -> None:
    evil = ["[red]x[/red] ", "[bold]b", "\x1b[2J", "\x07", " [/INST] [link=http://x]l[/link]"]
    app = make_app(ScriptedHost(instruct=ScriptedBackend(chunks=evil)))
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x", "enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 2 and not screen.generating)
        body = screen.chat.views[1].query_one(".message-body").render()
        shown = str(body)
        assert "[red]x[/red]" in shown and "[bold]b" in shown and "[/INST]" in shown
        assert "\x1b" not in shown and "\x07" not in shown
        assert "␛[2J" in shown and "␇" in shown
        # No style was produced by the markup-looking text.
        assert not any(span.style for span in getattr(body, "spans", []))


async def test_toggle_switches_mode_label_and_template() -> None:
    host = ScriptedHost()
    app = make_app(host)
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None and not screen.plan.error)
        assert screen.plan is not None and screen.plan.template == "ja-alpha-instruct"
        assert (screen.plan.total_tokens, screen.plan.reserve) == (planned("instruct", []).total_tokens, 256)
        await pilot.press("ctrl+t")
        assert screen.mode == "base"
        assert "BASE" in str(screen.status.render())
        await wait_for(
            pilot,
            lambda: screen.plan is not None and screen.plan.template == "ja-alpha-base-dialogue",
        )
        # The base template and the base model's reserve, at once: the planner's numbers for base mode.
        assert (screen.plan.total_tokens, screen.plan.reserve) == (planned("base", []).total_tokens, 128)
        await pilot.press("h", "i", "enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 2 and not screen.generating)
        assert screen.conversation.turns[1].mode == "base"
        assert host.base.requests and not host.instruct.requests


async def test_toggle_to_cold_model_shows_loading_and_stays_usable() -> None:
    host = ScriptedHost(cold={"base"}, load_s=0.6)
    app = make_app(host)
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: screen.status.info.state == "loading")
        await pilot.press(*"typing")
        assert screen.composer.text == "typing"  # still usable while loading
        await wait_for(pilot, lambda: screen.status.info.state == "ready")
        assert screen.status.info.load_done == 4


async def test_command_palette_runs_chat_actions() -> None:
    app = make_app(ScriptedHost())
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        titles = [command.title for command in app.get_system_commands(screen)]
        for title in (
            "Switch base / instruct model",
            "Context inspector on/off",
            "Regenerate the last reply",
        ):
            assert title in titles
        assert "Continue the reply (base)" not in titles  # only in base mode, as the key
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"switch base")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.mode == "base")
        assert app.screen is screen and "BASE" in str(screen.status.render())
        assert "Continue the reply (base)" in [command.title for command in app.get_system_commands(screen)]


async def test_key_bar_shows_every_binding_at_80_columns() -> None:
    app = make_app(ScriptedHost())
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        shown = str(screen.query_one("#keys").render())
        for label in ("Stop", "Mode", "Inspect", "Regen", "New", "Settings", "Sessions", "Copy", "Help", "Quit",
                      "Newline", "Palette"):  # fmt: skip
            assert label in shown, label
        assert all(len(line) <= 78 for line in shown.splitlines())


async def test_regenerate_and_continue_in_base_mode() -> None:
    host = ScriptedHost(base=ScriptedBackend(chunks=["続き", "です"]))
    app = make_app(host, mode="base")
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q", "enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 2 and not screen.generating)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(host.base.requests) == 2 and not screen.generating)
        assert len(screen.conversation.turns) == 2 and len(screen.chat.views) == 2
        assert host.base.requests[0].prompt_ids == host.base.requests[1].prompt_ids
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: len(host.base.requests) == 3 and not screen.generating)
        # The continued prompt is the reply's prompt plus the reply so far; the reply grows in place.
        first, cont = host.base.requests[1].prompt_ids, host.base.requests[2].prompt_ids
        assert cont[: len(first)] == first and len(cont) > len(first)
        assert screen.conversation.turns[1].content == "続きです続きです"


async def test_markdown_toggle_keeps_text_literal_markup() -> None:
    app = make_app(ScriptedHost(instruct=ScriptedBackend(chunks=["**bold** ", "[red]x[/red]"])))
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f8", "q", "enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 2 and not screen.generating)
        from textual.widgets import Markdown

        md = screen.chat.views[1].query_one(Markdown)
        assert md.source == "**bold** [red]x[/red]"
        await pilot.press("f8")
        await pilot.pause(0.1)
        assert "[red]x[/red]" in screen.chat.views[1].text


async def test_long_reply_streams_into_blocks_and_reads_back_whole() -> None:
    chunks = [f"行{i}の文章です。\n" if i % 5 == 4 else f"語{i} " for i in range(400)]
    app = make_app(ScriptedHost(instruct=ScriptedBackend(chunks=chunks, delay_s=0.001)))
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x", "enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 2 and not screen.generating)
        view = screen.chat.views[1]
        assert len(view.query(".message-block")) > 2  # earlier paragraphs are frozen, not re-rendered
        assert view.text == "".join(chunks)


async def test_failed_reply_keeps_partial_and_status_says_error() -> None:
    """A reply that fails mid-stream keeps its text, is labelled error, and the status line does not say ready."""
    host = ScriptedHost(
        instruct=ScriptedBackend(chunks=["一", "二", "三", "四"], fail_with=RuntimeError("boom"))
    )
    app = make_app(host)
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q", "enter")
        await wait_for(pilot, lambda: len(screen.conversation.turns) == 2 and not screen.generating)
        reply = screen.conversation.turns[1]
        assert reply.content == "一二" and reply.reason == "error" and reply.partial
        assert screen.status.info.state == "error"


async def test_store_that_cannot_open_is_said_in_the_status_line() -> None:
    """When the session store could not be opened, the status line says nothing is saved from the start."""
    app = make_app(ScriptedHost(), save_unavailable="sessions are not saved: s.sqlite3 is damaged")
    screen = app.chat_screen
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause(0.1)
        assert "unsaved: sessions are not saved" in str(screen.status.render())


async def test_settings_dialog_reloads_the_models_with_another_residency_and_keeps_them_on_failure() -> None:
    from textual.widgets import Select

    from tui.app.screens.settings import SettingsScreen
    from tui.engine.errors import EngineError
    from tui.engine.factory import EngineChoice

    opened: list[EngineChoice] = []
    replacement = ScriptedHost()

    def open_host(preset: object, engine: EngineChoice) -> ScriptedHost:
        opened.append(engine)
        if engine.quantize == "int8":
            raise EngineError("int8 quantization needs a CUDA GPU; on cpu run the model in full precision")
        return replacement

    first = ScriptedHost()
    app = make_app(first, open_host=open_host, presets={"demo": load_settings().preset("demo")})
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        app.screen.query_one("#quantize", Select).value = "int8"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.pause(0.1)
        assert opened[-1].quantize == "int8" and screen.core.host is first  # refused: the models stay
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        assert app.screen.query_one("#quantize", Select).value == "none"
        app.screen.query_one("#residency", Select).value = "single"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.core.host is replacement)
        assert (opened[-1].quantize, opened[-1].residency) == ("none", "single")
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        assert app.screen.query_one("#residency", Select).value == "single"  # the dialog shows what runs now
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen)
        assert len(opened) == 2  # saving unchanged engine settings reloads nothing
