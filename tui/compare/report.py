"""The comparison as text: a table of the numbers, then each prompt with the replies side by side.

Widths are terminal cells (a kanji is two), so columns line up in an 80-column terminal over SSH. Up to three
variants sit side by side; more are listed one under the other.
"""

from __future__ import annotations

import unicodedata

from tui.compare.runner import CompareReport, VariantResult

MAX_SIDE_BY_SIDE = 3
GAP = " │ "


def cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` cells; the reply's own newlines are kept, control characters shown as ␛ etc."""
    lines: list[str] = []
    for raw in text.split("\n"):
        line, used = "", 0
        for ch in raw:
            shown = ch if ch.isprintable() else chr(0x2400 + ord(ch)) if ord(ch) < 32 else "�"
            w = cells(shown)
            if used + w > width:
                lines.append(line)
                line, used = "", 0
            line += shown
            used += w
        lines.append(line)
    return lines


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cells(text))


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_table(results: list[VariantResult]) -> list[str]:
    rows = [("variant", "perplexity", "stops", "tokens/reply")]
    for r in results:
        stops = f"{sum(x.stopped for x in r.replies)}/{len(r.replies)}"
        rows.append((r.variant.label, _number(r.perplexity), stops, f"{r.mean_tokens:.1f}"))
    widths = [max(cells(row[i]) for row in rows) for i in range(4)]
    return ["  ".join(pad(cell, widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def render(report: CompareReport, width: int = 80) -> str:
    out = summary_table(report.results)
    if report.settings.reference:
        out.extend(wrap(f"perplexity: of {', '.join(report.settings.reference)} (lower is better)", width))
    else:
        out.append("perplexity: n/a (give --reference FILE: held-out text in a `train` format)")
    out.append("stops: replies that ended at eos or a stop string, not at the token limit")
    results = report.results
    side = len(results) <= MAX_SIDE_BY_SIDE
    column = (width - cells(GAP) * (len(results) - 1)) // len(results) if side else width
    for index, prompt in enumerate(report.prompts):
        out.append("")
        out.append("─" * width)
        out.extend(wrap(f"prompt {index + 1}: {prompt}", width))
        replies = [next(r for r in result.replies if r.prompt_index == index) for result in results]
        blocks = [
            [
                *wrap(f"{result.variant.label} · {reply.tokens} tok · {reply.finish}", column),
                "─" * min(column, 20),
                *wrap(reply.text, column),
            ]
            for result, reply in zip(results, replies, strict=True)
        ]
        if side:
            height = max(len(b) for b in blocks)
            for row in range(height):
                cells_row = [pad(b[row] if row < len(b) else "", column) for b in blocks]
                out.append(GAP.join(cells_row).rstrip())
        else:
            for block in blocks:
                out.append("")
                out.extend(block)
    return "\n".join(out) + "\n"
