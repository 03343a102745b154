"""`stablelm-tui serve --engine local`: the OpenAI-compatible HTTP API over our own engine.

The HTTP stack is aiohttp: maintained (aio-libs), a single dependency, responses streamed as events are written,
and handler cancellation when a client disconnects (3.9+), which is how a generation whose client went away is
cancelled within one step. It is also what textual-serve runs on, so the later `web` command can share this
process and stack between browser tabs. (starlette + uvicorn would do the same job with two dependencies and an
ASGI layer between us and the socket.)

Routes: GET /health, GET /v1/models, POST /v1/completions (streamed or not; see tui/serving/completions.py).
With an API key every /v1 route wants `Authorization: Bearer KEY` (vLLM's rule; /health stays open for load
balancers and readiness probes). The socket is bound before the models load, so a taken port is reported at once;
until they are loaded /health and /v1 answer 503. SIGINT/SIGTERM cancel running generations, close the socket
and free the models; the process then exits with nothing left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tui.engine.errors import EngineError
from tui.engine.events import Finished, StreamEvent, TextChunk
from tui.errors import UserError
from tui.serving.completions import (
    ApiError,
    CompletionCall,
    chunk_body,
    completion_body,
    finish_reason,
    models_body,
    new_completion_id,
    parse_completion,
    usage_body,
    usage_chunk_body,
)

if TYPE_CHECKING:
    from aiohttp import web

    from tui.serving.local_engine import LocalEngine

# A request body larger than this is refused (a 2,048-token prompt as ids is about 15 kB).
MAX_BODY_BYTES = 4 * 1024 * 1024
# How long a stopping server waits for handlers after cancelling their generations.
SHUTDOWN_GRACE_S = 3.0
_END = object()


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def _error_response(exc: ApiError) -> web.Response:
    from aiohttp import web

    return web.Response(body=_json_bytes(exc.body()), status=exc.status, content_type="application/json")


class _Generation:
    """One request's engine events, produced in a thread of their own and handed to the event loop."""

    def __init__(self, engine: LocalEngine, call: CompletionCall, running: set[threading.Event]) -> None:
        self.cancel = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._running = running
        running.add(self.cancel)
        self.thread = threading.Thread(
            target=self._work, args=(engine, call), name=f"generate-{call.model.name}", daemon=True
        )
        self.thread.start()

    def _post(self, item: Any) -> None:
        # RuntimeError: the event loop is gone (server stopped), nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _work(self, engine: LocalEngine, call: CompletionCall) -> None:
        try:
            for event in engine.generate(
                call.model.mode, call.request, self.cancel, adapter=call.model.adapter is not None
            ):
                self._post(event)
        except BaseException as exc:
            self._post(exc)
        finally:
            self._post(_END)

    async def next(self) -> StreamEvent | None:
        """The next event, None at the end; an exception raised by the engine is raised here."""
        item = await self._queue.get()
        if item is _END:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        self.cancel.set()
        self._running.discard(self.cancel)


