"""OpenAIBackend against a tiny stdlib server that misbehaves on purpose (refuses, dies, sends garbage...)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.functional.engine_helpers import collect, never
from tui.engine.errors import EngineError
from tui.engine.remote import OpenAIBackend, RemoteConfig
from tui.engine.request import GenerationRequest

PIECES = ["こん", "にち", "は", "、", "世界"]


class FakeTokenizer:
    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(chr(i) for i in ids)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, payload: Any) -> None:
        raw = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        self._chunk(f"data: {raw}\n\n".encode())

    def do_GET(self) -> None:
        models = ["m1", "m2"] if self.server.mode == "two-models" else ["m1"]
        self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in models]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        mode = self.server.mode
        if mode == "auth" and self.headers.get("Authorization") != "Bearer sekrit":
            return self._json(401, {"error": {"message": "bad key"}})
        if mode == "http500":
            return self._json(500, {"error": {"message": "CUDA out of memory on the server"}})
        if mode == "strict" and ("top_k" in body or "repetition_penalty" in body):
            return self._json(422, {"detail": "Unexpected fields in the request: {'top_k'}"})
        if mode == "text-only" and not isinstance(body["prompt"], str):
            return self._json(400, {"detail": "prompt must be a string."})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, piece in enumerate(PIECES):
            if mode == "die" and i == 2:
                self.wfile.write(b"7\r\ndata: {")  # half a chunk, then the process "crashes"
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return None
            if mode == "garbage" and i == 2:
                self._event("{this is not json")
            if mode == "slow" and i == 2:
                time.sleep(1.5)
                return None
            self._event({"choices": [{"index": 0, "text": piece, "finish_reason": None}]})
            if mode == "ends-early" and i == 1:
                self._chunk(b"")
                return None
        self._event(
            {
                "choices": [{"index": 0, "text": "", "finish_reason": "length"}],
                "usage": {
                    "completion_tokens": 5,
                    "prompt_tokens": 2,
                    "prompt_tokens_details": {"cached_tokens": self.server.cached},
                },
            }
        )
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")
        return None


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = "ok"
        self.cached = 0
        self.bodies: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def backend(url: str, **kw: Any) -> OpenAIBackend:
    return OpenAIBackend(
        RemoteConfig(base_url=url, read_timeout_s=kw.pop("read_timeout_s", 5.0), **kw), FakeTokenizer()
    )


def request(**kw: Any) -> GenerationRequest:
    base: dict[str, Any] = {
        "prompt_ids": [1, 2],
        "prompt_text": "ユーザー: やあ\nシステム: ",
        "max_new_tokens": 5,
    }
    return GenerationRequest(**(base | kw))


def test_streams_and_uses_the_only_listed_model(server: Server) -> None:
    chunks, fin = collect(backend(server.url).stream(request(seed=3), never()))
    assert chunks == PIECES and fin.text == "".join(PIECES)
    assert fin.reason == "length" and fin.error is None
    assert fin.stats.new_tokens == 5 and fin.stats.prefill_tokens == 2
    sent = server.bodies[-1]
    assert sent["model"] == "m1" and sent["stream"] is True
    assert sent["seed"] == 3


def test_the_prompt_travels_as_the_planned_token_ids(server: Server) -> None:
    _c, fin = collect(backend(server.url).stream(request(), never()))
    sent = server.bodies[-1]
    assert sent["prompt"] == [1, 2] and sent["stream_options"] == {"include_usage": True}
    assert fin.stats.prompt_as_text is False


def test_a_server_that_rejects_token_ids_gets_the_text_and_the_stats_say_so(server: Server) -> None:
    server.mode = "text-only"
    remote = backend(server.url)
    _c, fin = collect(remote.stream(request(), never()))
    assert fin.reason == "length" and fin.text == "".join(PIECES)
    assert [b["prompt"] for b in server.bodies] == [[1, 2], "ユーザー: やあ\nシステム: "]
    assert fin.stats.prompt_as_text is True
    _c, fin = collect(remote.stream(request(), never()))
    assert server.bodies[-1]["prompt"] == "ユーザー: やあ\nシステム: " and len(server.bodies) == 3
    assert fin.stats.prompt_as_text is True


def test_the_servers_prefix_cache_hits_are_reported_as_reused(server: Server) -> None:
    server.cached = 1
    _c, fin = collect(backend(server.url).stream(request(), never()))
    assert fin.stats.reused_tokens == 1 and fin.stats.prefill_tokens == 1


def test_greedy_is_temperature_zero_on_the_wire(server: Server) -> None:
    collect(backend(server.url).stream(request(do_sample=False, temperature=0.7, top_k=5), never()))
    sent = server.bodies[-1]
    assert sent["temperature"] == 0.0 and "top_k" not in sent


def test_local_stop_string_cut_even_if_the_server_ignores_it(server: Server) -> None:
    _chunks, fin = collect(backend(server.url).stream(request(stop_strings=("にちは",)), never()))
    assert fin.text == "こん" and fin.reason == "stop"
    assert server.bodies[-1]["stop"] == ["にちは"]


def test_two_models_need_a_choice(server: Server) -> None:
    server.mode = "two-models"
    _c, fin = collect(backend(server.url).stream(request(), never()))
    assert fin.reason == "error" and fin.error is not None and "--remote-model" in fin.error
    _c, fin = collect(backend(server.url, model="m2").stream(request(), never()))
    assert fin.reason == "length" and server.bodies[-1]["model"] == "m2"


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _c, fin = collect(backend(f"http://127.0.0.1:{port}").stream(request(), never()))
    assert fin.reason == "error" and fin.text == ""
    assert fin.error is not None and "cannot connect" in fin.error and "\n" not in fin.error


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        pytest.param("die", "broke off mid-reply", id="server-dies-mid-stream"),
        pytest.param("garbage", "malformed", id="malformed-sse"),
        pytest.param("ends-early", "closed the stream before the reply was complete", id="no-done-marker"),
    ],
)
def test_failure_mid_stream_keeps_the_partial(server: Server, mode: str, words: str) -> None:
    server.mode = mode
    chunks, fin = collect(backend(server.url).stream(request(), never()))
    assert fin.reason == "error" and fin.error is not None and words in fin.error
    assert fin.text == "".join(chunks) == "こんにち"


def test_read_timeout_is_configurable(server: Server) -> None:
    server.mode = "slow"
    started = time.perf_counter()
    _c, fin = collect(backend(server.url, read_timeout_s=0.3).stream(request(), never()))
    assert time.perf_counter() - started < 1.4
    assert fin.reason == "error" and fin.error is not None and "sent nothing for 0.3 s" in fin.error
    assert fin.text == "こんにち"


def test_http_error_is_one_sentence(server: Server) -> None:
    server.mode = "http500"
    _c, fin = collect(backend(server.url).stream(request(), never()))
    assert fin.error == f"{server.url} answered HTTP 500: CUDA out of memory on the server"


def test_api_key_comes_from_the_named_variable(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.mode = "auth"
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(EngineError, match="MY_KEY"):
        backend(server.url, api_key_env="MY_KEY")
    monkeypatch.setenv("MY_KEY", "wrong")
    _c, fin = collect(backend(server.url, api_key_env="MY_KEY").stream(request(), never()))
    assert fin.error is not None and "HTTP 401" in fin.error and "$MY_KEY" in fin.error
    monkeypatch.setenv("MY_KEY", "sekrit")
    _c, fin = collect(backend(server.url, api_key_env="MY_KEY").stream(request(), never()))
    assert fin.reason == "length"


def test_strict_server_gets_the_request_again_without_extra_fields(server: Server) -> None:
    server.mode = "strict"
    remote = backend(server.url)
    _c, fin = collect(remote.stream(request(top_k=20, repetition_penalty=1.1), never()))
    assert fin.reason == "length"
    assert "top_k" in server.bodies[0] and "top_k" not in server.bodies[1]


def test_cancel_between_chunks(server: Server) -> None:
    cancel = threading.Event()
    seen = []
    for event in backend(server.url).stream(request(), cancel):
        if hasattr(event, "reason"):
            fin = event
            break
        seen.append(event.text)
        cancel.set()
    assert fin.reason == "cancelled" and fin.text == "こん"
