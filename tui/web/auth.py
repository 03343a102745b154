"""Who may open the browser app: one token, given once in the URL and then carried by an HttpOnly cookie.

Every route (the page, its static files, the websocket that starts an app process) passes through the
middleware, so a request without the token never reaches textual-serve and never starts a process.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from tui.errors import UserError

TOKEN_PARAM = "token"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_from_env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value.strip():
        raise UserError(f"--token-env names {name}, which is not set (or empty) in the environment")
    return value


def cookie_name(token: str) -> str:
    """Browsers keep cookies per host, not per port: two `web` servers on one machine must not overwrite each
    other's cookie, so the name depends on the token (a hash of it, which tells nothing about the token)."""
    return "stablelm_tui_" + hashlib.sha256(token.encode()).hexdigest()[:12]


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def request_scheme(request: web.Request) -> str:
    """The scheme the browser used: a proxy that ends TLS says so in X-Forwarded-Proto."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return forwarded if forwarded in ("http", "https") else request.scheme


def token_middleware(token: str) -> Middleware:
    name = cookie_name(token)

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.query.get(TOKEN_PARAM)
        if given is not None:
            if not _same(given, token):
                raise web.HTTPForbidden(text="wrong token\n")
            # Trade the token in the URL for a cookie, and drop it from the address bar and the history.
            query = {k: v for k, v in request.query.items() if k != TOKEN_PARAM}
            target = request.rel_url.with_query(query)
            response = web.HTTPSeeOther(location=str(target))
            response.set_cookie(
                name,
                token,
                httponly=True,
                samesite="Strict",  # no cross-site page can open the websocket with it
                secure=request_scheme(request) == "https",
                path="/",
            )
            raise response
        cookie = request.cookies.get(name)
        if cookie is None:
            raise web.HTTPUnauthorized(
                text="open the URL that `stablelm-tui web` printed, with its ?token=...\n"
            )
        if not _same(cookie, token):
            raise web.HTTPForbidden(text="wrong token\n")
        return await handler(request)

    return check_token
