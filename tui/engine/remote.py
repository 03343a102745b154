"""A remote OpenAI-compatible server (vLLM, TGI, llama.cpp server, `transformers serve`) as a Backend.

We call /v1/completions with stream=true and send our own rendered prompt text, so our template (not the
server's chat template) decides what the model sees; token counts for the meter come from the local tokenizer.
Every failure (refused, HTTP error, the server dying mid-reply, malformed SSE, a timeout) ends the stream with
Finished(reason="error"), the partial reply kept and one sentence saying what happened; the next call simply
tries again. The API key is read from the environment variable the config names and never stored.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tui.engine.errors import EngineError
from tui.engine.events import Finished, FinishReason, GenerationStats, StreamEvent, TextChunk
from tui.engine.request import GenerationRequest
from tui.engine.stops import StopMatcher

# Optional sampling fields that vLLM accepts but strict servers (transformers serve) reject with 4xx.
EXTRA_FIELDS = ("top_k", "repetition_penalty")


class TextTokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


@dataclass(frozen=True)
class RemoteConfig:
    base_url: str
    """The server root, e.g. http://127.0.0.1:8000 (a trailing /v1 is accepted too)."""
    model: str | None = None
    """The served model name; None: the only one /v1/models lists."""
    api_key_env: str | None = None
    """The NAME of the environment variable that holds the API key (the key itself is never written anywhere)."""
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 120.0
    """Longest silence between two chunks (the first one includes the server's prefill)."""


class RemoteFailure(Exception):
    """Internal: a failure with its user-facing sentence."""


