"""textual-serve with a lock on the door, a page that works behind proxies, and a register of the tabs' apps.

textual-serve starts one app process per browser tab (per websocket). This subclass adds three things to it:
the token middleware (tui.web.auth) on every route; page URLs relative to the address the browser used (or
--public-url), because textual-serve's own are absolute, built from the address it listens on, which a browser
behind a proxy or a port forward cannot reach; and a register of the app processes, so that stopping `web` saves and ends
every tab's app before the model server goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from tui.web.auth import token_middleware

log = logging.getLogger("stablelm-tui.web")

STOP_GRACE_S = 10.0
"""How long a tab's app has to save and exit after SIGTERM before it is killed."""


class _RegisteredApp(AppService):
    """An AppService whose process the server can find and signal at shutdown."""

    def __init__(self, register: set[asyncio.subprocess.Process], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._register = register

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        process = await super()._open_app_process(width, height)
        self._register.add(process)
        return process

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            if self._process is not None:
                with contextlib.suppress(ProcessLookupError):
                    await self._process.wait()
                self._register.discard(self._process)


class TabServer(Server):
    def __init__(
        self,
        command: str,
        *,
        host: str,
        port: int,
        token: str,
        public_url: str | None,
        is_ready: Callable[[], bool],
    ) -> None:
        super().__init__(command, host=host, port=port, title="stablelm-tui", public_url=public_url)
        self.token = token
        self.fixed_public_url = public_url
        self.is_ready = is_ready
        self.apps: set[asyncio.subprocess.Process] = set()
        """The tabs' app processes now running."""

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(token_middleware(self.token))
        app.middlewares.append(self._wait_for_model)
        return app

    @web.middleware
    async def _wait_for_model(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not self.is_ready():
            raise web.HTTPServiceUnavailable(
                text="the model is still loading: reload this page in a moment\n",
                headers={"Retry-After": "5"},
            )
        return await handler(request)

    def page_urls(self, request: web.Request) -> tuple[str, str]:
        """The websocket and static URLs the page uses. By default they are relative, so the browser resolves
        them against the address it actually used: that works unchanged through `ssh -L`, a TLS proxy and
        `gcloud run services proxy` (which rewrites Host: an address built from the request would send the
        browser around the proxy). --public-url makes them absolute, for a proxy that serves the app under
        another origin."""
        path = str(request.app.router["websocket"].url_for())
        static = str(request.app.router["static"].url_for(filename="/")).rstrip("/") + "/"
        if not self.fixed_public_url:
            return path, static
        base = self.fixed_public_url.rstrip("/")
        scheme, rest = base.split(":", 1)
        return ("wss:" if scheme == "https" else "ws:") + rest + path, base + static

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        websocket_url, static_url = self.page_urls(request)
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": websocket_url,
            "config": {"static": {"url": static_url}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """As textual-serve's own handler, with the app process registered (and nothing logged on a normal
        close)."""
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        service: _RegisteredApp | None = None
        try:
            await websocket.prepare(request)
            service = _RegisteredApp(
                self.apps,
                self.command,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
            )
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception:
            log.exception("the websocket of a tab failed")
        finally:
            if service is not None:
                await service.stop()
        return websocket

    async def on_startup(self, app: web.Application) -> None:
        """textual-serve prints its banner here; `web` prints its own URL once the model is ready."""

    async def on_shutdown(self, app: web.Application) -> None:
        await stop_apps(self.apps)


async def stop_apps(apps: set[asyncio.subprocess.Process], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM makes each app save and exit (ChatApp's handler); whatever is still running after the grace
    period is killed. Autosave has written every finished turn already, so a kill loses at most a partial."""
    running = [p for p in apps if p.returncode is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    if not running:
        return
    _, late = await asyncio.wait([asyncio.ensure_future(p.wait()) for p in running], timeout=grace_s)
    if late:
        for process in running:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        await asyncio.wait([asyncio.ensure_future(p.wait()) for p in running], timeout=grace_s)
