"""A remote OpenAI-compatible server (`stablelm-tui serve`, vLLM, llama.cpp server, `transformers serve`) as a Backend.

We call /v1/completions with stream=true and send the prompt as the planned token ids (`prompt` may be a list of
ints), so the server never re-tokenizes: what the meter counted is exactly what the model sees, a literal
`<|endoftext|>` typed by the user stays text, and no server-side BOS shifts the count. A server that rejects id
lists (`transformers serve` takes only text) gets the rendered prompt text instead, from then on, and every
Finished says so (`stats.prompt_as_text`) so the status line can warn that the server's counts may differ.

The server's prefix-cache hits come back in `usage.prompt_tokens_details.cached_tokens` (asked for with
`stream_options.include_usage`) and are reported as `reused_tokens`, where the local engine reports its KV reuse.

The SSE stream is parsed by the maintained `openai` package (framing, `[DONE]`, error events). It costs about
150 µs of client CPU per event where a hand-written parser took 25 µs (measured on the 2-core dev VM, 3,000
events): under 2 % of one core at 100 tokens/s, so not a reason to keep our own parser. The client is built so
that nothing from the environment reaches the server: openai would otherwise send OPENAI_API_KEY, OPENAI_ORG_ID,
OPENAI_PROJECT_ID and an Authorization header from OPENAI_CUSTOM_HEADERS (it even replaces an explicit key).

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
from typing import TYPE_CHECKING, Any, Protocol

from tui.engine.errors import EngineError
from tui.engine.events import Finished, FinishReason, GenerationStats, StreamEvent, TextChunk
from tui.engine.remote_chunks import RemoteFailure, Reply, body_text, error_detail, read_chunk
from tui.engine.request import GenerationRequest
from tui.engine.stops import StopMatcher

if TYPE_CHECKING:
    from tui.presets import Mode, Preset

# Optional request fields that vLLM accepts but strict servers may reject with 4xx; dropped after such a refusal.
EXTRA_FIELDS = ("top_k", "repetition_penalty", "stream_options")


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


class OpenAIBackend:
    def __init__(self, config: RemoteConfig, tokenizer: TextTokenizer, *, client: Any = None) -> None:
        import openai

        root = config.base_url.rstrip("/")
        self.api_root = root if root.endswith("/v1") else f"{root}/v1"
        self.config = config
        self.tokenizer = tokenizer
        self._model = config.model
        self._send_extras = True
        self._prompt_as_text = False
        key = self._api_key()
        omit: Any = openai.Omit()
        # Explicit values for every header openai would otherwise fill in from OPENAI_* variables.
        headers: Any = {"OpenAI-Organization": omit, "OpenAI-Project": omit}
        headers["Authorization"] = f"Bearer {key}" if key else omit
        self._request_headers: Any = None if key else {"Authorization": omit}
        self._client = client or openai.OpenAI(
            base_url=self.api_root,
            api_key=key or "unused",  # never sent: the Authorization header above decides
            max_retries=0,  # a failure is reported at once; sending again is the retry
            timeout=openai.Timeout(config.read_timeout_s, connect=config.connect_timeout_s),
            default_headers=headers,
        )

    @property
    def name(self) -> str:
        return self._model or self.config.base_url

    def _api_key(self) -> str | None:
        env = self.config.api_key_env
        if not env:
            return None
        key = os.environ.get(env)
        if not key:
            raise EngineError(f"the API key variable {env} named in the config is not set in the environment")
        return key

    def close(self) -> None:
        self._client.close()

    def reusable_prefix(self, prompt_ids: list[int]) -> int:
        return 0  # the server says what it reused only after the call (usage.prompt_tokens_details)

    # -- model discovery ---------------------------------------------------------------------------------------

    def listed_models(self) -> list[str]:
        """The model names the server lists (/v1/models); EngineError with one sentence when it cannot say."""
        import openai

        try:
            page = self._client.models.list(extra_headers=self._request_headers)
            return [str(m.id) for m in page.data]
        except openai.APIStatusError as exc:
            raise EngineError(self._explain_status(exc.status_code, body_text(exc))) from None
        except openai.APIError as exc:
            raise EngineError(self._explain_transport(exc)) from None
        except Exception:
            raise EngineError(f"{self.api_root}/models did not return an OpenAI model list") from None

    def use_model(self, name: str) -> None:
        """Ask for `name` from the next request on (a server's `<model>+lora` and back: the chat's ctrl+l)."""
        self._model = name

    def model_name(self) -> str:
        """The configured model, else the only one the server lists; EngineError when that is ambiguous."""
        if self._model is None:
            names = self.listed_models()
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

    def _params(self, request: GenerationRequest, model: str, as_text: bool) -> dict[str, Any]:
        if as_text:
            prompt: Any = (
                request.prompt_text
                if request.prompt_text is not None
                else self.tokenizer.decode(request.prompt_ids)
            )
        else:
            prompt = list(request.prompt_ids)
        params: dict[str, Any] = {
            "model": model,
            "prompt": prompt,
            "max_tokens": request.max_new_tokens,
            "stream": True,
            "temperature": 0.0 if request.greedy else request.temperature,
            "top_p": 1.0 if request.greedy else request.top_p,
            "extra_headers": self._request_headers,
        }
        if request.seed is not None:
            params["seed"] = request.seed
        if request.stop_strings:
            params["stop"] = list(request.stop_strings)
        if self._send_extras:
            params["stream_options"] = {"include_usage": True}
            extra: dict[str, Any] = {}
            if not request.greedy and request.top_k > 0:
                extra["top_k"] = request.top_k
            if request.repetition_penalty != 1.0:
                extra["repetition_penalty"] = request.repetition_penalty
            if extra:
                params["extra_body"] = extra
        return params

    def _stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        stopper = StopMatcher(request.stop_strings)
        shown: list[str] = []
        raw: list[str] = []
        reason: FinishReason = "length"
        error: str | None = None
        first_at: float | None = None
        reply = Reply()
        try:
            model = self.model_name()
            for piece in self._pieces(request, model, cancel, reply):
                if first_at is None:
                    first_at = time.perf_counter()
                raw.append(piece)
                text = stopper.push(piece)
                if text:
                    shown.append(text)
                    yield TextChunk(text)
                if stopper.stopped:
                    break
            if reply.finish is not None:
                reason = "stop" if reply.finish == "stop" else "length"
            if stopper.stopped:
                reason = "stop"
            elif cancel.is_set():
                reason = "cancelled"
        except (EngineError, RemoteFailure) as exc:
            reason, error = "error", str(exc)
        if not stopper.stopped:
            tail = stopper.flush()
            if tail:
                shown.append(tail)
                yield TextChunk(tail)
        if reason == "stop" and not stopper.stopped and reply.completion_tokens is not None:
            # A server says "stop" both for eos and for a stop string; with no stop string seen, it was eos.
            reason = "eos"
        ended = time.perf_counter()
        new_tokens = (
            reply.completion_tokens
            if reply.completion_tokens is not None
            else len(self.tokenizer.encode("".join(raw)))
        )
        decode_s = ended - first_at if first_at is not None else 0.0
        reused = min(reply.cached_tokens or 0, len(request.prompt_ids))
        stats = GenerationStats(
            ttft_s=(first_at or ended) - started,
            new_tokens=new_tokens,
            tokens_per_s=(new_tokens - 1) / decode_s if new_tokens > 1 and decode_s > 0 else 0.0,
            prefill_tokens=len(request.prompt_ids) - reused,
            reused_tokens=reused,
            peak_memory_bytes=0,
            model=self._model or "?",
            device=self.config.base_url,
            prompt_as_text=self._prompt_as_text,
        )
        yield Finished("".join(shown), reason, stats, error)

    def _open(self, request: GenerationRequest, model: str) -> Any:
        """The response stream, after the retries a strict server needs (fewer fields, then the prompt as text)."""
        import openai

        as_text = self._prompt_as_text
        while True:
            try:
                stream = self._client.completions.create(**self._params(request, model, as_text))
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                detail = body_text(exc)
                if self._send_extras and any(name in detail for name in EXTRA_FIELDS):
                    self._send_extras = False  # a strict server: send again without the optional fields
                    continue
                if not as_text:
                    as_text = True  # perhaps a server that takes only text: it will tokenize it itself
                    continue
                raise RemoteFailure(self._explain_status(exc.status_code, detail)) from None
            except openai.APIStatusError as exc:
                raise RemoteFailure(self._explain_status(exc.status_code, body_text(exc))) from None
            except openai.APIError as exc:
                raise RemoteFailure(self._explain_transport(exc)) from None
            self._prompt_as_text = as_text  # remembered only once the server took it
            return stream

    def _pieces(
        self, request: GenerationRequest, model: str, cancel: threading.Event, reply: Reply
    ) -> Iterator[str]:
        """Reply text per event until the server ends the stream; RemoteFailure on anything else."""
        import openai

        stream = self._open(request, model)
        try:
            for chunk in stream:
                if cancel.is_set():
                    return
                piece = read_chunk(chunk, reply)
                if piece:
                    yield piece
        except openai.APIStatusError as exc:
            raise RemoteFailure(self._explain_status(exc.status_code, body_text(exc))) from None
        except openai.APIConnectionError as exc:  # timeouts included
            raise RemoteFailure(self._explain_transport(exc)) from None
        except openai.APIError as exc:  # an error event inside the stream
            detail = error_detail(json.dumps({"error": exc.body}) if exc.body else exc.message)
            raise RemoteFailure(f"the server reported an error mid-reply: {detail}") from None
        except ValueError as exc:
            doc = getattr(exc, "doc", "")
            raise RemoteFailure(
                f"the server sent malformed stream data ({doc[:60]!r}; partial reply kept)"
            ) from None
        finally:
            stream.close()
        if reply.finish is None and not cancel.is_set():
            # Not every server sends [DONE] (transformers serve ends after the finish_reason event), but every
            # one marks its last text event with a finish_reason.
            raise RemoteFailure(
                "the server closed the stream before the reply was complete (partial reply kept)"
            )

    def _explain_transport(self, exc: BaseException) -> str:
        # openai wraps the transport's exception; its cause says what actually happened.
        cause = exc.__cause__ or exc
        names = {cls.__name__ for cls in (*type(cause).__mro__, *type(exc).__mro__)}
        where = self.config.base_url
        if "ConnectTimeout" in names:
            return f"no answer from {where} within {self.config.connect_timeout_s:g} s: is the server up and reachable?"
        if "ConnectError" in names:
            return (
                f"cannot connect to {where} (connection refused or host unreachable): is the server running?"
            )
        if "TimeoutException" in names or "APITimeoutError" in names:
            return (
                f"{where} sent nothing for {self.config.read_timeout_s:g} s: the server is stuck or overloaded "
                "(partial reply kept; raise the read timeout if it is just slow)"
            )
        if names & {"RemoteProtocolError", "ReadError", "EndOfStream", "APIConnectionError"}:
            return f"the connection to {where} broke off mid-reply (the server stopped or crashed; partial reply kept)"
        return f"request to {where} failed: {type(cause).__name__}: {cause}"

    def _explain_status(self, status: int, body: str) -> str:
        detail = error_detail(body)
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


def backend_for_preset(
    preset: Preset,
    mode: Mode,
    tokenizer: TextTokenizer,
    *,
    base_url: str | None = None,
    server: str | None = None,
    model: str | None = None,
    read_timeout_s: float = 120.0,
    api_key_env: str | None = None,
) -> OpenAIBackend:
    """The backend for `mode`: --server (a `stablelm-tui serve`) or --base-url, else the preset's settings.

    Against `--server` the model defaults to the name `stablelm-tui serve` gives it (preset-mode), so one server
    serving base and instruct answers the chat's mode toggle; elsewhere it defaults to the only one listed.
    """
    from tui.errors import UserError

    preset_url, preset_model = preset.remote_for(mode)
    url = server or base_url or preset_url
    if not url:
        raise UserError("--backend openai needs --base-url URL (or remote_base_url in the preset)")
    if read_timeout_s <= 0:
        raise UserError(f"--timeout must be positive, got {read_timeout_s:g}")
    name = model or preset_model or (preset.served_name(mode) if server else None)
    config = RemoteConfig(
        base_url=url,
        model=name,
        api_key_env=api_key_env or preset.remote_api_key_env,
        read_timeout_s=read_timeout_s,
    )
    return OpenAIBackend(config, tokenizer)
