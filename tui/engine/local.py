"""The in-process backend: a transformers causal LM driven by our own decoding loop.

Why not `model.generate` with a streamer: our loop checks the cancel event before every token (cancel returns
within one step), cuts stop strings exactly, and owns the KV cache, so the next turn only prefills the tokens
that changed. The loop runs in the caller's thread (the UI runs `stream()` in a worker thread): an exception
reaches the caller directly and nothing can hang waiting on a queue whose producer died.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from tui.engine.detokenizer import REPLACEMENT, Decoder, IncrementalDetokenizer
from tui.engine.errors import explain_generation_error, is_out_of_memory
from tui.engine.events import Finished, FinishReason, GenerationStats, StreamEvent, TextChunk
from tui.engine.generation import (
    SamplingSettings,
    common_prefix_length,
    decode_one_token,
    prefill,
    sample,
)
from tui.engine.request import GenerationRequest
from tui.engine.stops import StopMatcher

if TYPE_CHECKING:
    import torch

    from tui.engine.events import LoadProgress
    from tui.engine.loading import LoadOptions


def _peak_memory_reset(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_memory(device: torch.device) -> int:
    import torch

    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    import resource

    # ru_maxrss is KiB on Linux: the process's peak, the closest CPU analogue of the CUDA figure.
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


class LocalBackend:
    """One loaded model plus the KV cache (and its exact ids) of the last call."""

    def __init__(self, model: Any, tokenizer: Decoder, *, name: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self._lock = threading.Lock()
        self._cache: Any = None
        self._cache_ids: list[int] = []

    @classmethod
    def load(
        cls,
        ref: str,
        tokenizer: Decoder,
        options: LoadOptions | None = None,
        progress: Callable[[LoadProgress], None] | None = None,
    ) -> LocalBackend:
        """Load `ref` (hub id, directory, or demo:base / demo:instruct); EngineError with one sentence on failure."""
        from tui.engine.loading import LoadOptions, load_model

        model = load_model(ref, options or LoadOptions(), progress)
        return cls(model, tokenizer, name=ref)

    # -- the KV cache ------------------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @property
    def cached_ids(self) -> list[int]:
        """The exact ids whose keys/values the cache holds (a copy)."""
        return list(self._cache_ids)

    def reusable_prefix(self, prompt_ids: list[int]) -> int:
        """Prompt tokens the next call would take from the cache (at least one token is always prefilled)."""
        if self._cache is None or not prompt_ids:
            return 0
        return min(common_prefix_length(self._cache_ids, prompt_ids), len(prompt_ids) - 1)

    def reset_cache(self) -> None:
        """Free the KV cache (after OOM, when the model moves, or to measure a cold run)."""
        with self._lock:
            self._drop_cache()

    def _drop_cache(self) -> None:
        self._cache = None
        self._cache_ids = []

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        return DynamicCache(config=self.model.config)

    def _take_cache(self, prompt_ids: list[int], reuse: bool) -> tuple[Any, list[int], int]:
        """A cache holding a prefix of prompt_ids, the ids it holds, and how many prompt tokens it covers."""
        if not reuse:
            return self._new_cache(), [], 0
        keep = self.reusable_prefix(prompt_ids)
        if keep == 0:
            self._cache = self._new_cache()
            self._cache_ids = []
            return self._cache, self._cache_ids, 0
        extra = len(self._cache_ids) - keep
        if extra > 0:
            self._cache.crop(-extra)  # transformers 5: a negative count removes that many trailing positions
            del self._cache_ids[keep:]
        return self._cache, self._cache_ids, keep

    # -- generation --------------------------------------------------------------------------------------------

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        """Text chunks as tokens are produced, then one Finished. Bad settings raise UserError right away."""
        request.validate()
        return self._stream(request, cancel)

    def _stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        import torch

        with self._lock, torch.inference_mode():
            started = time.perf_counter()
            device = self.device
            _peak_memory_reset(device)
            settings = SamplingSettings(
                do_sample=not request.greedy,
                temperature=request.temperature,
                top_k=request.top_k,
                top_p=request.top_p,
                repetition_penalty=request.repetition_penalty,
            )
            generator: torch.Generator | None = None
            if not request.greedy:
                generator = torch.Generator(device=device)
                if request.seed is None:
                    generator.seed()
                else:
                    generator.manual_seed(request.seed)
            vocab = int(self.model.get_output_embeddings().weight.shape[0])
            seen = torch.zeros(vocab, dtype=torch.bool, device=device)
            if request.repetition_penalty != 1.0:
                seen[torch.tensor(request.prompt_ids, device=device).clamp(0, vocab - 1)] = True

            detok = IncrementalDetokenizer(self.tokenizer)
            stopper = StopMatcher(request.stop_strings)
            shown: list[str] = []
            reason: FinishReason = "length"
            error: str | None = None
            first_token_at: float | None = None
            sampled = 0
            new_tokens = 0
            reply_ids: list[int] = []
            prompt = request.prompt_ids
            cache, cache_ids, reused = self._take_cache(prompt, request.reuse_cache)
            bans = request.banned_sequences
            ban_state = bans.start(prompt) if bans is not None else None
            try:
                logits = prefill(self.model, torch.tensor([prompt[reused:]], device=device), cache)
                cache_ids.extend(prompt[reused:])
                for step in range(request.max_new_tokens):
                    if cancel.is_set():
                        reason = "cancelled"
                        break
                    banned = bans.banned(ban_state) if bans is not None else ()
                    token = sample(logits, seen, settings, generator, banned)
                    sampled += 1
                    if first_token_at is None:
                        first_token_at = time.perf_counter()
                    if request.eos_token_id is not None and token == request.eos_token_id:
                        reason = "eos"
                        break
                    new_tokens += 1
                    reply_ids.append(token)
                    if bans is not None:
                        ban_state = bans.advance(ban_state, token)
                    seen[token] = True
                    text = stopper.push(detok.push(token))
                    if text:
                        shown.append(text)
                        yield TextChunk(text)
                    if stopper.stopped:
                        reason = "stop"
                        break
                    if step == request.max_new_tokens - 1:
                        break  # the last token is fed after the stats (below), for the next call
                    logits = decode_one_token(self.model, torch.tensor([token], device=device), cache)
                    cache_ids.append(token)
            except Exception as exc:
                reason = "error"
                error = explain_generation_error(exc)
                # The cache may hold half-written positions: never reuse it.
                if request.reuse_cache:
                    self._drop_cache()
                del cache
                if is_out_of_memory(exc) and device.type == "cuda":
                    torch.cuda.empty_cache()
            tail = self._tail(detok, stopper, reason)
            if tail:
                shown.append(tail)
                yield TextChunk(tail)
            ended = time.perf_counter()
            decode_time = ended - first_token_at if first_token_at is not None else 0.0
            stats = GenerationStats(
                ttft_s=(first_token_at or ended) - started,
                new_tokens=new_tokens,
                tokens_per_s=(sampled - 1) / decode_time if sampled > 1 and decode_time > 0 else 0.0,
                prefill_tokens=len(prompt) - reused,
                reused_tokens=reused,
                peak_memory_bytes=_peak_memory(device),
                model=self.name,
                device=str(device),
            )
            if reason == "length" and request.reuse_cache and reply_ids:
                self._read_back(reply_ids[-1], cache, cache_ids)
            yield Finished("".join(shown), reason, stats, error, tuple(reply_ids))

    def _read_back(self, token: int, cache: Any, cache_ids: list[int]) -> None:
        """Feed a reply's last token, cut off by the length limit, so the cache holds the whole reply.

        The next prompt (a continuation, or the reply in the history) starts with every reply id: with this the
        next call prefills exactly its new tokens. One decode step, after the reply is complete and outside
        its figures; a reply that ended at eos has fed all its tokens already, and the ids of a stop string
        are not in the next prompt.
        """
        import torch

        try:
            decode_one_token(self.model, torch.tensor([token], device=self.device), cache)
            cache_ids.append(token)
        except Exception:
            self._drop_cache()  # half-written positions must never be reused

    @staticmethod
    def _tail(detok: IncrementalDetokenizer, stopper: StopMatcher, reason: FinishReason) -> str:
        if stopper.stopped:
            return ""
        rest = detok.flush()
        if reason in ("cancelled", "error"):
            # A character cut off by the interruption is not part of the reply.
            rest = rest.rstrip(REPLACEMENT)
        return stopper.push(rest) + stopper.flush()
