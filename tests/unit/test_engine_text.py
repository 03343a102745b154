"""Incremental detokenizer and stop-string matcher: pure logic, on the real nerdstash v1 tokenizer."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.engine.detokenizer import REPLACEMENT, IncrementalDetokenizer
from tui.engine.stops import StopMatcher


class CountingSpm:
    """sentencepiece behind the Decoder protocol, counting how many ids each decode call sees."""

    def __init__(self, path: Path) -> None:
        import sentencepiece

        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(path))
        self.decoded_ids = 0

    def encode(self, text: str) -> list[int]:
        return list(self.sp.encode(text))

    def decode(self, ids: Sequence[int]) -> str:
        self.decoded_ids += len(ids)
        return str(self.sp.decode(list(ids)))

    def id_to_piece(self, token_id: int) -> str:
        return str(self.sp.id_to_piece(token_id))


@pytest.fixture(scope="module")
def spm(nerdstash_model: Path) -> CountingSpm:
    return CountingSpm(nerdstash_model)


def stream_text(tok: CountingSpm, ids: list[int]) -> list[str]:
    detok = IncrementalDetokenizer(tok)
    chunks = [detok.push(i) for i in ids]
    chunks.append(detok.flush())
    return chunks


def byte_ids(tok: CountingSpm, text: str) -> list[int]:
    """Ids of the byte-fallback pieces <0xNN> spelling `text`'s UTF-8 bytes."""
    return [int(tok.sp.piece_to_id(f"<0x{b:02X}>")) for b in text.encode("utf-8")]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("こんにちは、世界。今日は良い天気ですね。", id="japanese"),
        pytest.param("hello  world\n  indented ▁ marker", id="spaces-and-marker"),
        pytest.param("寿司🍣と𠮷野家、かな漢字カナ", id="emoji-and-rare-kanji"),
        pytest.param(" leading space", id="leading-space"),
    ],
)
def test_stream_equals_one_shot_decode(spm: CountingSpm, text: str) -> None:
    ids = spm.encode(text)
    chunks = stream_text(spm, ids)
    assert "".join(chunks) == spm.decode(ids)
    assert not any(REPLACEMENT in c for c in chunks)


def test_byte_fallback_pieces_never_show_half_a_character(spm: CountingSpm) -> None:
    text = "あ🍣漢"
    ids = byte_ids(spm, text)
    assert all(spm.id_to_piece(i).startswith("<0x") for i in ids)
    chunks = stream_text(spm, ids)
    assert "".join(chunks) == text
    assert [c for c in chunks if c] == ["あ", "🍣", "漢"]


def test_incomplete_tail_is_flushed_as_decode_shows_it(spm: CountingSpm) -> None:
    ids = spm.encode("abc") + byte_ids(spm, "あ")[:2]
    chunks = stream_text(spm, ids)
    assert REPLACEMENT not in "".join(chunks[:-1])
    assert "".join(chunks) == spm.decode(ids)


def test_decoding_work_is_linear_not_quadratic(spm: CountingSpm) -> None:
    ids = spm.encode("日本語の文章を長く書きます。" * 60)
    spm.decoded_ids = 0
    stream_text(spm, ids)
    # Each step decodes a window of a few ids; re-decoding the reply would cost ~len(ids)**2 / 2.
    assert spm.decoded_ids < 6 * len(ids)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=4, max_value=65534), max_size=40))
def test_any_id_sequence_streams_to_its_decode(spm: CountingSpm, ids: list[int]) -> None:
    assert "".join(stream_text(spm, ids)) == spm.decode(ids)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30))
def test_any_text_as_bytes_streams_without_replacement(spm: CountingSpm, text: str) -> None:
    chunks = stream_text(spm, byte_ids(spm, text))
    assert "".join(chunks) == text
    assert not any(REPLACEMENT in c for c in chunks if REPLACEMENT not in text)


# -- stop strings --------------------------------------------------------------------------------------------


def run_stops(stops: tuple[str, ...], pieces: list[str]) -> tuple[str, list[str], bool]:
    matcher = StopMatcher(stops)
    shown = [matcher.push(p) for p in pieces]
    shown.append(matcher.flush())
    return "".join(shown), shown, matcher.stopped


@pytest.mark.parametrize(
    ("stops", "pieces", "expected", "stopped"),
    [
        pytest.param(
            ("\nユーザー:",), ["こんにちは", "\nユー", "ザー:", "続き"], "こんにちは", True, id="straddles"
        ),
        pytest.param(("###",), ["a#", "#b"], "a##b", False, id="partial-then-no-match"),
        pytest.param(("###",), ["abc###def"], "abc", True, id="inside-one-chunk"),
        pytest.param(("Y", "XY"), ["aXY"], "a", True, id="earliest-match-wins"),
        pytest.param(
            ("stop",), ["no match", " at all", " st"], "no match at all st", False, id="tail-released"
        ),
        pytest.param((), ["plain"], "plain", False, id="no-stops"),
    ],
)
def test_stop_strings_cut_exactly(
    stops: tuple[str, ...], pieces: list[str], expected: str, stopped: bool
) -> None:
    text, _shown, did_stop = run_stops(stops, pieces)
    assert text == expected
    assert did_stop is stopped


def test_start_of_a_stop_string_is_held_back() -> None:
    _text, shown, _ = run_stops(("\n### 指示:",), ["答え", "\n##", "# 指示:"])
    assert shown[:2] == ["答え", ""]


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="ab#\n", max_size=30),
    st.lists(st.integers(min_value=0, max_value=30), max_size=6),
)
def test_chunking_does_not_change_the_result(text: str, cuts: list[int]) -> None:
    stops = ("##", "\nb")
    bounds = sorted({0, len(text), *(min(c, len(text)) for c in cuts)})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    ends = [i for i in (text.find(s) for s in stops) if i >= 0]
    expected = text[: min(ends)] if ends else text
    assert run_stops(stops, pieces)[0] == expected
