"""The novel context planner: memory, lore, 脚注 and story into exact token ids, with the ledger of why.

Budget = window - reserve (the continuation's length). In order:
  1. memory, 脚注 and always-on lore: never dropped; if they do not fit the plan is an error, said before sending;
  2. lore fired by a key in the scan window (last `scan_tokens` tokens of the story) or in the 脚注, by priority,
     within `lore_budget`; then entries fired by the content of included entries, `recursion_depth` rounds;
  3. the story fills the rest, cut from its start (at a sentence end when one is within reach).
Layout, stable first so a retry or a continue reuses the KV cache:
  [before_memory lore] memory [after_memory lore] story… [before_note lore] 脚注 [after_note lore] …last lines
with always-on entries ahead of fired ones in each group. Every piece is encoded on its own (cached), and the
ids sent are the pieces' ids one after another, so the ledger's counts are the ids the model gets.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass

from tui.novel.chunks import ChunkCache
from tui.novel.ledger import NovelPlan, Piece, PieceKind, PieceStatus
from tui.novel.lore import CompiledEntry, Joined, Match, compile_lore, scan
from tui.novel.normalize import fold_with_map
from tui.novel.story import LoreEntry, Story
from tui.novel.storytext import Kept, StoryText
from tui.tokenizers import Tokenizer


@dataclass
class _Part:
    """A piece being planned."""

    kind: PieceKind
    entry: int | None
    text: str
    ids: tuple[int, ...]
    status: PieceStatus = "skipped"
    reason: str = ""
    key: str | None = None
    name: str = ""
    always: bool = False
    """Memory or always-on lore: part of the stable prefix."""


def _line(text: str) -> str:
    """A piece of its own line: its text with a newline after it (none for empty text)."""
    return text if not text or text.endswith("\n") else text + "\n"


def _label(index: int, entry: LoreEntry) -> str:
    return f"entry #{index + 1}" + (f" ({entry.name})" if entry.name else "")


class NovelPlanner:
    """Plans a story; caches each chunk's and piece's ids, so re-planning after a keystroke encodes one line.

    Not thread-safe: one planner per story, used from one thread (the UI thread re-plans per keystroke).
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.cache = ChunkCache(tokenizer)
        self._folds: OrderedDict[tuple[str, bool], tuple[str, list[int] | None]] = OrderedDict()
        self._body: StoryText | None = None
        self._lore: (
            tuple[tuple[LoreEntry, ...], bool, tuple[CompiledEntry, ...], list[tuple[str, tuple[int, ...]]]]
            | None
        ) = None
        """The last plan's story chunks: the next plan reuses those before the edited line."""

    def fold(self, text: str, kana: bool) -> tuple[str, list[int] | None]:
        key = (text, kana)
        found = self._folds.get(key)
        if found is None:
            found = self._folds[key] = fold_with_map(text, kana=kana)
            if len(self._folds) > 8192:
                self._folds.popitem(last=False)
        return found

    def compiled(self, story: Story) -> tuple[CompiledEntry, ...]:
        # Most keystrokes edit the text: the same lore tuple, so skip even hashing its 200 entries.
        if self._lore is None or self._lore[0] is not story.lore or self._lore[1] != story.fold_kana:
            compiled = compile_lore(story.lore, story.fold_kana)
            texts = [_line(c.entry.content) for c in compiled]
            pieces = [(text, self.cache.get(text).ids if text else ()) for text in texts]
            self._lore = (story.lore, story.fold_kana, compiled, pieces)
        return self._lore[2]

    def entry_pieces(self) -> list[tuple[str, tuple[int, ...]]]:
        """Each entry's text as inserted and its ids, for the lore `compiled` returned last."""
        assert self._lore is not None
        return self._lore[3]

    def plan(self, story: Story, *, window: int, reserve: int) -> NovelPlan:
        if window <= 0:
            raise ValueError(f"window must be positive, got {window}")
        if not 0 <= reserve < window:
            raise ValueError(f"reserve must be between 0 and window - 1 ({window - 1}), got {reserve}")
        body = StoryText(story.text, self.cache, self._body)
        self._body = body
        return _Build(self, story, body, window, reserve).run()


