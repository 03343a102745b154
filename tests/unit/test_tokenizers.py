"""Tokenizers: exact counts against sentencepiece itself, no special ids from user text, both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
import sentencepiece
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.errors import UserError
from tui.tokenizers import (
    HFJsonTokenizer,
    IdCache,
    SentencePieceTokenizer,
    load_tokenizer,
    tokenizer_for_preset,
)

TEXTS = {
    "japanese": "日本語の文章です。吾輩は猫である。名前はまだ無い。",
    "english": "The quick brown fox jumps over the lazy dog.",
    "digits": "2023年8月10日 3.14159 1,000,000",
    "double_spaces": "two  spaces  here   and three",
    "leading_space": " starts with a space",
    "emoji": "絵文字😀👍🏽🇯🇵 の後",
    "newlines": "一行目\n\n三行目\r\n四行目\n",
    "control_chars": "bell\x07 esc\x1b[31m nul\x00 del\x7f",
    "halfwidth_kana": "ﾊﾝｶｸｶﾀｶﾅ ｶﾞｷﾞｸﾞ",
    "fullwidth": "ＡＢＣ１２３　全角スペース",
    "endoftext_literal": "before<|endoftext|>after",
    "tabs_only": "\t\t",
    "empty": "",
}


@pytest.fixture(scope="module")
def spm(nerdstash_model: Path) -> sentencepiece.SentencePieceProcessor:
    return sentencepiece.SentencePieceProcessor(model_file=str(nerdstash_model))


@pytest.fixture(scope="module")
def tok(nerdstash_model: Path) -> SentencePieceTokenizer:
    return SentencePieceTokenizer(nerdstash_model)


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_counts_equal_sentencepiece(tok: SentencePieceTokenizer, spm: object, text: str) -> None:
    assert tok.encode(text) == spm.encode(text)  # type: ignore[attr-defined]
    assert tok.count(text) == len(spm.encode(text))  # type: ignore[attr-defined]
    assert tok.decode(tok.encode(text)) == text


def test_known_ids_pin_no_dummy_prefix(tok: SentencePieceTokenizer) -> None:
    # nerdstash v1 has no dummy prefix: a leading space is its own "▁..." piece and survives decoding.
    assert tok.encode("  two  spaces") == [14, 13531, 14, 1735, 1898]
    assert [tok.id_to_piece(i) for i in tok.encode(" hello")] == ["▁hello"]
    assert tok.encode("\n\nline") == [85, 85, 1325]  # newlines are byte pieces: no merge crosses them


def test_endoftext_in_text_is_plain_text(tok: SentencePieceTokenizer) -> None:
    ids = tok.encode("<|endoftext|>")
    assert tok.eos_token_id == 3
    assert 3 not in ids and 2 not in ids and len(ids) > 1
    assert tok.decode(ids) == "<|endoftext|>"


def test_never_adds_bos_or_eos(tok: SentencePieceTokenizer) -> None:
    for text in TEXTS.values():
        ids = tok.encode(text)
        assert 2 not in ids and 3 not in ids


def test_normalize_covers_the_spm_space_symbol(tok: SentencePieceTokenizer) -> None:
    assert tok.encode("a\u2581b") == tok.encode("a b")
    assert tok.decode(tok.encode("a\u2581b")) == tok.normalize("a\u2581b") == "a b"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30))
def test_encoding_pieces_separately_is_lossless(tok: SentencePieceTokenizer, a: str, b: str) -> None:
    assert tok.decode(tok.encode(a) + tok.encode(b)) == tok.normalize(a + b)


def test_id_to_piece_range(tok: SentencePieceTokenizer) -> None:
    assert tok.id_to_piece(3) == "<|endoftext|>"
    with pytest.raises(ValueError):
        tok.id_to_piece(tok.vocab_size)


def test_load_tokenizer_specs(nerdstash_model: Path, demo_models: dict[str, Path]) -> None:
    by_file = load_tokenizer(str(nerdstash_model))
    by_dir = load_tokenizer(str(demo_models["base"]))
    by_demo = load_tokenizer("demo:base")
    assert by_file.identity == by_dir.identity == by_demo.identity
    assert by_file.identity.startswith("spm:")
    assert load_tokenizer("demo:base") is by_demo  # shared per spec


def test_tokenizer_for_preset() -> None:
    from tui.presets import load_settings

    tokenizer = tokenizer_for_preset(load_settings().preset("demo"))
    assert tokenizer.eos_token_id == 3 and tokenizer.vocab_size == 65535


def test_missing_paths_are_user_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="no such file"):
        load_tokenizer(str(tmp_path / "nope.model"))
    with pytest.raises(UserError, match=r"no tokenizer\.model or tokenizer\.json"):
        load_tokenizer(str(tmp_path))
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(UserError, match="not a sentencepiece model"):
        load_tokenizer(str(tmp_path / "junk.model"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(UserError, match="not in the Hugging Face cache"):
        load_tokenizer("someone/not-a-real-tokenizer-repo")


@pytest.fixture(scope="module")
def json_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small byte-level BPE tokenizer.json trained here, with <|endoftext|> as a special token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|padding|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator([*TEXTS.values()] * 20, trainer)
    directory = tmp_path_factory.mktemp("jsontok")
    tokenizer.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text('{"eos_token": "<|endoftext|>"}')
    return directory


def test_json_backend_keeps_special_tokens_as_text(json_tokenizer_dir: Path) -> None:
    tokenizer = load_tokenizer(str(json_tokenizer_dir))
    assert isinstance(tokenizer, HFJsonTokenizer)
    assert tokenizer.identity.startswith("hf:")
    eos = tokenizer.eos_token_id
    assert eos == 0
    ids = tokenizer.encode("a<|endoftext|>b")
    assert eos not in ids
    assert tokenizer.decode(ids) == "a<|endoftext|>b"
    for text in TEXTS.values():
        assert tokenizer.decode(tokenizer.encode(text)) == text
        assert tokenizer.count(text) == len(tokenizer.encode(text))


def test_json_file_path_directly(json_tokenizer_dir: Path) -> None:
    tokenizer = load_tokenizer(str(json_tokenizer_dir / "tokenizer.json"))
    assert tokenizer.encode("") == []
    assert tokenizer.eos_token_id == 0


def test_id_cache_reencodes_only_new_text(tok: SentencePieceTokenizer) -> None:
    cache = IdCache(tok, max_entries=2)
    assert cache.encode("こんにちは") == tuple(tok.encode("こんにちは"))
    cache.encode("こんにちは")
    assert (cache.hits, cache.misses) == (1, 1)
    cache.encode("b")
    cache.encode("c")  # evicts the least recently used entry
    assert len(cache) == 2
    cache.encode("こんにちは")
    assert cache.misses == 4
