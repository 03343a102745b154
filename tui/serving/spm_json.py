"""An exact tokenizer.json for a sentencepiece BPE model (nerdstash v1), for engines that read only tokenizer.json.

vLLM and `transformers serve` load a model directory's tokenizer.json; transformers' own converter needs protobuf
and, on transformers 5, adds a "▁" prefix and loses leading spaces with nerdstash v1. This one reproduces what
sentencepiece's BPE encoder does, step by step, with the `tokenizers` library:

- sentencepiece's normalizer must be `identity` with no dummy prefix and no whitespace folding (nerdstash v1's):
  the only change is " " -> "▁" (so a literal "▁" encodes like a space, as in sentencepiece);
- user-defined pieces ("▁▁", digits, "<|spmspace|>"...) are cut out first, longest match from the left, and
  never merged with their neighbours: sentencepiece "freezes" them; here they are (non-special) added tokens;
- the rest is merged pairwise, the pair whose result has the best score (the lowest id: scores are -rank)
  first: one merge per way of splitting each piece into two pieces, ranked by the merged piece's id;
- characters with no piece become <0xNN> byte pieces (byte fallback), which are never merged;
- control pieces (<|endoftext|>...) are special added tokens that no merge can build, so with
  `encode_special_tokens` (tui.tokenizers.HFJsonTokenizer) a literal "<|endoftext|>" stays text.

tests/unit/test_spm_json.py proves id equality with sentencepiece on hostile text. The model file is read with a
twenty-line protobuf wire-format reader (three fields) rather than a protobuf dependency.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.errors import UserError

SPM_SPACE = "\u2581"
# sentencepiece_model.proto: ModelProto.pieces = 1, trainer_spec = 2, normalizer_spec = 3; SentencePiece.piece = 1,
# score = 2, type = 3; TrainerSpec.model_type = 3 (2 = BPE), byte_fallback = 35; NormalizerSpec.name = 1,
# add_dummy_prefix = 3 (default true), remove_extra_whitespaces = 4 (default true).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
BPE = 2


@dataclass(frozen=True)
class SpmModel:
    pieces: tuple[tuple[str, int], ...]
    """(piece, type) in id order."""
    model_type: int
    byte_fallback: bool
    normalizer: str
    add_dummy_prefix: bool
    remove_extra_whitespaces: bool


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(data: bytes) -> Iterator[tuple[int, Any]]:
    """(field number, value) of one protobuf message: ints for varints, bytes for everything else."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i : i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


def read_spm_model(serialized: bytes) -> SpmModel:
    pieces: list[tuple[str, int]] = []
    trainer: dict[int, Any] = {}
    normalizer: dict[int, Any] = {}
    for number, value in _fields(serialized):
        if number == 1:
            piece = dict(_fields(value))
            pieces.append((piece[1].decode("utf-8"), int(piece.get(3, NORMAL))))
        elif number == 2:
            trainer = dict(_fields(value))
        elif number == 3:
            normalizer = dict(_fields(value))
    return SpmModel(
        pieces=tuple(pieces),
        model_type=int(trainer.get(3, 1)),
        byte_fallback=bool(trainer.get(35, 0)),
        normalizer=normalizer.get(1, b"").decode("utf-8"),
        add_dummy_prefix=bool(normalizer.get(3, 1)),
        remove_extra_whitespaces=bool(normalizer.get(4, 1)),
    )


def _check_supported(model: SpmModel, source: Path) -> None:
    problems = []
    if model.model_type != BPE:
        problems.append("it is not a BPE model")
    if model.normalizer != "identity" or model.add_dummy_prefix or model.remove_extra_whitespaces:
        problems.append("its normalizer changes the text beyond spaces")
    if not model.byte_fallback:
        problems.append("it has no byte fallback")
    if problems:
        raise UserError(
            f"{source}: cannot write a tokenizer.json that tokenizes exactly like this sentencepiece model "
            f"({'; '.join(problems)}); serve it with --engine local"
        )


def _merges(vocab: dict[str, int], mergeable: set[str]) -> list[tuple[str, str]]:
    """Every split of a piece into two pieces, the best-scored (lowest id) result first."""
    ranked: list[tuple[int, str, str]] = []
    for piece in mergeable:
        target = vocab[piece]
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in mergeable and right in mergeable:
                ranked.append((target, left, right))
    ranked.sort()
    return [(left, right) for _, left, right in ranked]


def spm_to_tokenizer_json(model_file: Path) -> str:
    """The tokenizer.json text for `model_file`; UserError for a sentencepiece model this cannot mirror exactly."""
    import sentencepiece
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers

    try:
        processor = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
    except (OSError, RuntimeError) as exc:
        raise UserError(f"{model_file}: not a sentencepiece model ({exc})") from None
    spm = read_spm_model(processor.serialized_model_proto())
    _check_supported(spm, model_file)
    vocab = {piece: i for i, (piece, _) in enumerate(spm.pieces)}
    mergeable = {piece for piece, kind in spm.pieces if kind in (NORMAL, USER_DEFINED)}
    unknown = next(piece for piece, kind in spm.pieces if kind == UNKNOWN)
    tokenizer = Tokenizer(
        models.BPE(vocab=vocab, merges=_merges(vocab, mergeable), unk_token=unknown, byte_fallback=True)
    )
    tokenizer.normalizer = normalizers.Replace(" ", SPM_SPACE)
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace(SPM_SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    tokenizer.add_special_tokens(
        [AddedToken(piece, special=True) for piece, kind in spm.pieces if kind in (CONTROL, UNKNOWN)]
    )
    tokenizer.add_tokens(
        [
            AddedToken(piece, special=False, normalized=True)
            for piece, kind in spm.pieces
            if kind == USER_DEFINED
        ]
    )
    return str(tokenizer.to_str(pretty=False))


def tokenizer_config(model_file: Path) -> dict[str, Any]:
    """tokenizer_config.json for transformers: no BOS/EOS added (the model cards encode prompts bare), and
    `split_special_tokens` so a server that tokenizes text keeps a typed "<|endoftext|>" as text, as we do."""
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_file=str(model_file))

    def piece(token_id: int) -> str | None:
        return str(processor.id_to_piece(token_id)) if token_id >= 0 else None

    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": piece(processor.bos_id()),
        "eos_token": piece(processor.eos_id()),
        "unk_token": piece(processor.unk_id()),
        "pad_token": piece(processor.pad_id()),
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "split_special_tokens": True,
    }