class _Build:
    def __init__(
        self, planner: NovelPlanner, story: Story, body: StoryText, window: int, reserve: int
    ) -> None:
        self.planner = planner
        self.story = story
        self.window = window
        self.reserve = reserve
        self.budget = window - reserve
        self.used = 0
        self.lore_used = 0
        self.errors: list[str] = []
        self.story_has_no_room = False
        self.body = body
        self.lore = planner.compiled(story)
        self.parts = [
            _Part("lore", c.index, text, ids, name=c.entry.name)
            for c, (text, ids) in zip(self.lore, planner.entry_pieces(), strict=True)
        ]

    def part(self, kind: PieceKind, entry: int | None, text: str) -> _Part:
        return _Part(kind, entry, text, self.planner.cache.get(text).ids if text else ())

    def take(self, part: _Part, reason: str) -> bool:
        """Include `part` if it fits in what is left of the budget."""
        if len(part.ids) > self.budget - self.used:
            return False
        part.status, part.reason = "included", reason
        self.used += len(part.ids)
        return True

    # -- 1. what is never dropped ----------------------------------------------------------------------------

    def fixed(self) -> tuple[_Part, _Part]:
        story = self.story
        memory = self.part("memory", None, _line(story.memory))
        note_text = _line(story.note)
        if note_text and story.note_depth == 0 and self.body.text and not self.body.text.endswith("\n"):
            note_text = "\n" + note_text  # at the very end: on a line of its own
        note = self.part("note", None, note_text)
        always = sorted(
            (c for c in self.lore if c.entry.enabled and c.entry.always and c.entry.content),
            key=lambda c: (-c.entry.priority, c.index),
        )
        needed = [(memory, "memory"), (note, "the 脚注")] + [
            (self.entry_part(c), _label(c.index, c.entry)) for c in always
        ]
        for part, what in needed:
            if not part.text:
                part.status, part.reason = "skipped", "empty"
                continue
            part.always = part.kind != "note"
            reason = {"lore": "always-on", "memory": "always at the top", "note": ""}[part.kind]
            if not self.take(part, reason):
                part.status = "dropped"
                part.reason = f"does not fit: needs {len(part.ids)} tokens, {self.budget - self.used} left of the budget"
                self.errors.append(f"{what} ({len(part.ids)} tokens)")
        return memory, note

    def entry_part(self, compiled: CompiledEntry) -> _Part:
        return self.parts[compiled.index]

    # -- 2. lore fired by keys -------------------------------------------------------------------------------

    def fire(self, scan_text: str, scan_map: list[tuple[int, int, list[int] | None]]) -> None:
        story = self.story
        room = min(story.lore_budget, self.budget - self.used)
        candidates: dict[int, CompiledEntry] = {}
        no_key = f"no key in the last {story.scan_tokens} tokens or the 脚注"
        for c, part in zip(self.lore, self.parts, strict=True):
            entry = c.entry
            if not entry.enabled:
                part.status, part.reason = "skipped", "disabled"
            elif not entry.content:
                part.status, part.reason = "skipped", "empty content"
            elif entry.always:
                continue  # planned with the fixed pieces
            elif not c.keys:
                part.status, part.reason = "skipped", "no keys"
            else:
                part.status, part.reason = "skipped", no_key
                candidates[c.index] = c
        note_folded = self.planner.fold(story.note, story.fold_kana)[0]
        found: dict[int, tuple[Match, str]] = {}
        for index, match in scan(candidates.values(), scan_text).items():
            found[index] = (
                match,
                f"key '{match.key}' at story token {self.story_token(match.offset, scan_map)}",
            )
        rest = [c for i, c in candidates.items() if i not in found]
        for index, match in scan(rest, note_folded).items():
            found[index] = (match, f"key '{match.key}' in the 脚注")
        # Round 0 is what the story and the 脚注 fire; each later round, what the entries just included fire.
        included = [c for c in self.lore if c.entry.always and self.entry_part(c).status == "included"]
        for depth in range(self.story.recursion_depth + 1):
            if depth:
                sources, included = included, []
                if not sources:
                    break
                joined = Joined([c.folded_content for c in sources])
                rest = [c for c in candidates.values() if self.entry_part(c).status == "skipped"]
                found = {}
                for index, match in scan(rest, joined.text).items():
                    source = sources[joined.which(match.offset)]
                    found[index] = (match, f"key '{match.key}' in {_label(source.index, source.entry)}")
            for index in sorted(found, key=lambda i: (-self.lore[i].entry.priority, i)):
                match, reason = found[index]
                part = self.entry_part(self.lore[index])
                part.key = match.key
                cost = len(part.ids)
                if self.lore_used + cost <= room and self.take(part, reason):
                    self.lore_used += cost
                    included.append(self.lore[index])
                    continue
                part.status = "dropped"
                if room < story.lore_budget and cost > room - self.lore_used:
                    part.reason = (
                        f"{reason}; no room: needs {cost} tokens, {room - self.lore_used} left in the budget"
                    )
                else:
                    part.reason = (
                        f"{reason}; lore budget full: needs {cost} tokens, "
                        f"{room - self.lore_used} of {story.lore_budget} left"
                    )

    def story_token(self, offset: int, scan_map: list[tuple[int, int, list[int] | None]]) -> int:
        """1-based position in the story's tokens of a match at `offset` in the folded scan text."""
        seg = bisect_right(scan_map, offset, key=lambda item: item[0]) - 1
        folded_start, story_start, origin = scan_map[seg]
        inner = offset - folded_start
        char = story_start + (origin[inner] if origin is not None else inner)
        return self.body.token_index(char) + 1

    def scan_window(self) -> tuple[str, list[tuple[int, int, list[int] | None]], int]:
        """The folded scan text, its map back to story characters, and where it starts in the story."""
        body, kana = self.body, self.story.fold_kana
        start = body.scan_start(self.story.scan_tokens)
        if start >= len(body.text):
            return "", [], start
        k = body.chunk_at(start)
        pieces: list[str] = []
        scan_map: list[tuple[int, int, list[int] | None]] = []
        at = 0
        first = True
        for i in range(k, len(body.chunks)):
            begin = start if first else body.char_starts[i]
            text = body.chunks[i].text[begin - body.char_starts[i] :]
            first = False
            folded, origin = self.planner.fold(text, kana)
            scan_map.append((at, begin, origin))
            pieces.append(folded)
            at += len(folded)
        return "".join(pieces), scan_map, start

    # -- 3. the story, and the layout --------------------------------------------------------------------------

    def run(self) -> NovelPlan:
        memory, note = self.fixed()
        scan_text, scan_map, scan_start = self.scan_window()
        self.fire(scan_text, scan_map)
        body, depth = self.body, self.story.note_depth
        kept = body.keep(self.budget - self.used)
        self.story_has_no_room = bool(body.text) and not kept.ids
        status: PieceStatus = "included"
        if not body.text:
            status = "skipped"
        elif not kept.ids:
            status = "dropped"
        elif kept.start:
            status = "partial"
        story = _Part("story", None, kept.text, kept.ids, status, self.story_reason(kept))
        insert_at = body.note_position(depth, kept.start)
        if note.status == "included":
            lines = f"{depth} line{'s' if depth != 1 else ''}"
            if depth == 0 or insert_at >= len(body.text):
                note.reason = "at the end of the story"
            elif insert_at <= kept.start and body.note_position(depth, 0) == 0:
                note.reason = f"at the start of the story (it has fewer than {lines})"
            elif insert_at <= kept.start:
                note.reason = f"at the start of the story sent (its place, {lines} before the end, was cut)"
            else:
                note.reason = f"{lines} before the end"
        middle = [*self.group("before_note"), note, *self.group("after_note")]
        parts = [*self.group("before_memory"), memory, *self.group("after_memory")]
        if not any(p.status == "included" for p in middle) or insert_at >= len(body.text):
            parts += [story, *middle]
        elif insert_at <= kept.start:
            parts += [*middle, story]
        else:
            head_ids, tail_ids = body.split_kept(kept, insert_at)
            story.text, story.ids = body.text[kept.start : insert_at], head_ids
            tail_reason = f"the last {depth} line{'s' if depth != 1 else ''}, after the 脚注"
            tail = _Part("story", None, body.text[insert_at:], tail_ids, "included", tail_reason)
            parts += [story, *middle, tail]
        return self.assemble(parts, kept, scan_start)

    def story_reason(self, kept: Kept) -> str:
        body = self.body
        if not body.text:
            return "empty"
        if not kept.ids:
            return f"no room left in the budget ({body.tokens} tokens)"
        if not kept.start:
            return "the whole story"
        where = "at a sentence end" if kept.at_sentence else "mid-sentence (no sentence end within reach)"
        return f"first {kept.start} characters cut {where}; {len(kept.ids)} of {body.tokens} tokens kept"

    def group(self, position: str) -> list[_Part]:
        members = [c for c in self.lore if c.entry.position == position]
        members.sort(key=lambda c: (not c.entry.always, c.index))
        return [self.entry_part(c) for c in members]

    def assemble(self, parts: list[_Part], kept: Kept, scan_start: int) -> NovelPlan:
        ids: list[int] = []
        texts: list[str] = []
        chars = 0
        pieces: list[Piece] = []
        stable = 0
        settled = False
        for part in parts:
            sent = part.status in ("included", "partial")
            token_start, char_start = len(ids), chars
            if sent:
                ids.extend(part.ids)
                texts.append(part.text)
                chars += len(part.text)
            # The stable prefix ends at the first sent piece that changes with the story.
            if sent and not part.always:
                settled = True
            if sent and part.always and not settled:
                stable = len(ids)
            pieces.append(
                Piece(
                    kind=part.kind,
                    entry=part.entry,
                    status=part.status,
                    reason=part.reason,
                    tokens=len(part.ids),
                    text=part.text,
                    token_start=token_start,
                    token_end=len(ids),
                    char_start=char_start,
                    char_end=chars,
                    key=part.key,
                    name=part.name,
                )
            )
        return NovelPlan(
            window=self.window,
            reserve=self.reserve,
            budget=self.budget,
            total_tokens=len(ids),
            token_ids=tuple(ids),
            prompt="".join(texts),
            pieces=tuple(pieces),
            error=self.error_message(),
            stable_tokens=stable,
            story_tokens=self.body.tokens,
            story_cut=kept.start,
            scan_start=scan_start,
            scan_tokens=self.story.scan_tokens,
            lore_budget=self.story.lore_budget,
            lore_tokens=self.lore_used,
        )

    def error_message(self) -> str | None:
        limits = f"a {self.budget}-token budget (window {self.window} - {self.reserve} reserved for the continuation)"
        if self.errors:
            return (
                f"{', '.join(self.errors)} cannot fit in {limits}: memory, the 脚注 and always-on lore are never "
                "dropped; shorten them or lower max_new_tokens"
            )
        if not self.story_has_no_room:
            return None
        return (
            f"no room for the story: memory, the 脚注 and lore take all of {limits}; "
            "shorten them, lower lore_budget or max_new_tokens"
        )