def _engine_failure(exc: BaseException) -> str:
    if isinstance(exc, EngineError | UserError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


class OpenAIServer:
    def __init__(
        self, engine: LocalEngine, *, api_key: str | None = None, log: Callable[[str], None]
    ) -> None:
        self.engine = engine
        self.api_key = api_key
        self.ready = False
        self.created = int(time.time())
        self.running: set[threading.Event] = set()
        self._log = log

    def app(self) -> web.Application:
        from aiohttp import web

        @web.middleware
        async def gate(request: web.Request, handler: Any) -> web.StreamResponse:
            return await self._gate(request, handler)

        app = web.Application(middlewares=[gate], client_max_size=MAX_BODY_BYTES)
        app.router.add_get("/health", self.health)
        app.router.add_get("/v1/models", self.list_models)
        app.router.add_post("/v1/completions", self.completions)
        return app

    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.api_key and request.path.startswith("/v1"):
            expected = f"Bearer {self.api_key}".encode()
            if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected):
                return _error_response(
                    ApiError(401, "a valid API key is required (Authorization: Bearer KEY)")
                )
        if not self.ready and request.path != "/health":
            return _error_response(ApiError(503, "the models are still loading: try again shortly"))
        return await handler(request)

    async def health(self, request: web.Request) -> web.Response:
        from aiohttp import web

        if not self.ready:
            return _error_response(ApiError(503, "loading"))
        return web.Response(status=200)

    async def list_models(self, request: web.Request) -> web.Response:
        from aiohttp import web

        return web.json_response(models_body(self.engine.models, self.created))

    async def completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error_response(ApiError(400, "the request body is not valid JSON"))
        try:
            call = parse_completion(body, self.engine.models, self.engine.encode)
        except ApiError as exc:
            return _error_response(exc)
        started = time.perf_counter()
        generation = _Generation(self.engine, call, self.running)
        try:
            if call.stream:
                response, finished = await self._stream(request, call, generation)
            else:
                response, finished = await self._whole(call, generation)
        except asyncio.CancelledError:
            self._log_gone(call)  # aiohttp cancels the handler of a connection that closed
            raise
        finally:
            generation.stop()  # ends the generation within one step if it is still running
        if finished is not None:
            self._log_reply(call, finished, time.perf_counter() - started)
        return response

    async def _whole(
        self, call: CompletionCall, generation: _Generation
    ) -> tuple[web.StreamResponse, Finished | None]:
        from aiohttp import web

        finished: Finished | None = None
        try:
            while (event := await generation.next()) is not None:
                if isinstance(event, Finished):
                    finished = event
        except Exception as exc:
            return _error_response(ApiError(500, _engine_failure(exc))), None
        if finished is None or finished.reason in ("error", "cancelled"):
            message = (
                finished.error if finished else None
            ) or "the generation was stopped (server shutting down)"
            return _error_response(ApiError(500 if finished and finished.error else 503, message)), finished
        return web.json_response(
            completion_body(call, finished), dumps=lambda o: json.dumps(o, ensure_ascii=False)
        ), finished

    async def _stream(
        self, request: web.Request, call: CompletionCall, generation: _Generation
    ) -> tuple[web.StreamResponse, Finished | None]:
        from aiohttp import web

        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        cid, created = new_completion_id(), int(time.time())
        finished: Finished | None = None

        async def send(payload: Any) -> None:
            await response.write(b"data: " + _json_bytes(payload) + b"\n\n")

        try:
            try:
                while (event := await generation.next()) is not None:
                    if isinstance(event, TextChunk):
                        await send(chunk_body(cid, created, call, event.text, None))
                        continue
                    finished = event
                    if event.reason in ("error", "cancelled"):
                        # With the client still here, only a stopping server cancels a reply.
                        message = event.error or "the server is shutting down (reply cut short)"
                        await send(ApiError(500, message).body())
                    else:
                        await send(chunk_body(cid, created, call, "", finish_reason(event)))
                        if call.include_usage:
                            await send(usage_chunk_body(cid, created, call, event))
            except Exception as exc:  # the engine raised instead of ending with Finished (a failed load)
                await send(ApiError(500, _engine_failure(exc)).body())
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            self._log_gone(call)  # the caller's finally stops the generation
            return response, None
        return response, finished

    def _log_reply(self, call: CompletionCall, finished: Finished, seconds: float) -> None:
        usage = usage_body(call, finished)
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        self._log(
            f"{call.model.name}: {usage['prompt_tokens']} prompt tokens ({cached} cached), "
            f"{usage['completion_tokens']} generated, {finished.reason}, {seconds:.2f} s"
        )

    def _log_gone(self, call: CompletionCall) -> None:
        self._log(f"{call.model.name}: the client went away; its generation was cancelled")

    def cancel_all(self) -> None:
        for cancel in list(self.running):
            cancel.set()


def _in_daemon_thread(loop: asyncio.AbstractEventLoop, work: Callable[[], None]) -> asyncio.Future[None]:
    """Run `work` in a daemon thread: a load still running when the server is told to stop must not keep the
    process alive (an executor thread would)."""
    future: asyncio.Future[None] = loop.create_future()

    def settle(exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is None:
            future.set_result(None)
        else:
            future.set_exception(exc)

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, exc)
        else:
            loop.call_soon_threadsafe(settle, None)

    threading.Thread(target=run, name="load-models", daemon=True).start()
    return future


async def _serve(
    engine: LocalEngine,
    host: str,
    port: int,
    api_key: str | None,
    on_listening: Callable[[str], None],
    on_ready: Callable[[str], None],
    log: Callable[[str], None],
) -> None:
    from aiohttp import web

    server = OpenAIServer(engine, api_key=api_key, log=log)
    runner = web.AppRunner(
        server.app(), handler_cancellation=True, shutdown_timeout=SHUTDOWN_GRACE_S, access_log=None
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise UserError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (is another server using the port? "
            "choose another with --port)"
        ) from None
    bound_port = runner.addresses[0][1]
    url = f"http://{host if ':' not in host else f'[{host}]'}:{bound_port}"
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loaded = False
    try:
        on_listening(url)
        loading = _in_daemon_thread(loop, engine.load)
        stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        await asyncio.wait([loading, stopping], return_when=asyncio.FIRST_COMPLETED)
        if loading.done():
            try:
                loading.result()
            except EngineError as exc:
                raise UserError(str(exc)) from None
            loaded = True
            server.ready = True
            on_ready(url)
        await stopping
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        server.cancel_all()
        await runner.cleanup()
        if loaded:
            engine.close()


def run_local_server(
    engine: LocalEngine,
    *,
    host: str,
    port: int,
    api_key: str | None,
    on_listening: Callable[[str], None],
    on_ready: Callable[[str], None],
    log: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM. `on_listening(url)` once the port is ours, `on_ready(url)` once loaded."""

    def to_stderr(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    asyncio.run(_serve(engine, host, port, api_key, on_listening, on_ready, log or to_stderr))
