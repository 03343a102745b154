"""The OpenAI /v1/completions request and response as `stablelm-tui serve --engine local` speaks them.

Pure functions, no I/O: `parse_completion` turns a request body into our GenerationRequest, or raises ApiError
with one sentence and the HTTP status vLLM would answer with; the `*_body` functions build vLLM-shaped JSON, where
`usage.prompt_tokens_details.cached_tokens` carries the engine's KV prefix reuse (vLLM's prefix-cache hits).
The prompt may be text (tokenized here, exactly like the client's meter) or a list of token ids (used as is:
the way stablelm-tui's own client sends it, so a literal `<|endoftext|>` in the text never becomes the control id).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tui.engine.events import Finished
from tui.engine.request import GenerationRequest
from tui.errors import UserError
from tui.presets import Mode

# The OpenAI default when a request names no max_tokens.
DEFAULT_MAX_TOKENS = 16
ERROR_TYPES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    404: "NotFoundError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}
# Fields of the OpenAI API the local engine does not implement, with the value that means "not used".
UNSUPPORTED = {
    "n": 1,
    "best_of": 1,
    "echo": False,
    "logprobs": None,
    "suffix": None,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logit_bias": None,
}


class ApiError(Exception):
    """A request the server refuses: the HTTP status and one sentence for the client."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": ERROR_TYPES.get(self.status, "Error")}
        return {"error": error | {"param": self.param, "code": self.status}}


@dataclass(frozen=True)
class ServedModel:
    name: str
    """The name clients ask for (`Preset.served_name`)."""
    mode: Mode
    ref: str
    """The preset's model reference (hub id, directory or demo:...)."""
    window: int
    """Prompt plus reply, at most."""
    vocab_size: int
    eos_token_id: int | None
    adapter: str | None = None
    """The LoRA adapter folder this name answers with (`<model>+lora`); None: the model's own weights."""
    parent: str | None = None
    """For an adapter's name, the name of the model it sits on."""


@dataclass(frozen=True)
class CompletionCall:
    model: ServedModel
    request: GenerationRequest
    stream: bool
    include_usage: bool
    """Stream a last event with `usage` (stream_options.include_usage); a non-streamed reply always has it."""


def _number(body: Mapping[str, Any], key: str, default: float) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(400, f"{key} must be a number, got {value!r}", key)
    return float(value)


def _integer(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ApiError(400, f"{key} must be an integer, got {value!r}", key)
    return value


def _is_ids(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in value)


def _prompt_ids(prompt: Any, model: ServedModel, encode: Callable[[str], list[int]]) -> list[int]:
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]  # a batch of one
    if isinstance(prompt, str):
        try:
            ids = encode(prompt)
        except (UserError, ValueError, TypeError) as exc:
            raise ApiError(400, f"cannot tokenize the prompt: {exc}", "prompt") from None
    elif _is_ids(prompt):
        ids = list(prompt)
        bad = next((i for i in ids if not 0 <= i < model.vocab_size), None)
        if bad is not None:
            raise ApiError(
                400, f"prompt token id {bad} is outside the vocabulary (0..{model.vocab_size - 1})", "prompt"
            )
    elif isinstance(prompt, list) and all(isinstance(p, str) or _is_ids(p) for p in prompt):
        raise ApiError(400, "one prompt per request: this server does not batch", "prompt")
    else:
        raise ApiError(400, "prompt must be a string or a list of token ids", "prompt")
    if not ids:
        raise ApiError(
            400, "the prompt is empty: there must be at least one token to continue from", "prompt"
        )
    return ids


def _stop(body: Mapping[str, Any]) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise ApiError(400, "stop must be a non-empty string or a list of them", "stop")
    return tuple(stops)


def resolve_model(body: Mapping[str, Any], models: Mapping[str, ServedModel]) -> ServedModel:
    name = body.get("model")
    served = ", ".join(models)
    if name is None:
        if len(models) == 1:
            return next(iter(models.values()))
        raise ApiError(400, f"model is required: this server serves {served}", "model")
    if name not in models:
        raise ApiError(404, f"The model `{name}` does not exist; this server serves {served}", "model")
    return models[name]


