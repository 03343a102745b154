"""ctrl+l against a server: the chat switches its requests between `<model>` and the `<model>+lora` the server
serves (`stablelm-tui serve --adapter`), through a real local-engine server with a trained adapter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.notifications import Notify

from tests.functional.app_helpers import make_app, wait_for
from tests.functional.serve_helpers import Served, start_serve
from tests.functional.test_app_adapter import GREEDY, PROMPT, reply_to_last, run_comparison
from tui.app.screens.compare import ComparePane
from tui.engine.factory import EngineChoice, open_host
from tui.engine.hosts import RemoteHost
from tui.presets import load_settings

pytestmark = [pytest.mark.usefixtures("demo_models"), pytest.mark.slow, pytest.mark.server]


@pytest.fixture(scope="module")
def served(trained_adapter: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Both demo models; only the base one with the adapter (served as demo-base+lora)."""
    adapter = f"base={trained_adapter['dir']}"
    server = start_serve(
        tmp_path_factory.mktemp("serve"), "--preset", "demo", "--mode", "both", "--device", "cpu",
        "--adapter", adapter,
    )  # fmt: skip
    yield server
    server.stop()


def remote_host(served: Served) -> RemoteHost:
    """What `chat --preset demo --server URL` builds."""
    host = open_host(load_settings().preset("demo"), EngineChoice(server=served.url))
    assert isinstance(host, RemoteHost)
    return host


def notes(messages: list[Any]) -> str:
    return "\n".join(m.notification.message for m in messages if isinstance(m, Notify))


async def test_ctrl_l_switches_the_requests_to_the_servers_plus_lora_model_and_back(served: Served) -> None:
    host = remote_host(served)
    app = make_app(host, mode="base", settings=GREEDY)
    screen = app.chat_screen
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        assert "LoRA" not in str(screen.status.render())  # the model's own name until the user switches
        without = await reply_to_last(pilot, screen)

        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: screen.status.info.lora)
        assert "BASE+LoRA" in str(screen.status.render())
        assert host.backend("base").name == "demo-base+lora"
        with_adapter = await reply_to_last(pilot, screen, "ctrl+r")
        assert with_adapter != without

        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: not screen.status.info.lora)
        assert host.backend("base").name == "demo-base"
        assert await reply_to_last(pilot, screen, "ctrl+r") == without


async def test_ctrl_l_on_a_served_model_without_an_adapter_is_one_sentence(served: Served) -> None:
    messages: list[Any] = []
    host = remote_host(served)
    app = make_app(host, mode="instruct", settings=GREEDY)
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: "demo-instruct+lora" in notes(messages))
        assert notes(messages).strip() == (
            "the server lists no demo-instruct+lora beside demo-instruct, so it has no adapter to switch to: "
            "serve one with `stablelm-tui serve --adapter DIR` (local engine or vLLM)"
        )
        assert "LoRA" not in str(app.chat_screen.status.render())
        assert host.backend("instruct").name == "demo-instruct" and host.adapter_on("instruct") is None


def test_a_chat_asking_for_the_plus_lora_name_starts_with_the_adapter_on(served: Served) -> None:
    choice = EngineChoice(server=served.url, remote_model="demo-base+lora")
    host = open_host(load_settings().preset("demo"), choice, modes=("base",))
    assert host.adapter_on("base") is True
    assert host.set_adapter("base", False) and host.backend("base").name == "demo-base"


async def test_the_compare_view_runs_the_servers_plus_lora_model_before_any_ctrl_l(served: Served) -> None:
    host = remote_host(served)
    app = make_app(host, mode="base", settings=GREEDY)
    screen = app.chat_screen
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: screen.plan is not None)
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.screen is not screen)
        app.screen.query_one("#compare-variants").value = "base,base+lora"  # type: ignore[attr-defined]
        compare = await run_comparison(pilot, app, PROMPT, opened=True)
        first, second = compare.query(ComparePane)
        assert first.text and second.text and first.text != second.text
        # The view asked the server for the +lora model and gave the chat back its plain one.
        assert host.adapter_on("base") is False and host.backend("base").name == "demo-base"
        await pilot.press("escape")
        assert app.screen is screen and not screen.status.info.lora
