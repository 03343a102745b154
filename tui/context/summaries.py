"""The planning side of the `summarize` policy: which summaries a plan needs, and their cache keys.

Dropped messages become a transcript, the transcript's tokens are split into equal chunks (each at most
`chunk_tokens`), and each chunk is one SummaryJob. The engine runs build_summary_prompt(job.text,
job.max_chars) for each and stores the answer under job.key; once every chunk of a range has a summary the
planner joins them into one summary segment. Keys hash the tokenizer, the message range and the content, so an
edited message or another tokenizer never reuses a stale summary.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping, Sequence

from tui.context.model import Message, SummaryJob
from tui.tokenizers import Tokenizer

ROLE_LABELS = {"system": "システム", "user": "ユーザー", "assistant": "アシスタント"}


def transcript(messages: Sequence[Message], indices: Sequence[int]) -> str:
    return "\n".join(f"{ROLE_LABELS[messages[i].role]}: {messages[i].content}" for i in indices)


def _split(tokenizer: Tokenizer, text: str, chunk_tokens: int) -> list[str]:
    ids = tokenizer.encode(text)
    if not ids:
        return []
    count = math.ceil(len(ids) / chunk_tokens)
    size = math.ceil(len(ids) / count)
    seen = tokenizer.normalize(text)
    bounds = [0]
    for k in range(1, count):
        cut = max(k * size, bounds[-1])
        # A byte-fallback character spans several ids: move the cut until it falls between characters.
        while cut < len(ids) and not seen.startswith(tokenizer.decode(ids[:cut])):
            cut += 1
        bounds.append(cut)
    bounds.append(len(ids))
    offsets = [len(tokenizer.decode(ids[:b])) for b in bounds]
    return [seen[a:b] for a, b in itertools.pairwise(offsets) if b > a]


def summary_jobs(
    messages: Sequence[Message],
    indices: Sequence[int],
    tokenizer: Tokenizer,
    *,
    chunk_tokens: int,
    max_chars: int,
) -> tuple[SummaryJob, ...]:
    if not indices:
        return ()
    chunks = _split(tokenizer, transcript(messages, indices), chunk_tokens)
    span = f"{indices[0]}-{indices[-1]}"
    jobs = []
    for number, text in enumerate(chunks):
        digest = hashlib.sha256(
            "\0".join((tokenizer.identity, span, str(number), str(max_chars), text)).encode("utf-8")
        ).hexdigest()[:24]
        jobs.append(
            SummaryJob(
                key=f"summary:{span}:{number}:{digest}",
                chunk=number,
                chunks=len(chunks),
                text=text,
                max_chars=max_chars,
                message_indices=tuple(indices),
            )
        )
    return tuple(jobs)


def combine(jobs: Sequence[SummaryJob], summaries: Mapping[str, str]) -> str | None:
    """The joined summary when every chunk has one, else None."""
    if not jobs or any(job.key not in summaries for job in jobs):
        return None
    parts = [summaries[job.key].strip()[: job.max_chars] for job in jobs]
    return "\n".join(p for p in parts if p)
