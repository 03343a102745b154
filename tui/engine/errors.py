"""Engine faults as one user-facing sentence each.

Load failures raise EngineError; failures while generating end the stream with Finished(reason="error") and
the same kind of sentence. The mapping looks at exception types by name so that this module imports neither
torch nor huggingface_hub.
"""

from __future__ import annotations


class EngineError(Exception):
    """A fault the user can act on (out of memory, missing or gated model, server down...): one sentence."""


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


def explain_load_error(exc: BaseException, model: str) -> str:
    """One sentence for a failure while resolving, downloading or loading `model`."""
    names = _names(exc)
    text = str(exc)
    lowered = text.lower()
    if is_out_of_memory(exc):
        return f"not enough memory to load {model}: {OOM_ADVICE}"
    if "GatedRepoError" in names or "gated repo" in lowered or "is gated" in lowered:
        return (
            f"{model} is a gated model: accept its license on huggingface.co, then log in with "
            "`hf auth login` (or set HF_TOKEN)"
        )
    if (
        "RepositoryNotFoundError" in names
        or "is not a valid model identifier" in lowered
        or ("not a local folder" in lowered)
        or ("repo id must be in the form" in lowered)
    ):
        return f"model {model} not found: check the name (or the directory path) in the preset"
    if (
        "LocalEntryNotFoundError" in names
        or "OfflineModeIsEnabled" in names
        or "ConnectionError" in names
        or "ConnectError" in names
        or "couldn't connect" in lowered
        or "cannot find the requested files in the disk cache" in lowered
    ):
        return (
            f"cannot reach the Hugging Face hub to download {model} and it is not in the local cache: "
            "connect to the network once, or point the preset at a local directory"
        )
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
        return (
            f"{model} needs its own Python code (trust_remote_code): the preset must allow it and you must "
            "confirm it once with `stablelm-tui trust`"
        )
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return f"cannot load {model}: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    first_line = (text.strip().splitlines() or [type(exc).__name__])[0]
    return f"cannot load {model}: {type(exc).__name__}: {first_line}"


def explain_generation_error(exc: BaseException) -> str:
    if is_out_of_memory(exc):
        return f"out of memory while generating (the KV cache was freed): {OOM_ADVICE}"
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"generation failed: {type(exc).__name__}: {first_line}".rstrip(": ")
