"""Pure rendering for the Trust Dashboard: histogram, trend sparklines, trust bars, and the A|B view.

Kept apart from ``screens/trust.py`` so the drawing can be tested without an app and the screen stays
about wiring. Everything returns Rich ``Text`` (or a ``Table`` of them), never markup: item contents
are user data and may hold brackets. Shapes follow docs/design-trust.md.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

BLOCKS = " ▁▂▃▄▅▆▇█"
SPARK = "▁▂▃▄▅▆▇█"
DIFF_STYLE = "bold underline yellow"  # words that differ between A and B
SPAN_STYLE = "bold black on yellow"   # the values a finding quotes (a_span / b_span): readable on any theme
MIN_DIFF_RATIO = 0.2             # below this the texts are unrelated prose: a word diff is only noise
MIN_SPAN = 0.1                   # the narrowest range a sparkline stretches over
_WORD = re.compile(r"\S+")
_DASH = "[-\u2013\u2014]"


def when(ts: float | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(float(ts), UTC).strftime(fmt)


def score_style(score: float | None, low: float, high: float) -> str:
    if score is None:
        return "dim"
    return "red" if score < low else ("green" if score >= high else "yellow")


def fmt_score(score: float | None) -> str:
    return "  -" if score is None else f"{float(score):.2f}"


def sparkline(values: Sequence[float], width: int = 8) -> str:
    """The last ``width`` values as block characters. The scale is the series' own range but never
    narrower than ``MIN_SPAN``: a drift of 0.03 shows as a gentle slope, not as a cliff or a flat line."""
    tail = [float(v) for v in list(values)[-width:]]
    if not tail:
        return ""
    lo, hi = min(tail), max(tail)
    if hi - lo < MIN_SPAN:
        mid = (hi + lo) / 2
        lo, hi = mid - MIN_SPAN / 2, mid + MIN_SPAN / 2
    steps = len(SPARK) - 1
    return "".join(SPARK[max(0, min(steps, round((v - lo) / (hi - lo) * steps)))] for v in tail)


def trend(values: Sequence[float], width: int = 8) -> Text:
    """Sparkline plus the change over the shown passes, green up and red down."""
    tail = [float(v) for v in list(values)[-width:]]
    text = Text(sparkline(tail, width).ljust(width), "cyan")
    if len(tail) > 1:
        delta = tail[-1] - tail[0]
        text.append(f" {delta:+.2f}", "green" if delta >= 0.005 else ("red" if delta <= -0.005 else "dim"))
    return text


def histogram(counts: Sequence[int], low: float, high: float, height: int = 5) -> Text:
    """Ten vertical bars (bins [0,0.1) … [0.9,1.0]) in eighth blocks, coloured by where the bin's middle
    falls against the low/high thresholds, with the count over each bar's column below."""
    bins = [int(c) for c in counts] or [0] * 10
    top = max(bins) or 1
    text = Text()
    for row in range(height, 0, -1):
        for i, c in enumerate(bins):
            eighths = round(c / top * height * 8)
            fill = max(0, min(8, eighths - (row - 1) * 8))
            if c and row == 1 and fill == 0:
                fill = 1  # a non-empty bin is never invisible
            mid = (i + 0.5) / len(bins)
            text.append(BLOCKS[fill] * 3, score_style(mid, low, high))
            text.append(" ")
        text.append("\n")
    text.append("".join(f"{i / len(bins):<4.1f}".replace("0.", ".") for i in range(len(bins))).rstrip() + "\n",
                "dim")
    text.append("".join(f"{_short(c):<4}" for c in bins).rstrip(), "dim")
    return text


def _short(n: int) -> str:
    return str(n) if n < 1000 else f"{n // 1000}k"


