"""OpenAIBackend against a real `transformers serve` running the demo model on 127.0.0.1.

transformers 5 serves /v1/completions (legacy text completions, SSE), so the primary path is tested as is.
The server loads the tokenizer with AutoProcessor, which needs tokenizer.json (converting a bare .model file
needs protobuf): the setup writes one from the sentencepiece pieces with the `tokenizers` library.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.functional.engine_helpers import Spm, collect, never
from tui.engine.local import LocalBackend
from tui.engine.remote import OpenAIBackend, RemoteConfig
from tui.engine.request import GenerationRequest

pytestmark = pytest.mark.slow


def write_tokenizer_json(model_dir: Path) -> None:
    import sentencepiece
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers

    sp = sentencepiece.SentencePieceProcessor(model_file=str(model_dir / "tokenizer.model"))
    vocab = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    tok = Tokenizer(models.Unigram(vocab, unk_id=1, byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    tok.add_special_tokens([AddedToken(sp.id_to_piece(i), special=True) for i in range(4)])
    tok.save(str(model_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": "<|endoftext|>",
        "add_bos_token": False,
    }
    (model_dir / "tokenizer_config.json").write_text(json.dumps(config))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(
    demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    model_dir = tmp_path_factory.mktemp("served") / "demo-base"
    shutil.copytree(demo_models["base"], model_dir)
    write_tokenizer_json(model_dir)
    port = free_port()
    log = (model_dir.parent / "serve.log").open("w")
    # The real `transformers serve` CLI, in a process that first registers our Japanese StableLM Alpha
    # architecture (the demo model's): transformers has no class for it, and serve looks the config's
    # architecture up by name on the transformers module (a vLLM deployment registers it the same way).
    launcher = (
        "import sys, transformers, tui.models; "
        "transformers.JapaneseStableLMAlphaForCausalLM = tui.models.JapaneseStableLMAlphaForCausalLM; "
        "from transformers.cli.transformers import main; sys.argv[0] = 'transformers'; sys.exit(main())"
    )
    serve_args = ["serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    proc = subprocess.Popen(
        [sys.executable, "-c", launcher, *serve_args],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"transformers serve exited: {(model_dir.parent / 'serve.log').read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("transformers serve did not come up within 120 s")
            time.sleep(0.3)
        yield url, model_dir
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_streams_from_transformers_serve(served: tuple[str, Path], nerdstash_model: Path) -> None:
    url, model_dir = served
    tok = Spm(nerdstash_model)
    remote = OpenAIBackend(RemoteConfig(base_url=url), tok)
    prompt = "こんにちは 世界"
    # The server's tokenizer.json segments like nerdstash on this prompt, so both runs see the same ids.
    from tokenizers import Tokenizer

    assert Tokenizer.from_file(str(model_dir / "tokenizer.json")).encode(prompt).ids == tok.encode(prompt)
    request = GenerationRequest(
        prompt_ids=tok.encode(prompt), prompt_text=prompt, max_new_tokens=12, do_sample=False, top_k=40
    )
    chunks, fin = collect(remote.stream(request, never()))
    assert fin.error is None, fin.error
    assert fin.reason == "length" and fin.stats.new_tokens == 12
    # transformers serve answers a token-id prompt with HTTP 400 ("prompt must be a string"): the backend sent
    # the ids, then the text, and says so (the status line warns that the server's counts may differ).
    assert fin.stats.prompt_as_text is True
    assert len(chunks) > 1  # streamed, not one block at the end
    assert remote.model_name() == str(model_dir)  # the only model the server lists
    # Greedy on the same weights: the server's reply is our local reply.
    local = LocalBackend.load(str(model_dir), tok)
    assert fin.text == collect(local.stream(request, never()))[1].text


def test_stop_string_against_the_server(served: tuple[str, Path], nerdstash_model: Path) -> None:
    url, _ = served
    tok = Spm(nerdstash_model)
    remote = OpenAIBackend(RemoteConfig(base_url=url), tok)
    prompt = "むかしむかし"
    base = GenerationRequest(
        prompt_ids=tok.encode(prompt), prompt_text=prompt, max_new_tokens=12, do_sample=False
    )
    free = collect(remote.stream(base, never()))[1].text
    stop = free[6:8]
    base.stop_strings = (stop,)
    fin = collect(remote.stream(base, never()))[1]
    assert fin.text == free[: free.index(stop)]
    assert fin.reason == "stop"
