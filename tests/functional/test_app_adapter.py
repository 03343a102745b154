"""The LoRA key (ctrl+l) and the compare view (F2), driven by keys through the real demo model and a real adapter."""

from __future__ import annotations

from typing import Any

import pytest
from textual.notifications import Notify

from tests.functional.app_helpers import make_app, wait_for
from tests.functional.scripted import ScriptedBackend, ScriptedHost
from tui.app.app import ChatApp
from tui.app.screens.chat import ChatScreen
from tui.app.screens.compare import ComparePane, CompareScreen
from tui.chat.settings import ChatSettings
from tui.engine.factory import EngineChoice, open_host
from tui.engine.hosts import PairHost
from tui.presets import load_settings

PROMPT = "吾輩は猫である。"
GREEDY = ChatSettings(max_new_tokens=12, temperature=0)


@pytest.fixture(scope="module")
def adapter_host(trained_adapter: dict[str, Any]) -> PairHost:
    choice = EngineChoice(device="cpu", residency="both", adapters={"base": str(trained_adapter["dir"])})
    host = open_host(load_settings().preset("demo"), choice)
    assert isinstance(host, PairHost)
    return host


def notes(messages: list[Any]) -> str:
    return "\n".join(m.notification.message for m in messages if isinstance(m, Notify))


async def reply_to_last(pilot: Any, screen: ChatScreen, key: str | None = None) -> str:
    turns = len(screen.conversation.turns)
    if key is None:
        screen.composer.load_text(PROMPT)
        await pilot.press("enter")
        turns += 2
    else:
        await pilot.press(key)
    await wait_for(
        pilot,
        lambda: (
            not screen.generating
            and len(screen.conversation.turns) == turns
            and screen.conversation.turns[-1].reason is not None
        ),
        120,
    )
    return screen.conversation.turns[-1].content


@pytest.mark.slow
async def test_ctrl_l_switches_the_adapter_in_place_and_the_greedy_reply_follows(
    adapter_host: PairHost,
) -> None:
    app = make_app(adapter_host, mode="base", settings=GREEDY)
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: adapter_host.is_resident("base") and screen.status.info.state == "ready", 120
        )
        assert "BASE+LoRA" in str(screen.status.render())
        with_adapter = await reply_to_last(pilot, screen)
        loads, model = adapter_host.pair.loads, adapter_host.backend("base").model

        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: not screen.status.info.lora)
        assert " BASE " in str(screen.status.render()) and "LoRA" not in str(screen.status.render())
        without = await reply_to_last(pilot, screen, "ctrl+r")
        assert without != with_adapter

        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: screen.status.info.lora)
        assert await reply_to_last(pilot, screen, "ctrl+r") == with_adapter
        # The same model object, never read from disk again: the adapter was switched in place.
        assert adapter_host.pair.loads == loads and adapter_host.backend("base").model is model


async def test_ctrl_l_on_a_mode_without_an_adapter_says_how_to_get_one() -> None:
    messages: list[Any] = []
    app = make_app(ScriptedHost())
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await pilot.press("ctrl+l")
        await pilot.pause(0.1)
        assert "the instruct model has no LoRA adapter" in notes(messages)
        assert "chat --adapter instruct=DIR" in notes(messages)
        assert "LoRA" not in str(app.chat_screen.status.render())


async def run_comparison(pilot: Any, app: ChatApp, message: str, *, opened: bool = False) -> CompareScreen:
    if not opened:
        await pilot.press("f2")
    await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
    compare = app.screen
    assert isinstance(compare, CompareScreen)
    await pilot.press(*message, "enter")
    await wait_for(pilot, lambda: compare.runs_done == 1, 120)
    await pilot.pause(0.1)
    return compare


@pytest.mark.slow
async def test_compare_view_shows_base_with_and_without_the_adapter_and_restores_the_toggle(
    adapter_host: PairHost,
) -> None:
    app = make_app(adapter_host, mode="base", settings=GREEDY)
    screen = app.chat_screen
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: screen.status.info.state == "ready", 120)
        await pilot.press("ctrl+l")  # the chat runs without the adapter; the view switches it for its B side
        await wait_for(pilot, lambda: adapter_host.adapter_on("base") is False)
        compare = await run_comparison(pilot, app, PROMPT)
        first, second = compare.query(ComparePane)
        assert compare.query_one("#compare-variants").value == "base,base+lora"  # type: ignore[attr-defined]
        assert "A · base ·" in str(first.query_one(".compare-label").render())
        assert "B · base+lora ·" in str(second.query_one(".compare-label").render())
        assert first.text and second.text and first.text != second.text
        # Back in the chat, the adapter is as the user left it: off.
        assert adapter_host.adapter_on("base") is False
        await pilot.press("escape")
        assert app.screen is screen and not screen.status.info.lora
    adapter_host.set_adapter("base", True)  # as the module's other tests expect it


@pytest.mark.parametrize(("size", "side_by_side"), [((80, 24), False), ((120, 40), True)])
async def test_compare_view_streams_both_variants_side_by_side_or_stacked_when_narrow(
    size: tuple[int, int], side_by_side: bool
) -> None:
    host = ScriptedHost(
        base=ScriptedBackend(chunks=["猫", "です", "。"]), instruct=ScriptedBackend(delay_s=0.01)
    )
    app = make_app(host)
    async with app.run_test(size=size) as pilot:
        compare = await run_comparison(pilot, app, "こんにちは")
        first, second = compare.query(ComparePane)
        assert (first.text, second.text) == ("猫です。", "こんにちは、世界。")
        assert (first.region.y == second.region.y) is side_by_side
        # Both variants got the same message alone, each through its own template.
        assert "こんにちは" in host.base.requests[-1].prompt_text
        assert host.base.requests[-1].prompt_text != host.instruct.requests[-1].prompt_text
        assert host.base.requests[-1].seed == host.instruct.requests[-1].seed


async def test_compare_view_refuses_a_bad_variant_list_in_one_sentence() -> None:
    messages: list[Any] = []
    app = make_app(ScriptedHost())
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        variants = app.screen.query_one("#compare-variants")
        variants.value = "base+lora,instruct"  # type: ignore[attr-defined]
        await pilot.press("x", "enter")
        await pilot.pause(0.1)
        assert "the base model has no LoRA adapter in this chat" in notes(messages)
        assert not app.screen.running  # type: ignore[attr-defined]
