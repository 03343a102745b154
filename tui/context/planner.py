"""The context planner: which messages go into the prompt, and the exact ids the engine is fed.

The prompt is header + one piece per kept message + footer, each piece rendered by the template and encoded on
its own; plan.token_ids is the concatenation of those ids. So a message's token count never depends on its
neighbours, dropping a message removes exactly its span, and the ids counted are the ids sent. (With nerdstash v1
and the shipped templates every piece starts with a newline and no piece of the vocabulary contains one, so
these ids are also what encoding the whole prompt at once gives; tests check it.) A reply that carries the ids it
was sampled as keeps them inside its piece (reply_ids.py), so the next prompt extends the engine's cache exactly.

Policies (the system prompt, pinned messages and the newest user message are never dropped):
  rolling    drop the oldest messages; when over budget drop until usage <= trim_to * budget, so the prefix
             stays the same for many turns (the engine reuses its KV cache). The cut point is remembered as
             `first_kept` and passed back as `keep_from`; the Planner class does that for you.
  middle     keep the first exchange too; drop from just after it.
  summarize  like rolling, and dropped messages are replaced by a summary once the engine has computed it.
  stop       drop nothing; refuse when over budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tui.choices import Policy
from tui.context.build import Caches, Piece, PlanPass, describe_runs, first_exchange, index_runs
from tui.context.model import ContextPlan, Message, Segment, SummaryJob
from tui.context.options import (
    DEFAULT_SUMMARY_CHUNK_TOKENS,
    DEFAULT_SUMMARY_MAX_CHARS,
    DEFAULT_TRIM_TO,
    PlanOptions,
)
from tui.context.reply_ids import reply_ids
from tui.context.summaries import combine, summary_jobs
from tui.errors import UserError
from tui.templates import PromptTemplate
from tui.tokenizers import IdCache, Tokenizer


def _plan(
    messages: Sequence[Message],
    draft: str,
    tokenizer: Tokenizer,
    template: PromptTemplate,
    options: PlanOptions,
    caches: Caches,
    keep_from: int,
    summaries: Mapping[str, str],
    continue_reply: bool = False,
) -> ContextPlan:
    reply: Piece | None = None
    if continue_reply:
        # The unfinished reply goes after the footer as it is (no template markup), so the model picks up
        # exactly where it stopped; it is counted in the budget and never dropped.
        if not messages or messages[-1].role != "assistant":
            raise UserError("nothing to continue: the last message is not a reply")
        last = len(messages) - 1
        content = messages[last].content
        # As sampled when those ids spell it (the engine's cache holds exactly them), else encoded.
        sampled = messages[last].ids
        exact = reply_ids(tokenizer, content, sampled) if sampled is not None else None
        ids = exact if exact is not None else caches.ids.encode(content)
        reply = Piece("reply", last, "assistant", content, ids, protected=True)
        messages = messages[:last]
    build = PlanPass(messages, draft, tokenizer, template, options, caches)
    if reply is not None:
        build.reply = reply
        build.total += reply.n
    budget = options.budget
    keep_from = max(0, min(keep_from, len(messages)))
    anchor = keep_from
    jobs_pending: tuple[SummaryJob, ...] = ()
    droppable = [p for p in build.pieces if not p.protected]

    if options.policy in ("rolling", "summarize"):
        anchor = build.roll(droppable, keep_from)
    elif options.policy == "middle":
        first = first_exchange(build.pieces)
        middle = [p for p in droppable if p not in first]
        marker_cost = 0
        if template.has_marker:
            marker_text = template.marker(1)
            marker_cost = len(caches.ids.encode(marker_text))
        anchor = build.roll(middle, keep_from, extra=marker_cost)
        if build.total + marker_cost > budget:
            for piece in first:  # the first exchange goes only when nothing else is left to drop
                build.drop(piece)
        dropped_now = [p for p in build.pieces if p.status == "dropped"]
        if dropped_now and template.has_marker:
            text = template.marker(len(dropped_now))
            build.marker = Piece("marker", None, None, text, caches.ids.encode(text))
            build.total += build.marker.n

    if options.policy != "stop":  # stop refuses instead of cutting anything
        build.truncate_newest()

    dropped = [p for p in build.pieces if p.status == "dropped"]
    if dropped:
        indices = [p.index for p in dropped if p.index is not None]
        tokens = sum(p.n for p in dropped)
        build.log.insert(0, f"dropped messages {describe_runs(index_runs(indices))}, {tokens} tokens")

    if options.policy == "summarize" and dropped:
        indices = [p.index for p in dropped if p.index is not None]
        key = (
            tokenizer.identity,
            options.summary_chunk_tokens,
            options.summary_max_chars,
            *((i, messages[i].role, messages[i].content) for i in indices),
        )
        jobs = caches.jobs.get(key)
        if jobs is None:
            if len(caches.jobs) > 64:
                caches.jobs.clear()
            jobs = caches.jobs[key] = summary_jobs(
                messages,
                indices,
                tokenizer,
                chunk_tokens=options.summary_chunk_tokens,
                max_chars=options.summary_max_chars,
            )
        combined = combine(jobs, summaries)
        if combined is None:
            jobs_pending = tuple(j for j in jobs if j.key not in summaries)
            build.log.append(
                f"summary of messages {describe_runs(index_runs(indices))} not ready "
                f"({len(jobs) - len(jobs_pending)}/{len(jobs)} chunks); using rolling until it is"
            )
        else:
            text = template.summary(combined)
            piece = Piece(
                "summary",
                None,
                None,
                text,
                caches.ids.encode(text),
                status="summarized",
                replaces=tuple(indices),
            )
            if build.total + piece.n <= budget:
                build.summary = piece
                build.total += piece.n
                build.log.append(
                    f"summarized messages {describe_runs(index_runs(indices))} in {piece.n} tokens"
                )
            else:
                build.log.append(f"the summary ({piece.n} tokens) does not fit; using rolling")

    return _assemble(build, tokenizer, template, options, anchor, jobs_pending)


def _assemble(
    build: PlanPass,
    tokenizer: Tokenizer,
    template: PromptTemplate,
    options: PlanOptions,
    anchor: int,
    jobs_pending: tuple[SummaryJob, ...],
) -> ContextPlan:
    order: list[Piece] = [build.header]
    inserted = False
    for piece in build.pieces:
        if not inserted and piece.status == "dropped":
            for extra in (build.summary, build.marker):
                if extra is not None:
                    order.append(extra)
            inserted = True
        order.append(piece)
    order.append(build.footer)
    if build.reply is not None:
        order.append(build.reply)

    token_ids: list[int] = []
    text_parts: list[str] = []
    chars = 0
    segments: list[Segment] = []
    for piece in order:
        sent = piece.status != "dropped"
        start, char_start = len(token_ids), chars
        if sent:
            token_ids.extend(piece.ids)
            text_parts.append(piece.text)
            chars += len(piece.text)
        segments.append(
            Segment(
                kind=piece.kind,
                message_index=piece.index,
                role=piece.role,
                status=piece.status,
                tokens=piece.n,
                text=piece.text,
                token_start=start,
                token_end=len(token_ids),
                char_start=char_start,
                char_end=chars,
                replaces=piece.replaces,
                cut_chars=piece.cut_chars,
            )
        )
    total = len(token_ids)
    over = max(0, total - options.budget)
    error = None
    if over:
        if options.policy == "stop":
            error = (
                f"over by {over} tokens: the prompt needs {total} tokens and the budget is {options.budget} "
                f"(window {options.window} - {options.reserve} reserved for the reply)"
            )
        else:
            error = (
                f"over by {over} tokens even after dropping every message that may go: the system prompt, "
                f"pinned messages and the newest message need {total} tokens of a {options.budget}-token budget"
            )
    return ContextPlan(
        window=options.window,
        reserve=options.reserve,
        budget=options.budget,
        policy=options.policy,
        template=template.name,
        segments=tuple(segments),
        token_ids=token_ids,
        prompt="".join(text_parts),
        total_tokens=total,
        first_kept=anchor,
        stop=template.stop,
        ok=not over,
        over_by=over,
        error=error,
        log=tuple(build.log),
        summary_jobs=jobs_pending,
    )


def plan_context(
    messages: Sequence[Message],
    *,
    tokenizer: Tokenizer,
    template: PromptTemplate,
    window: int,
    reserve: int,
    policy: Policy = "rolling",
    draft: str = "",
    keep_from: int = 0,
    trim_to: float = DEFAULT_TRIM_TO,
    summaries: Mapping[str, str] | None = None,
    summary_chunk_tokens: int = DEFAULT_SUMMARY_CHUNK_TOKENS,
    summary_max_chars: int = DEFAULT_SUMMARY_MAX_CHARS,
    origins: Mapping[str, str] | None = None,
    continue_reply: bool = False,
) -> ContextPlan:
    """Plan once, with no state kept (the `context` command). Use Planner for a live conversation.

    Bad numbers raise UserError; `origins` names where they came from (see PlanOptions.origins). With
    `continue_reply` the last message is an unfinished reply (base mode) that the prompt ends with.
    """
    options = PlanOptions(
        window, reserve, policy, trim_to, summary_chunk_tokens, summary_max_chars, dict(origins or {})
    )
    caches = Caches(IdCache(tokenizer))
    return _plan(
        messages, draft, tokenizer, template, options, caches, keep_from, summaries or {}, continue_reply
    )


class Planner:
    """Plans a live conversation: caches each piece's ids and remembers the rolling anchor between calls.

    Call plan() on every keystroke (the meter) and before every send; the anchor only moves forward when a plan
    would overflow, so the prompt prefix (and the engine's KV cache) stays put for many turns. Not thread-safe:
    one Planner per conversation, used from one thread.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        template: PromptTemplate,
        *,
        window: int,
        reserve: int,
        policy: Policy = "rolling",
        trim_to: float = DEFAULT_TRIM_TO,
        summary_chunk_tokens: int = DEFAULT_SUMMARY_CHUNK_TOKENS,
        summary_max_chars: int = DEFAULT_SUMMARY_MAX_CHARS,
        id_cache: IdCache | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.template = template
        self.options = PlanOptions(window, reserve, policy, trim_to, summary_chunk_tokens, summary_max_chars)
        self._caches = Caches(id_cache if id_cache is not None else IdCache(tokenizer))
        self.anchor = 0
        """Droppable messages before this index stay out of the prompt (see ContextPlan.first_kept)."""

    def configure(
        self,
        *,
        window: int | None = None,
        reserve: int | None = None,
        policy: Policy | None = None,
        trim_to: float | None = None,
        template: PromptTemplate | None = None,
    ) -> None:
        """Change settings mid-conversation; the anchor is kept (the next overflow moves it as usual)."""
        o = self.options
        self.options = PlanOptions(
            window if window is not None else o.window,
            reserve if reserve is not None else o.reserve,
            policy if policy is not None else o.policy,
            trim_to if trim_to is not None else o.trim_to,
            o.summary_chunk_tokens,
            o.summary_max_chars,
        )
        if template is not None:
            self.template = template

    def reset(self) -> None:
        """Forget the anchor (a new or reloaded conversation, or after deleting messages before it)."""
        self.anchor = 0

    def plan(
        self,
        messages: Sequence[Message],
        draft: str = "",
        *,
        summaries: Mapping[str, str] | None = None,
        commit: bool = True,
        continue_reply: bool = False,
    ) -> ContextPlan:
        """The plan for sending `draft` (or, without one, for replying to the conversation as it is).

        commit=False leaves the anchor where it was: a preview that must not move the prefix.
        continue_reply: the last message is an unfinished reply to extend (a segment of kind "reply" after the
        footer), not a finished turn.
        """
        plan = _plan(
            messages,
            draft,
            self.tokenizer,
            self.template,
            self.options,
            self._caches,
            self.anchor,
            summaries or {},
            continue_reply,
        )
        if commit:
            self.anchor = plan.first_kept
        return plan

    @property
    def id_cache(self) -> IdCache:
        return self._caches.ids