def bar(value: float, width: int = 10) -> str:
    """A horizontal bar in eighth blocks for 0..1."""
    eighths = round(min(1.0, max(0.0, value)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")).ljust(width)


def side_title(label: str, side: dict[str, Any], note: str = "") -> Text:
    version = side.get("version")
    text = Text.assemble((f" {label} ", "bold reverse"), " ", (f"{side.get('collection')}/{side.get('key')}", "bold"),
                         overflow="fold")
    text.append(f"  v{version}" if version is not None else "", "dim")
    if note:
        text.append(f" {note}", "dim")
    text.append("\ntrust ", "dim")
    text.append(fmt_score(side.get("trust")).strip())
    status = side.get("status") or "?"
    text.append(f"  {status}", "red" if status != "active" else "green")
    return text


def _span_range(content: str, span: Any) -> tuple[int, int] | None:
    """Where a finding's quoted value sits: ``[start, end]`` offsets, or a string found case-insensitively
    (whitespace-tolerant, since the checks normalise spaces)."""
    if isinstance(span, (list, tuple)) and len(span) == 2 and all(isinstance(x, int) for x in span):
        start, end = int(span[0]), int(span[1])
        return (start, end) if 0 <= start < end <= len(content) else None
    if not isinstance(span, str) or not span.strip():
        return None
    # the checks normalise dashes ("07:00\u201319:00" is quoted as "07:00-19:00") and may space them
    words = [_DASH if w in "-\u2013\u2014" else re.escape(w) for w in re.split(r"\s+|(?<=\S)(?=[-\u2013\u2014])|"
                                                                          r"(?<=[-\u2013\u2014])(?=\S)", span.strip())
             if w]
    found = re.search(r"\s*".join(words), content, re.IGNORECASE)
    return (found.start(), found.end()) if found else None


def diff_ranges(a: str, b: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]], float]:
    """Word-level differences as character ranges in A and in B, and how similar the texts are.
    Words compare case- and punctuation-insensitively so "Lead," and "lead" do not light up."""
    a_words, b_words = list(_WORD.finditer(a)), list(_WORD.finditer(b))

    def norm(m: re.Match[str]) -> str:
        return m.group().strip(".,;:!?()\"'").lower()

    matcher = difflib.SequenceMatcher(None, [norm(m) for m in a_words], [norm(m) for m in b_words], autojunk=False)
    a_out: list[tuple[int, int]] = []
    b_out: list[tuple[int, int]] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if i2 > i1:
            a_out.append((a_words[i1].start(), a_words[i2 - 1].end()))
        if j2 > j1:
            b_out.append((b_words[j1].start(), b_words[j2 - 1].end()))
    return a_out, b_out, matcher.ratio()


def highlighted(content: str, diffs: list[tuple[int, int]], spans: list[tuple[int, int]]) -> Text:
    """The text with the word differences and, over them, the conflicting values. A value is one run in
    one style (the word diff is not layered inside it), and no styled run starts or ends with a space:
    a value cut into "07:00", " to ", "19:00" by the diff underneath showed as "07:00to  19:00"."""
    text = Text(content or "(empty)")
    for start, end in diffs:
        for s, e in _outside(start, end, spans):
            s, e = _trimmed(content, s, e)
            if s < e:
                text.stylize(DIFF_STYLE, s, e)
    for start, end in spans:
        start, end = _trimmed(content, start, end)
        if start < end:
            text.stylize(SPAN_STYLE, start, end)
    return text


