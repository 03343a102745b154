"""The tokenizer.json written for external engines gives the same ids as the nerdstash sentencepiece model."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.errors import UserError
from tui.serving.spm_json import read_spm_model, spm_to_tokenizer_json, tokenizer_config
from tui.tokenizers import HFJsonTokenizer, SentencePieceTokenizer

HOSTILE = {
    "leading spaces": "   indented",
    "only spaces": " ",
    "long run of spaces": " " * 45 + "x" + " " * 17,
    "newlines and carriage returns": "a\nb\r\n\n\nc\r",
    "tabs": "\t\tcode\t",
    "literal end of text": "<|endoftext|>",
    "end of text inside words": "before<|endoftext|>after <|startoftext|><|pad|><|unknown|>",
    "user-defined pieces": '<|spmspace|><|spmspace|> *** ---- "Author Title: Tags 0123456789',
    "byte piece spelled out": "<0x41><0x0A>",
    "emoji": "😀👨‍👩‍👧🇯🇵✌🏽",
    "half and full width": "ｈｅｌｌｏ　１２３ ﾊﾝｶｸｶﾀｶﾅ ＡＢＣ abc",
    "japanese prose": "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。",
    "byte fallback": "\x00\x01\x7f\ue000\U0010fffd𠮷",
    "combining marks": "e\u0301 a\u0308 か\u3099",
    "the sentencepiece space symbol": "a\u2581b \u2581",
    "em and en spaces": "\u2003\u2002 \u00a0\u3000",
    "mixed scripts": "Hello世界 Привет مرحبا 🙂 123",
}
FRAGMENTS = [
    " ",
    "  ",
    "\n",
    "\t",
    "<|endoftext|>",
    "<|spmspace|>",
    "▁",
    "***",
    "1",
    "ｱ",
    "。",
    "😀",
    "\u0301",
    "\x00",
]
hostile_text = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(FRAGMENTS)), max_size=12).map("".join)


@pytest.fixture(scope="module")
def pair(
    nerdstash_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SentencePieceTokenizer, HFJsonTokenizer]:
    out = tmp_path_factory.mktemp("spm-json") / "tokenizer.json"
    out.write_text(spm_to_tokenizer_json(nerdstash_model), encoding="utf-8")
    return SentencePieceTokenizer(nerdstash_model), HFJsonTokenizer(out, "<|endoftext|>")


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_text_gets_the_sentencepiece_ids_and_decodes_alike(
    pair: tuple[SentencePieceTokenizer, HFJsonTokenizer], text: str
) -> None:
    spm, json_tok = pair
    ids = spm.encode(text)
    assert json_tok.encode(text) == ids
    assert json_tok.decode(ids) == spm.decode(ids)


def test_a_typed_end_of_text_stays_text(pair: tuple[SentencePieceTokenizer, HFJsonTokenizer]) -> None:
    _, json_tok = pair
    ids = json_tok.encode("<|endoftext|>")
    assert 3 not in ids and len(ids) > 1


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_any_text_gets_the_sentencepiece_ids(
    pair: tuple[SentencePieceTokenizer, HFJsonTokenizer], text: str
) -> None:
    spm, json_tok = pair
    assert json_tok.encode(text) == spm.encode(text)


def test_control_ids_are_special_and_keep_their_numbers(
    pair: tuple[SentencePieceTokenizer, HFJsonTokenizer],
) -> None:
    spm, json_tok = pair
    assert json_tok.eos_token_id == spm.eos_token_id == 3
    for token_id in (0, 1, 2, 3, 75, 1000, 65534):
        assert json_tok.id_to_piece(token_id) == spm.id_to_piece(token_id)


def test_the_model_file_is_read_without_protobuf(nerdstash_model: Path) -> None:
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_file=str(nerdstash_model))
    model = read_spm_model(processor.serialized_model_proto())
    assert len(model.pieces) == processor.get_piece_size()
    assert model.model_type == 2 and model.byte_fallback and model.normalizer == "identity"
    assert [piece for piece, _ in model.pieces[:4]] == [
        "<|pad|>",
        "<|unknown|>",
        "<|startoftext|>",
        "<|endoftext|>",
    ]


def test_tokenizer_config_adds_no_bos_and_names_the_eos(nerdstash_model: Path) -> None:
    config = tokenizer_config(nerdstash_model)
    assert config["eos_token"] == "<|endoftext|>" and config["add_bos_token"] is False
    assert config["split_special_tokens"] is True


def test_a_file_that_is_not_sentencepiece_is_one_sentence(tmp_path: Path) -> None:
    bogus = tmp_path / "tokenizer.model"
    bogus.write_bytes(b"not a model")
    with pytest.raises(UserError, match="not a sentencepiece model"):
        spm_to_tokenizer_json(bogus)