def parse_completion(
    body: Any, models: Mapping[str, ServedModel], encode: Callable[[str], list[int]]
) -> CompletionCall:
    """The request as our GenerationRequest for the model it names; ApiError for anything we would not honour."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    model = resolve_model(body, models)
    for key, neutral in UNSUPPORTED.items():
        if body.get(key) not in (None, neutral):
            raise ApiError(400, f"{key} is not supported by the local engine", key)
    ids = _prompt_ids(body.get("prompt"), model, encode)
    room = model.window - len(ids)
    max_tokens = _integer(body, "max_tokens")
    if "max_tokens" not in body:
        max_tokens = DEFAULT_MAX_TOKENS
    elif max_tokens is None:
        max_tokens = room  # vLLM's reading of null: as much as the window leaves
    if max_tokens < 1:
        raise ApiError(400, f"max_tokens must be at least 1, got {max_tokens}", "max_tokens")
    if len(ids) + max_tokens > model.window:
        raise ApiError(
            400,
            f"This model's maximum context length is {model.window} tokens. However, you requested "
            f"{len(ids) + max_tokens} tokens ({len(ids)} in the prompt, {max_tokens} for the completion). "
            "Please reduce the length of the prompt or completion.",
            "max_tokens",
        )
    top_k = _integer(body, "top_k") or 0
    if top_k < -1:
        raise ApiError(400, f"top_k must be -1 (off), 0 (off) or positive, got {top_k}", "top_k")
    request = GenerationRequest(
        prompt_ids=ids,
        max_new_tokens=max_tokens,
        temperature=_number(body, "temperature", 1.0),
        top_p=_number(body, "top_p", 1.0),
        top_k=max(top_k, 0),
        repetition_penalty=_number(body, "repetition_penalty", 1.0),
        seed=_integer(body, "seed"),
        stop_strings=_stop(body),
        # vLLM's ignore_eos: generate exactly max_tokens (benchmarks).
        eos_token_id=None if body.get("ignore_eos") is True else model.eos_token_id,
    )
    try:
        request.validate()
    except UserError as exc:
        raise ApiError(400, str(exc)) from None
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise ApiError(400, f"stream must be true or false, got {stream!r}", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "stream_options must be an object", "stream_options")
    return CompletionCall(model, request, stream, bool(options.get("include_usage")))


# -- responses -------------------------------------------------------------------------------------------------


def new_completion_id() -> str:
    return f"cmpl-{uuid.uuid4().hex}"


def finish_reason(finished: Finished) -> str | None:
    """OpenAI's finish_reason: eos and stop strings are both "stop"; a cancelled or failed reply has none."""
    return {"eos": "stop", "stop": "stop", "length": "length"}.get(finished.reason)


def usage_body(call: CompletionCall, finished: Finished) -> dict[str, Any]:
    prompt = len(call.request.prompt_ids)
    # Like vLLM, the eos token the model produced counts as a completion token.
    completion = len(finished.token_ids) + (1 if finished.reason == "eos" else 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": finished.stats.reused_tokens},
    }


def _completion(cid: str, created: int, model: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": cid, "object": "text_completion", "created": created, "model": model, "choices": choices}


def _choice(text: str, finish: str | None) -> dict[str, Any]:
    return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}


def chunk_body(cid: str, created: int, call: CompletionCall, text: str, finish: str | None) -> dict[str, Any]:
    return _completion(cid, created, call.model.name, [_choice(text, finish)])


def usage_chunk_body(cid: str, created: int, call: CompletionCall, finished: Finished) -> dict[str, Any]:
    """The last streamed event when the client asked for usage: no choices, only usage (as vLLM sends it)."""
    return _completion(cid, created, call.model.name, []) | {"usage": usage_body(call, finished)}


def completion_body(call: CompletionCall, finished: Finished) -> dict[str, Any]:
    body = _completion(
        new_completion_id(),
        int(time.time()),
        call.model.name,
        [_choice(finished.text, finish_reason(finished))],
    )
    return body | {"usage": usage_body(call, finished)}


def models_body(models: Mapping[str, ServedModel], created: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {
                "id": m.name,
                "object": "model",
                "created": created,
                "owned_by": "stablelm-tui",
                "root": m.adapter or m.ref,
                "parent": m.parent,
                "max_model_len": m.window,
            }
            for m in models.values()
        ],
    }