class OpenAIBackend:
    def __init__(self, config: RemoteConfig, tokenizer: TextTokenizer, *, client: Any = None) -> None:
        import httpx

        root = config.base_url.rstrip("/")
        self.api_root = root if root.endswith("/v1") else f"{root}/v1"
        self.config = config
        self.tokenizer = tokenizer
        self._model = config.model
        self._send_extras = True
        timeout = httpx.Timeout(config.read_timeout_s, connect=config.connect_timeout_s)
        self._client = client or httpx.Client(timeout=timeout, headers=self._headers())

    @property
    def name(self) -> str:
        return self._model or self.config.base_url

    def _headers(self) -> dict[str, str]:
        env = self.config.api_key_env
        if not env:
            return {}
        key = os.environ.get(env)
        if not key:
            raise EngineError(f"the API key variable {env} named in the config is not set in the environment")
        return {"Authorization": f"Bearer {key}"}

    def close(self) -> None:
        self._client.close()

    def reusable_prefix(self, prompt_ids: list[int]) -> int:
        return 0  # the server may cache prefixes, but it does not tell us

    # -- model discovery ---------------------------------------------------------------------------------------

    def model_name(self) -> str:
        """The configured model, else the only one the server lists; EngineError when that is ambiguous."""
        if self._model is None:
            try:
                response = self._client.get(f"{self.api_root}/models")
            except Exception as exc:
                raise EngineError(self._explain_transport(exc)) from None
            if response.status_code >= 400:
                raise EngineError(self._explain_status(response.status_code, response.text))
            try:
                names = [str(m["id"]) for m in response.json()["data"]]
            except (ValueError, KeyError, TypeError):
                raise EngineError(f"{self.api_root}/models did not return an OpenAI model list") from None
            if len(names) != 1:
                listed = ", ".join(names) or "none"
                raise EngineError(
                    f"the server lists {len(names)} models ({listed}): choose one with --remote-model "
                    "(or remote_model in the preset)"
                )
            self._model = names[0]
        return self._model

    # -- streaming ---------------------------------------------------------------------------------------------

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        request.validate()
        return self._stream(request, cancel)

    def _body(self, request: GenerationRequest, model: str, prompt: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "prompt": prompt,
            "max_tokens": request.max_new_tokens,
            "stream": True,
            "temperature": request.temperature if request.do_sample else 0.0,
            "top_p": request.top_p if request.do_sample else 1.0,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop_strings:
            body["stop"] = list(request.stop_strings)
        if self._send_extras:
            if request.do_sample and request.top_k > 0:
                body["top_k"] = request.top_k
            if request.repetition_penalty != 1.0:
                body["repetition_penalty"] = request.repetition_penalty
        return body

    def _stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        prompt = (
            request.prompt_text
            if request.prompt_text is not None
            else self.tokenizer.decode(request.prompt_ids)
        )
        stopper = StopMatcher(request.stop_strings)
        shown: list[str] = []
        raw: list[str] = []
        reason: FinishReason = "length"
        error: str | None = None
        first_at: float | None = None
        completion_tokens: int | None = None
        try:
            model = self.model_name()
            for piece, finish, usage in self._events(request, model, prompt, cancel):
                if usage is not None:
                    completion_tokens = usage.get("completion_tokens", completion_tokens)
                if piece:
                    if first_at is None:
                        first_at = time.perf_counter()
                    raw.append(piece)
                    text = stopper.push(piece)
                    if text:
                        shown.append(text)
                        yield TextChunk(text)
                    if stopper.stopped:
                        reason = "stop"
                        break
                if finish is not None:
                    reason = "stop" if finish == "stop" else "length"
                if cancel.is_set():
                    reason = "cancelled"
                    break
            else:
                if cancel.is_set():
                    reason = "cancelled"
        except (EngineError, RemoteFailure) as exc:
            reason, error = "error", str(exc)
        if not stopper.stopped:
            tail = stopper.flush()
            if tail:
                shown.append(tail)
                yield TextChunk(tail)
        if reason == "stop" and not stopper.stopped and completion_tokens is not None:
            # A server says "stop" both for eos and for a stop string; with no stop string seen, it was eos.
            reason = "eos"
        ended = time.perf_counter()
        text = "".join(shown)
        new_tokens = (
            completion_tokens if completion_tokens is not None else len(self.tokenizer.encode("".join(raw)))
        )
        decode_s = ended - first_at if first_at is not None else 0.0
        stats = GenerationStats(
            ttft_s=(first_at or ended) - started,
            new_tokens=new_tokens,
            tokens_per_s=(new_tokens - 1) / decode_s if new_tokens > 1 and decode_s > 0 else 0.0,
            prefill_tokens=len(request.prompt_ids),
            reused_tokens=0,
            peak_memory_bytes=0,
            model=self._model or "?",
            device=self.config.base_url,
        )
        yield Finished(text, reason, stats, error)

    def _events(
        self, request: GenerationRequest, model: str, prompt: str, cancel: threading.Event
    ) -> Iterator[tuple[str, str | None, dict[str, Any] | None]]:
        """(text, finish_reason, usage) per SSE event, until [DONE]; RemoteFailure on anything else."""
        import httpx

        url = f"{self.api_root}/completions"
        try:
            with self._client.stream("POST", url, json=self._body(request, model, prompt)) as response:
                if response.status_code >= 400:
                    detail = response.read().decode("utf-8", "replace")
                    if self._send_extras and response.status_code in (400, 422) and _names_extras(detail):
                        self._send_extras = False  # a strict server: resend without the optional fields
                        yield from self._events(request, model, prompt, cancel)
                        return
                    raise RemoteFailure(self._explain_status(response.status_code, detail))
                done = False
                for line in response.iter_lines():
                    if cancel.is_set():
                        return
                    if not line or line.startswith(":"):
                        continue  # event separator or SSE comment (keep-alive)
                    if not line.startswith("data:"):
                        continue  # "event:" / "id:" fields carry nothing we use
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    event = _parse_event(data)
                    # Not every server sends [DONE] (transformers serve ends after the finish_reason event).
                    done = event[1] is not None
                    yield event
                if not done:
                    raise RemoteFailure(
                        "the server closed the stream before the reply was complete (partial reply kept)"
                    )
        except httpx.HTTPError as exc:
            raise RemoteFailure(self._explain_transport(exc)) from None

    def _explain_transport(self, exc: BaseException) -> str:
        import httpx

        where = self.config.base_url
        if isinstance(exc, httpx.ConnectTimeout):
            return f"no answer from {where} within {self.config.connect_timeout_s:g} s: is the server up and reachable?"
        if isinstance(exc, httpx.ConnectError):
            return (
                f"cannot connect to {where} (connection refused or host unreachable): is the server running?"
            )
        if isinstance(exc, httpx.ReadTimeout):
            return (
                f"{where} sent nothing for {self.config.read_timeout_s:g} s: the server is stuck or overloaded "
                "(partial reply kept; raise the read timeout if it is just slow)"
            )
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
            return f"the connection to {where} broke off mid-reply (the server stopped or crashed; partial reply kept)"
        return f"request to {where} failed: {type(exc).__name__}: {exc}"

    def _explain_status(self, status: int, body: str) -> str:
        detail = _error_detail(body)
        where = self.config.base_url
        if status in (401, 403):
            env = self.config.api_key_env
            hint = (
                f"check the key in ${env}"
                if env
                else "set remote_api_key_env to the variable holding the key"
            )
            return f"{where} refused the request (HTTP {status}): {hint}"
        if status == 404:
            return (
                f"{where} has no /v1/completions or does not serve model {self._model!r} (HTTP 404): {detail}"
            )
        return f"{where} answered HTTP {status}: {detail}"


def _names_extras(detail: str) -> bool:
    return any(name in detail for name in EXTRA_FIELDS)


def _error_detail(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data))
        if isinstance(err, dict):
            err = err.get("message", err)
        text = str(err)
    else:
        text = body.strip() or "no details"
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:199] + "…"


def _parse_event(data: str) -> tuple[str, str | None, dict[str, Any] | None]:
    try:
        event = json.loads(data)
    except ValueError:
        raise RemoteFailure(
            f"the server sent malformed stream data ({data[:60]!r}; partial reply kept)"
        ) from None
    if not isinstance(event, dict):
        raise RemoteFailure("the server sent a stream event that is not a JSON object (partial reply kept)")
    if "error" in event:
        raise RemoteFailure(f"the server reported an error mid-reply: {_error_detail(json.dumps(event))}")
    choices = event.get("choices") or []
    usage = event.get("usage") if isinstance(event.get("usage"), dict) else None
    if not choices:
        return "", None, usage
    choice = choices[0]
    if not isinstance(choice, dict):
        raise RemoteFailure("the server sent a stream event without a completion choice (partial reply kept)")
    text = choice.get("text")
    if text is None and isinstance(choice.get("delta"), dict):
        text = choice["delta"].get("content")  # a chat-style chunk from a lenient server
    return str(text or ""), choice.get("finish_reason"), usage
