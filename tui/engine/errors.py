"""Engine faults as one user-facing sentence each.

Load failures raise EngineError; failures while generating end the stream with Finished(reason="error") and
the same kind of sentence. The mapping looks at exception types by name so that this module imports neither
torch nor huggingface_hub.
"""

from __future__ import annotations

from tui.errors import StableLMTuiError


class EngineError(StableLMTuiError):
    """A fault the user can act on (out of memory, missing or gated model, server down...): one sentence.

    Raised before any output (while resolving the device or loading a model), it is the user's setup to fix,
    like bad input: exit status 2 from every command.
    """

    exit_code = 2


OOM_ADVICE = (
    "lower the context window or max new tokens, load the model quantized (int8/int4), "
    "or use residency 'swap' or 'single' so only one model stays on the GPU"
)


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def is_out_of_memory(exc: BaseException) -> bool:
    if "OutOfMemoryError" in _names(exc):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


# The Japanese StableLM Alpha models on the Hub; a near miss in a preset gets them listed.
JA_ALPHA_MODELS = (
    "stabilityai/japanese-stablelm-base-alpha-7b",
    "stabilityai/japanese-stablelm-instruct-alpha-7b",
    "stabilityai/japanese-stablelm-instruct-alpha-7b-v2",
)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes: transformers re-raises hub errors as OSError `from` the original."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _status(exc: BaseException) -> int | None:
    code = getattr(getattr(exc, "response", None), "status_code", None)
    return code if isinstance(code, int) else None


def explain_load_error(exc: BaseException, model: str) -> str:
    """One sentence for a failure while resolving, downloading or loading `model`."""
    chain = _chain(exc)
    names = set().union(*(_names(e) for e in chain))
    text = " ".join(str(e) for e in chain)
    lowered = text.lower()
    page = f"https://huggingface.co/{model}"
    if any(is_out_of_memory(e) for e in chain):
        return f"not enough memory to load {model}: {OOM_ADVICE}"
    for e in chain:
        if "ContextTooLongError" in _names(e):
            return str(e)
    if "GatedRepoError" in names or "gated repo" in lowered or "is gated" in lowered:
        if "awaiting a review" in lowered:
            return (
                f"{model} is gated and your access request is still awaiting review by its authors ({page})"
            )
        if any(_status(e) == 403 for e in chain) or "not in the authorized list" in lowered:
            return (
                f"{model} is gated and the account of this machine's token has not been granted access: "
                f"accept the terms on {page} with that account (the model's license), or log in with another "
                "(`hf auth login` or HF_TOKEN)"
            )
        return (
            f"{model} is gated: accept its terms on {page}, then give this machine a token of that account "
            "(`hf auth login` or HF_TOKEN); the terms are the model's license"
        )
    if (
        "RepositoryNotFoundError" in names
        or "is not a valid model identifier" in lowered
        or "not a local folder" in lowered
        or "repo id must be in the form" in lowered
    ):
        hint = ""
        if "japanese-stablelm" in model and "alpha" in model and model not in JA_ALPHA_MODELS:
            hint = f" (the Alpha models are {', '.join(JA_ALPHA_MODELS)})"
        return f"model {model} not found on the Hugging Face hub or as a directory: check the name in the preset{hint}"
    if (
        "LocalEntryNotFoundError" in names
        or "OfflineModeIsEnabled" in names
        or "ConnectionError" in names
        or "ConnectError" in names
        or "couldn't connect" in lowered
        or "cannot find the requested files in the disk cache" in lowered
    ):
        return (
            f"{model} is not in the local Hugging Face cache and the hub cannot be reached: "
            "download it once with a network, or point the preset at a local directory"
        )
    if "does not appear to have" in lowered or "no file named" in lowered:
        return f"{model} is missing a weight file (an interrupted download?): download it again, e.g. `hf download {model}`"
    if (
        "SafetensorError" in names
        or "HeaderTooLarge" in text
        or ("header" in lowered and "deserializ" in lowered)
        or "incomplete metadata" in lowered
        or "invalid load key" in lowered
        or "unexpected end of file" in lowered
        or "pytorchstreamreader failed" in lowered
    ):
        return (
            f"a weight file of {model} is corrupt or incomplete: delete it from the Hugging Face cache "
            "(`hf cache delete`) or the model directory and download it again"
        )
    if "trust_remote_code" in text:
        if "japanese-stablelm" in model and "alpha" in model:
            return (
                f"{model} was handed to transformers without our config: load it with "
                "config=tui.models.load_config(...) so our native module is used, never its remote code"
            )
        return (
            f"{model} needs its own Python code (trust_remote_code): the preset must allow it and you must "
            "confirm it once with `stablelm-tui trust`"
        )
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return f"cannot load {model}: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"cannot load {model}: {type(exc).__name__}: {first_line}"


def explain_generation_error(exc: BaseException) -> str:
    if is_out_of_memory(exc):
        return f"out of memory while generating (the KV cache was freed): {OOM_ADVICE}"
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"generation failed: {type(exc).__name__}: {first_line}".rstrip(": ")
