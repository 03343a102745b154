"""`stablelm-tui web` as a subprocess, through HTTP and the tabs' websockets: the token guards everything, two tabs
share one model server, an idle tab saves and ends and its conversation comes back, SIGTERM ends it all."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import httpx
import psutil
import pytest

from tests.functional.serve_helpers import free_port
from tests.functional.web_helpers import Tab, Web, session_with_token, start_web, web_env
from tui.store import SessionStore
from tui.web.auth import cookie_name

pytestmark = [pytest.mark.slow, pytest.mark.server]

# The key bar's first entries: the app has drawn its whole screen.
APP_DRAWN = "Quit"


@pytest.fixture(scope="module")
def web(demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    server = start_web(tmp_path_factory.mktemp("web"))
    yield server
    server.stop()


@pytest.fixture
async def session(web: Web) -> AsyncIterator[aiohttp.ClientSession]:
    client = await session_with_token(web)
    yield client
    await client.close()


def wait_until(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


# -- the token -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/ws", "/static/js/textual.js"])
def test_without_the_token_every_route_is_401_and_no_app_starts(web: Web, path: str) -> None:
    before = len(web.apps())
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="} if path == "/ws" else {}  # fmt: skip
    response = httpx.get(f"{web.base}{path}", headers=headers)
    assert response.status_code == 401
    assert "?token=" in response.text
    time.sleep(1)
    assert len(web.apps()) == before == 0


def test_a_wrong_token_in_the_url_or_the_cookie_is_403_and_no_app_starts(web: Web) -> None:
    wrong = web.token[:-1] + ("A" if web.token[-1] != "A" else "B")
    assert httpx.get(f"{web.base}/?token={wrong}").status_code == 403
    forged = {cookie_name(web.token): wrong}
    assert httpx.get(f"{web.base}/", cookies=forged).status_code == 403
    ws_headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}  # fmt: skip
    assert httpx.get(f"{web.base}/ws", headers=ws_headers, cookies=forged).status_code == 403
    time.sleep(1)
    assert web.apps() == []


def test_the_token_in_the_url_becomes_an_httponly_cookie_and_leaves_the_address_bar(web: Web) -> None:
    first = httpx.get(f"{web.base}/?token={web.token}&fontsize=18")
    assert first.status_code == 303 and first.headers["location"] == "/?fontsize=18"
    cookie = first.headers["set-cookie"]
    assert web.token in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http on 127.0.0.1: a Secure cookie would never come back
    page = httpx.get(f"{web.base}/", cookies=first.cookies)
    assert page.status_code == 200
    assert 'data-session-websocket-url="/ws"' in page.text
    assert web.token not in page.text


def test_behind_a_proxy_the_page_keeps_to_the_address_the_browser_used(web: Web) -> None:
    """A TLS proxy (or `gcloud run services proxy`, which rewrites Host): the cookie becomes Secure, and the
    page's URLs stay relative, so the browser goes back through the proxy instead of around it."""
    proxied = {"X-Forwarded-Proto": "https", "Host": "chat-abc.a.run.app"}
    first = httpx.get(f"{web.base}/?token={web.token}", headers=proxied)
    assert "Secure" in first.headers["set-cookie"]
    secure_cookie = {cookie_name(web.token): web.token}  # httpx keeps a Secure cookie off plain http
    page = httpx.get(f"{web.base}/", cookies=secure_cookie, headers=proxied)
    assert 'data-session-websocket-url="/ws"' in page.text and 'src="/static/js/textual.js"' in page.text
    assert "run.app" not in page.text and f"127.0.0.1:{web.port}" not in page.text


def test_a_public_url_makes_the_page_point_there(web: Web, tmp_path: Path) -> None:
    serve_child = web.model_servers()[0].cmdline()
    served = f"http://127.0.0.1:{serve_child[serve_child.index('--port') + 1]}"
    other = start_web(tmp_path, "--server", served, "--public-url", "https://chat.example.org/")
    try:
        assert other.url.startswith("https://chat.example.org/?token=")
        page = httpx.get(f"{other.base}/", cookies={cookie_name(other.token): other.token})
        assert 'data-session-websocket-url="wss://chat.example.org/ws"' in page.text
        assert 'src="https://chat.example.org/static/js/textual.js"' in page.text
        assert other.model_servers() == []  # it uses the running server, loading nothing itself
    finally:
        assert other.stop() == 0


# -- tabs ----------------------------------------------------------------------------------------------------


async def test_two_tabs_run_two_apps_on_one_model_server_loaded_once(
    web: Web, session: aiohttp.ClientSession
) -> None:
    tabs = [await Tab.open(session, web), await Tab.open(session, web)]
    for tab in tabs:
        await tab.wait_for(APP_DRAWN)
    servers, apps = web.model_servers(), web.apps()
    assert len(servers) == 1 and len(apps) == 2
    port = servers[0].cmdline()[servers[0].cmdline().index("--port") + 1]
    for app in apps:
        line = app.cmdline()
        assert line[line.index("--server") + 1] == f"http://127.0.0.1:{port}" and "--continue" in line
        assert line[line.index("--api-key-env") + 1] == "STABLELM_TUI_WEB_SERVER_KEY"
    # One load, of both models, before the first tab ever opened: the server's own log says so once.
    assert web.stderr().count("loading demo-base, demo-instruct") == 1
    # Another account on this machine reaches 127.0.0.1 too: without the key the models are not theirs to use.
    assert httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 401
    key = servers[0].environ()["STABLELM_TUI_WEB_SERVER_KEY"]
    assert key and key not in " ".join(servers[0].cmdline())
    assert all(app.environ()["STABLELM_TUI_WEB_SERVER_KEY"] == key for app in apps)
    headers = {"Authorization": f"Bearer {key}"}
    models = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers=headers).json()
    assert [m["id"] for m in models["data"]] == ["demo-base", "demo-instruct"]
    for tab in tabs:
        await tab.ws.close()
    wait_until(lambda: web.apps() == [])
    assert len(web.model_servers()) == 1  # the model stays loaded for the next tab


