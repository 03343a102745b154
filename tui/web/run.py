"""`stablelm-tui web` from its options to a running server, and back down in order on SIGTERM/SIGINT.

Order up: bind the port (a taken port is reported before any model loads), start or check the model server,
then print the URL once it can answer. Order down: every tab's app saves and exits, then the model server
stops. This process never imports Textual: each tab's app is a child process (`stablelm-tui chat`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shlex
import shutil
import signal
import sys
from dataclasses import dataclass

from tui.errors import UserError
from tui.web.model_server import SERVER_KEY_ENV, LocalModelServer, check_reachable


@dataclass(frozen=True)
class WebPlan:
    preset: str | None
    host: str
    port: int
    token: str
    token_env: str | None
    public_url: str | None
    idle_minutes: float
    server: str | None
    """A model server that already runs (--server); None: the preset's remote one, or a local child."""
    remote_urls: tuple[str, ...]
    """The preset's own remote servers, when it names some and --server is not given."""
    device: str = "auto"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tab_command(plan: WebPlan, server_url: str | None, *, key_env: str | None = None) -> str:
    """The shell line textual-serve runs for each tab. `exec` makes the app the direct child that the server
    signals; `setsid` keeps a Ctrl+C typed at `web` from reaching the apps before they are told to save."""
    args = [sys.executable, "-m", "tui", "chat", "--continue"]
    if plan.preset:
        args += ["--preset", plan.preset]
    if server_url:
        args += ["--server", server_url]
    if key_env:
        args += ["--api-key-env", key_env]
    if plan.idle_minutes > 0:
        args += ["--idle-minutes", f"{plan.idle_minutes:g}"]
    prefix = ["setsid"] if shutil.which("setsid") else []
    return "exec " + shlex.join(prefix + args)


def browser_url(plan: WebPlan, bound_port: int) -> str:
    base = (plan.public_url or f"http://{_url_host(plan.host)}:{bound_port}").rstrip("/")
    if plan.token_env:
        return f"{base}/?token=${plan.token_env}"  # the value stays where the user put it
    return f"{base}/?token={plan.token}"


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def serve(plan: WebPlan) -> int:
    if not is_loopback(plan.host):
        print(
            f"stablelm-tui web: warning: listening on {plan.host}, not only this machine: anyone who can reach "
            "the port and learns the token can use the models; prefer 127.0.0.1 with an SSH tunnel or a proxy "
            "that adds TLS (docs/web.md)",
            file=sys.stderr,
        )
    for url in (plan.server, *plan.remote_urls):
        if url:
            check_reachable(url)
    return asyncio.run(_serve(plan))


async def _serve(plan: WebPlan) -> int:
    import os

    from aiohttp import web

    from tui.lifeline import PARENT_ENV
    from tui.web.tabs import TabServer

    # textual-serve gives each tab's app a copy of this environment: the apps end with us even if we are killed,
    # and they hold the key of the model server we start.
    os.environ[PARENT_ENV] = str(os.getpid())

    local = (
        LocalModelServer(plan.preset, plan.device) if plan.server is None and not plan.remote_urls else None
    )
    if local is not None:
        os.environ[SERVER_KEY_ENV] = local.api_key
    ready = local is None
    server = TabServer(
        tab_command(plan, local.url, key_env=SERVER_KEY_ENV) if local else tab_command(plan, plan.server),
        host=plan.host,
        port=plan.port,
        token=plan.token,
        public_url=plan.public_url,
        is_ready=lambda: ready,
    )
    runner = web.AppRunner(await server._make_app(), handle_signals=False, access_log=None)
    await runner.setup()
    loop = asyncio.get_running_loop()
    try:
        try:
            await web.TCPSite(runner, plan.host, plan.port).start()
        except OSError as exc:
            raise UserError(
                f"cannot listen on {plan.host}:{plan.port}: {exc.strerror or exc} (choose another with --port)"
            ) from None
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if local is not None:
            local.start()
            while not await loop.run_in_executor(None, local.ready):
                if stop.is_set():
                    return 0
                await asyncio.sleep(0.5)
            ready = True
        print(f"stablelm-tui web: open {browser_url(plan, runner.addresses[0][1])}", flush=True)
        while not stop.is_set():
            if local is not None:
                await loop.run_in_executor(None, local.ready)  # raises once the model server has died
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=2.0)
        return 0
    finally:
        await runner.cleanup()  # the tabs' apps save and exit first (TabServer.on_shutdown)...
        if local is not None:
            await loop.run_in_executor(None, local.stop)  # ...then the model server they were using
