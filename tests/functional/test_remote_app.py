"""The chat app on the remote backend: the status line shows the server's cache hits and a re-tokenizing server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.app_helpers import wait_for
from tests.functional.test_remote_faults import Server
from tui.app.app import ChatApp
from tui.app.core_services import CoreServices
from tui.app.hosts import RemoteHost
from tui.engine.remote import backend_for_preset
from tui.presets import MODES, load_settings
from tui.tokenizers import tokenizer_for_preset


@pytest.fixture(autouse=True)
def _demo(demo_models: dict[str, Path]) -> None:
    """The demo preset's tokenizer lives in the demo model directory."""


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def remote_app(url: str) -> ChatApp:
    preset = load_settings().preset("demo")
    tokenizer = tokenizer_for_preset(preset)
    backends = {mode: backend_for_preset(preset, mode, tokenizer, base_url=url) for mode in MODES}
    return ChatApp(CoreServices(preset, RemoteHost(backends, url), backend_name="openai"))


async def reply_status(app: ChatApp) -> str:
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: app.plan is not None)
        await pilot.press(*"hello", "enter")
        await wait_for(pilot, lambda: len(app.conversation.turns) == 2 and not app.generating)
        return str(app.status.render())


async def test_status_line_shows_the_servers_prefix_cache_hits_as_reused(server: Server) -> None:
    server.cached = 7
    status = await reply_status(remote_app(server.url))
    assert "reused 7" in status and "counts may differ" not in status
    assert isinstance(server.bodies[-1]["prompt"], list)


async def test_status_line_warns_when_the_server_tokenized_the_text_itself(server: Server) -> None:
    server.mode = "text-only"
    status = await reply_status(remote_app(server.url))
    assert "counts may differ" in status
    assert isinstance(server.bodies[-1]["prompt"], str)


def test_chat_server_asks_for_the_served_model_of_each_mode(server: Server) -> None:
    import argparse

    from tui.app.launch import _services_for

    args = argparse.Namespace(backend=None, base_url=None, server=server.url, device=None)
    services = _services_for(load_settings().preset("demo"), args)
    assert services.backend_name == "openai"
    names = {mode: services.host.backend(mode).config.model for mode in MODES}
    assert names == {"base": "demo-base", "instruct": "demo-instruct"}
