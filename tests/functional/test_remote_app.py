"""The chat app on the remote backend: the status line shows the server's cache hits and a re-tokenizing server."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.app_helpers import make_app, wait_for
from tests.functional.test_remote_faults import Server
from tui.app.app import ChatApp
from tui.engine.factory import EngineChoice, open_host
from tui.presets import load_settings


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
    """What `chat --preset demo --base-url URL` builds."""
    return make_app(open_host(load_settings().preset("demo"), EngineChoice(base_url=url)))


async def reply_status(app: ChatApp) -> str:
    chat = app.chat_screen
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: chat.plan is not None)
        await pilot.press(*"hello", "enter")
        await wait_for(pilot, lambda: len(chat.conversation.turns) == 2 and not chat.generating)
        return str(chat.status.render())


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
    from tui.choices import MODES
    from tui.commands.chat import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["chat", "--server", server.url])
    host = open_host(load_settings().preset("demo"), EngineChoice.from_args(args))
    assert host.backend_name == "openai"
    names = {mode: host.backend(mode).config.model for mode in MODES}
    assert names == {"base": "demo-base", "instruct": "demo-instruct"}