async def test_a_second_tab_gets_its_own_conversation_not_the_open_one(
    tmp_path: Path, demo_models: dict
) -> None:
    web = start_web(tmp_path)
    try:
        async with await session_with_token(web) as session:
            first = await Tab.open(session, web)
            await first.wait_for(APP_DRAWN)
            second = await Tab.open(session, web)
            await second.wait_for(APP_DRAWN)
            await first.type("一つ目のタブです\r")
            await first.wait_for("一つ目のタブです")
            await second.pump(2)
            assert "一つ目のタブです" not in second.text()
    finally:
        assert web.stop() == 0


# -- idle and resume ------------------------------------------------------------------------------------------


async def test_an_idle_tab_saves_and_ends_and_reopening_it_resumes(tmp_path: Path, demo_models: dict) -> None:
    web = start_web(tmp_path, "--idle-minutes", "0.1")  # 6 s without a key
    try:
        async with await session_with_token(web) as session:
            tab = await Tab.open(session, web)
            await tab.wait_for(APP_DRAWN)
            await tab.type("こんにちは、覚えていてね\r")
            await tab.wait_for("こんにちは、覚えていてね")
            started = time.monotonic()
            await tab.wait_closed(timeout=60)
            assert time.monotonic() - started >= 3  # not at once: after the idle time
            wait_until(lambda: web.apps() == [])
            assert web.proc.poll() is None and len(web.model_servers()) == 1

            reopened = await Tab.open(session, web)
            screen = await reopened.wait_for("こんにちは、覚えていてね")
            assert APP_DRAWN in screen
    finally:
        assert web.stop() == 0
    store = SessionStore(web.home / "data" / "sessions.sqlite3")
    try:
        contents = [m.content for c in store.list_conversations() for m in store.load(c.id).messages]
    finally:
        store.close()
    assert "こんにちは、覚えていてね" in contents


# -- stopping ------------------------------------------------------------------------------------------------


async def test_sigterm_ends_every_tab_app_and_the_model_server(tmp_path: Path, demo_models: dict) -> None:
    web = start_web(tmp_path)
    async with await session_with_token(web) as session:
        tab = await Tab.open(session, web)
        await tab.wait_for(APP_DRAWN)
        pids = [p.pid for p in web.children()]
        assert len(web.apps()) == 1 and len(web.model_servers()) == 1
        assert web.stop() == 0
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_a_killed_web_takes_its_model_server_and_tab_apps_with_it(
    tmp_path: Path, demo_models: dict
) -> None:
    """SIGKILL gives web no chance to stop anything: the kernel's parent-death signal does (tui/lifeline.py), so
    no model stays loaded and no app waits forever behind a server that is gone."""
    web = start_web(tmp_path)
    async with await session_with_token(web) as session:
        tab = await Tab.open(session, web)
        await tab.wait_for(APP_DRAWN)
        children = web.model_servers() + web.apps()
        assert len(children) == 2
        web.proc.kill()
        web.proc.wait(10)
        for child in children:
            child.wait(30)  # psutil.TimeoutExpired if it outlives web
            assert not child.is_running()


# -- bad input -----------------------------------------------------------------------------------------------


def run_web(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui", "web", "--preset", "demo", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=web_env(tmp_path) | (env or {}),
    )


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("stablelm-tui: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_a_taken_port_is_one_sentence_and_exit_2_before_any_model_loads(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_web(tmp_path, "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port}" in one_sentence(result)
    assert "loading" not in result.stderr


def test_an_empty_token_variable_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    result = run_web(tmp_path, "--token-env", "WEB_TOKEN", env={"WEB_TOKEN": ""})
    assert "--token-env names WEB_TOKEN, which is not set (or empty)" in one_sentence(result)


def test_an_unreachable_model_server_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    result = run_web(tmp_path, "--server", f"http://127.0.0.1:{free_port()}")
    assert "does not answer" in one_sentence(result)


def test_another_address_than_loopback_is_served_only_with_a_warning(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        result = run_web(tmp_path, "--host", "0.0.0.0", "--port", str(taken.getsockname()[1]))
    assert "warning: listening on 0.0.0.0, not only this machine" in result.stderr
    assert result.returncode == 2


async def test_a_token_from_the_environment_is_not_printed(tmp_path: Path, demo_models: dict) -> None:
    web = start_web(tmp_path, "--token-env", "WEB_TOKEN", env={"WEB_TOKEN": "s3cret-token-from-env"})
    try:
        assert "s3cret" not in "".join(web.lines) + web.stderr()
        assert web.url.endswith("?token=$WEB_TOKEN")
        assert httpx.get(f"{web.base}/?token=s3cret-token-from-env").status_code == 303
    finally:
        assert web.stop() == 0