def _outside(start: int, end: int, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``start``..``end`` that no span covers."""
    parts = [(start, end)]
    for s, e in spans:
        parts = [p for a, b in parts for p in ((a, min(b, s)), (max(a, e), b)) if p[0] < p[1]]
    return parts


def _trimmed(content: str, start: int, end: int) -> tuple[int, int]:
    while start < end and content[start].isspace():
        start += 1
    while end > start and content[end - 1].isspace():
        end -= 1
    return start, end


def side_by_side(c: dict[str, Any]) -> RenderableType:
    """A and B next to each other, word differences in yellow, the findings' quoted values reversed."""
    a, b = c.get("a") or {}, c.get("b") or {}
    a_text, b_text = str(a.get("content") or ""), str(b.get("content") or "")
    a_diff, b_diff, ratio = diff_ranges(a_text, b_text)
    word_diff = ratio >= MIN_DIFF_RATIO
    a_spans: list[tuple[int, int]] = []
    b_spans: list[tuple[int, int]] = []
    for f in c.get("findings") or []:
        ra, rb = _span_range(a_text, f.get("a_span")), _span_range(b_text, f.get("b_span"))
        if ra:
            a_spans.append(ra)
        if rb:
            b_spans.append(rb)
    version = is_version_conflict(c)
    grid = Table(box=box.MINIMAL, show_edge=False, pad_edge=False, expand=True, padding=(0, 1))
    grid.add_column(side_title("A", a, "(older)" if version else ""), ratio=1, overflow="fold")
    grid.add_column(side_title("B", b, "(current)" if version else ""), ratio=1, overflow="fold")
    grid.add_row(highlighted(a_text, a_diff if word_diff else [], a_spans),
                 highlighted(b_text, b_diff if word_diff else [], b_spans))
    legend = Text.assemble(("value", SPAN_STYLE), (" the conflicting values", "dim"))
    if word_diff:
        legend.append("  ·  ", "dim")
        legend.append("words", DIFF_STYLE)
        legend.append(" that differ", "dim")
    else:
        legend.append("  ·  the texts differ too much for a word diff", "dim")
    return Group(grid, legend)


def is_version_conflict(c: dict[str, Any]) -> bool:
    a, b = c.get("a") or {}, c.get("b") or {}
    return bool(c.get("version_conflict")) or (a.get("id") is not None and a.get("id") == b.get("id"))


def contradiction_header(c: dict[str, Any]) -> Text:
    """Kind, score, method, status, evidence and the suggestion, above the A|B view."""
    text = Text.assemble((f"#{c.get('id')} ", "bold"), (str(c.get("kind") or "?"), "bold magenta"))
    if is_version_conflict(c) and c.get("kind") != "version":
        text.append("  version conflict", "magenta")
    text.append(f"  score {float(c.get('score') or 0):.2f}", "bold")
    text.append(f"  {c.get('method') or '?'}  {c.get('status') or '?'}  found {when(c.get('found_at'))} UTC\n",
                "dim")
    findings = c.get("findings") or []
    if findings:
        for f in findings:
            text.append("• ", "dim")
            text.append(f"{f.get('kind')}: ", "cyan")
            text.append(f"{f.get('evidence')}")
            text.append(f"  ({float(f.get('score') or 0):.2f})\n", "dim")
    elif c.get("evidence"):
        text.append(f"evidence: {c['evidence']}\n")
    if c.get("suggestion"):
        text.append("suggested: ", "dim")
        text.append(f"{c['suggestion']}\n", "green")
    if c.get("status") not in (None, "open"):
        text.append(f"{c.get('status')}: {c.get('resolution') or ''}"
                    f"{' by ' + str(c['resolved_by']) if c.get('resolved_by') else ''}\n", "dim")
    else:
        text.append("A keep A · B keep B · b both (false alarm) · m merge\n", "dim")
    return text


def contradiction_detail(c: dict[str, Any]) -> RenderableType:
    return Group(contradiction_header(c), side_by_side(c))


def item_detail(t: dict[str, Any], low: float, high: float) -> Text:
    """One item's trust: score, why (each component's value, weight and contribution as bars),
    quarantine, the latest review, history and its contradictions."""
    score = t.get("score")
    text = Text.assemble((f"{t.get('collection')}/{t.get('key')}", "bold"), (f"  v{t.get('version')}", "dim"))
    status = t.get("status") or "?"
    text.append(f"  {status}\n", "red" if status != "active" else "green")
    text.append("trust ", "dim")
    text.append(fmt_score(score).strip(), f"bold {score_style(score, low, high)}")
    text.append(f"  ({t.get('method') or '?'}", "dim")
    text.append(f", scored {when(t.get('computed_at'))} UTC)\n" if t.get("computed_at") else ", not stored yet)\n",
                "dim")
    q = t.get("quarantine")
    if q:
        text.append("quarantined " + ("by policy" if q.get("by_policy") else "by hand") + ": ", "red")
        text.append(f"{q.get('reason')}\n")
    review = t.get("review")
    if review:
        text.append(f"review: {review.get('verdict')} by {review.get('actor')} {when(review.get('at'))}", "cyan")
        text.append(f" — {review['note']}\n" if review.get("note") else "\n")
    explanation = t.get("explanation") or []
    if explanation:
        width = max(len(str(e.get("component"))) for e in explanation)
        text.append("\ncomponent" + " " * max(1, width - 8) + "value             weight  contrib\n", "dim")
        for e in explanation:
            value, weight, contrib = (float(e.get(k) or 0) for k in ("value", "weight", "contribution"))
            text.append(f"{e.get('component')!s:<{width}} ")
            text.append(bar(value), score_style(value, low, high))
            text.append(f" {value:.2f}   {weight:.2f}  ")
            text.append(f"{contrib:+.3f}\n", "bold")
    history = t.get("history") or []
    if len(history) > 1:
        text.append("\nhistory ", "dim")
        text.append(sparkline([float(h.get("score") or 0) for h in history], 30), "cyan")
        text.append(f"  {len(history)} change(s)\n", "dim")
    conflicts = t.get("contradictions") or []
    if conflicts:
        text.append(f"\ncontradictions ({len(conflicts)})\n", "bold")
        for c in conflicts:
            other = c.get("b") if (c.get("a") or {}).get("id") == t.get("id") else c.get("a")
            other = other or {}
            text.append(f"#{c.get('id')} {c.get('kind')} {float(c.get('score') or 0):.2f} {c.get('status')}  ", "dim")
            text.append(f"with {other.get('collection')}/{other.get('key')}\n")
    text.append("\na approve · x reject · r restore", "dim")
    return text
