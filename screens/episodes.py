"""Episodes: what was asked, what memory answered with, and whether it helped.

The sessions list (filtered by date range and rating with a filter line like the Audit Log's), the
transcript of the selected session, and for the selected turn the memories it retrieved: the version
used then against the item now, with "changed since" marked, so "what did it know when it said that?"
has an answer after memory moved on. Turns can be rated here too; ``s`` summarises the session and
``p`` the filtered period (a core job; by the model when one is there, extractively when not), and
``r`` shows the daily report with latency and satisfaction per day.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label, Sparkline, Static
from textual.widgets.data_table import ColumnKey

from core.audit_query import parse_time
from core.errors import InvalidInput, MemdeckError
from screens.ask import RATING_TEXT, mode_text, pick_and_open, timing_text
from tui.bridge import CoreEvent, CoreFailed, CoreReady, run_in_thread
from tui.widgets import ModeBar

if TYPE_CHECKING:
    from tui.app import MemdeckApp

RATING_WORDS = {"up": "up", "+": "up", "+1": "up", "1": "up", "helpful": "up", "good": "up",
                "down": "down", "-": "down", "-1": "down", "unhelpful": "down", "bad": "down",
                "unrated": "unrated", "none": "unrated", "any": None, "all": None}
DAY = 86_400.0


@dataclass(frozen=True)
class EpisodeFilter:
    since: float | None = None
    until: float | None = None
    rating: str | None = None  # "up", "down", "unrated" or None (any)

    def describe(self) -> str:
        parts = []
        if self.since is not None:
            parts.append(f"since:{_when(self.since)}")
        if self.until is not None:
            parts.append(f"until:{_when(self.until)}")
        if self.rating is not None:
            parts.append(f"rating:{self.rating}")
        return " ".join(parts)


def parse_episode_filter(text: str, now: float) -> EpisodeFilter:
    """``since:7d until:2026-09-21 rating:up`` (since/until: 2h, 7d, an ISO date or date-time, UTC)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InvalidInput(f"cannot read filter: {exc}") from None
    values: dict[str, Any] = {}
    for word in words:
        key, sep, value = word.partition(":")
        key = key.lower()
        if not sep or not value or key not in ("since", "until", "rating"):
            raise InvalidInput(f"cannot read {word!r} in the filter",
                               hint="use since:7d until:2026-09-21 rating:up|down|unrated")
        if key == "rating":
            if value.lower() not in RATING_WORDS:
                raise InvalidInput(f"unknown rating {value!r}", hint="use rating:up, rating:down or rating:unrated")
            values["rating"] = RATING_WORDS[value.lower()]
        else:
            values[key] = parse_time(value, now)
    flt = EpisodeFilter(**values)
    if flt.since is not None and flt.until is not None and flt.until <= flt.since:
        raise InvalidInput("until is not after since", hint="e.g. since:2026-09-14 until:2026-09-21")
    return flt


def _when(ts: float | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime(fmt)


def rating_mark(rating: Any) -> tuple[str, str]:
    if rating == 1:
        return "+1", "green"
    if rating == -1:
        return "-1", "red"
    return "·", "dim"


def _one_line(text: str, limit: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def episode_detail(ep: dict[str, Any]) -> Text:
    """One turn in full: question, answer, how, timings, rating, and the memories it used then vs now."""
    text = Text()
    text.append(f"#{ep['id']}", "bold")
    text.append(f"  {_when(ep.get('started_at'), '%Y-%m-%d %H:%M:%S')} UTC  ·  {ep.get('kind', 'ask')}"
                f"  ·  {ep.get('actor') or '-'}\n", "dim")
    text.append("Q  ", "bold cyan")
    text.append((ep.get("question") or "") + "\n")
    text.append("A  ", "bold")
    text.append((ep.get("answer") or "(no answer)").rstrip() + "\n")
    label, style = mode_text(ep)
    text.append(label + "\n", style)
    if ep.get("kind") != "import":
        text.append(timing_text(ep) + "\n", "dim")
    rating = ep.get("rating")
    if rating in RATING_TEXT:
        text.append(RATING_TEXT[rating], "green" if rating == 1 else "red")
        if ep.get("comment"):
            text.append(f": {ep['comment']}")
        text.append("\n")
    else:
        text.append("not rated (+ or - rates it)\n", "dim")
    items = ep.get("items")
    if items is None:
        return text
    changed = sum(1 for it in items if it.get("changed_since"))
    text.append(f"\nmemories retrieved ({len(items)})", "bold")
    if changed:
        text.append(f"  ·  {changed} changed since", "yellow")
    text.append("\n")
    if not items:
        text.append("none: answered without memory\n", "dim")
    for it in items:
        cited = "cited" if it.get("cited") else "     "
        where = f"{it.get('collection')}/{it.get('key')}" if it.get("collection") is not None \
            else f"item {it.get('item_id')}"
        text.append(f"{it.get('rank', '?'):>2} ", "dim")
        text.append(f"{cited} ", "cyan")
        text.append(where)
        then, now = it.get("version"), it.get("version_now")
        text.append(f"  v{then}", "dim")
        if it.get("changed_since"):
            status = it.get("status_now") or "?"
            now_text = f"v{now}" if now is not None else "gone"
            extra = "" if status == "active" else f" {status}"
            text.append(f" → {now_text}{extra}  changed since", "bold yellow")
        text.append("\n")
        then_text = it.get("content_then")
        if then_text:
            text.append(f"     then: {_one_line(then_text, 200)}\n", "dim")
        if it.get("changed_since") and it.get("content_changed") and it.get("content_now"):
            text.append(f"     now:  {_one_line(it['content_now'], 200)}\n", "yellow")
    return text


class TurnModal(ModalScreen[None]):
    """One turn in full (the side pane is small on narrow terminals)."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="turn.close")]

    def __init__(self, episode: dict[str, Any]) -> None:
        super().__init__()
        self.episode = episode

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog turn-dialog"):
            yield Label(f"Episode #{self.episode['id']} in session {self.episode.get('session')}",
                        classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(episode_detail(self.episode), id="turn-body")
            yield Static("esc closes", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)


class SummaryModal(ModalScreen[None]):
    """A session's or a period's summary, with how it was made."""

    BINDINGS = [Binding("escape,enter", "close", "Close", id="summary.close")]

    def __init__(self, title: str, result: dict[str, Any]) -> None:
        super().__init__()
        self.title_text = title
        self.result = result

    def compose(self) -> ComposeResult:
        r = self.result
        method = r.get("method", "?")
        how = ("written by the model" if method == "model" else
               "extractive: the most representative sentences (no model answer)" if method == "extractive"
               else str(method))
        if r.get("model"):
            how += f" · {r['model']}"
        if r.get("fallback") or r.get("reason"):
            how += f" · {r.get('fallback') or r.get('reason')}"
        episodes = r.get("episodes")
        count = len(episodes) if isinstance(episodes, list) else episodes
        with Vertical(classes="dialog summary-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(Text.assemble(("method ", "dim"), (how, "bold"), ("  ·  ", "dim"),
                                       f"{count if count is not None else '?'} episode(s)"), id="summary-method")
            with VerticalScroll(classes="dialog-body"):
                yield Static(Text(r.get("summary") or "(nothing to summarise)"), id="summary-text")
            yield Static("esc closes", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.0f}%"


class ReportModal(ModalScreen[None]):
    """The daily report: one row per day, and sparklines of p95 latency and satisfaction."""

    BINDINGS = [Binding("escape,enter", "close", "Close", id="report.close")]

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        days = self.report.get("days") or []
        with Vertical(classes="dialog report-dialog"):
            yield Label(f"Daily report: last {len(days)} day(s), UTC", classes="dialog-title")
            yield DataTable(id="report-table", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="report-sparks"):
                with Vertical(classes="spark"):
                    yield Label("", id="report-latency-label", classes="spark-label")
                    yield Sparkline([], id="report-latency")
                with Vertical(classes="spark"):
                    yield Label("", id="report-satisfaction-label", classes="spark-label")
                    yield Sparkline([], id="report-satisfaction")
            yield Static("", id="report-totals")
            yield Static("esc closes", classes="dialog-hint")

    def on_mount(self) -> None:
        days = self.report.get("days") or []
        table: DataTable[str] = self.query_one("#report-table", DataTable)
        for label, key, width in (("day", "day", 10), ("asks", "q", 5), ("avg ms", "avg", 7),
                                  ("p95 ms", "p95", 7), ("hit", "hit", 5), ("cache", "cache", 5),
                                  ("fallbk", "fb", 6), ("errors", "err", 6), ("+1", "up", 4), ("-1", "down", 4),
                                  ("satisf.", "sat", 7)):
            table.add_column(label, key=key, width=width)
        for d in days:
            table.add_row(d.get("date", "?"), str(d.get("queries", 0)), f"{d.get('avg_ms', 0):.0f}",
                          f"{d.get('p95_ms', 0):.0f}", _pct(d.get("retrieval_hit_rate")),
                          _pct(d.get("cache_hit_rate")), _pct(d.get("fallback_rate")), _pct(d.get("error_rate")),
                          str(d.get("up", 0)), str(d.get("down", 0)), _pct(d.get("satisfaction")),
                          key=str(d.get("date")))
        p95 = [float(d.get("p95_ms") or 0) for d in days]
        sat = [float(d["satisfaction"]) if d.get("satisfaction") is not None else 0.0 for d in days]
        self.query_one("#report-latency", Sparkline).data = p95
        self.query_one("#report-satisfaction", Sparkline).data = sat
        self.query_one("#report-latency-label", Label).update(
            f"p95 latency per day  (max {max(p95, default=0):.0f} ms)")
        rated = [d for d in days if d.get("satisfaction") is not None]
        self.query_one("#report-satisfaction-label", Label).update(
            f"satisfaction per day  ({len(rated)} day(s) rated; unrated days show 0)")
        t = self.report.get("totals") or {}
        mix = t.get("mix") or {}
        mix_text = ", ".join(f"{k} {v}" for k, v in mix.items() if v)
        self.query_one("#report-totals", Static).update(
            f"total {t.get('queries', 0)} ask(s) · avg {t.get('avg_ms', 0):.0f} ms · p95 {t.get('p95_ms', 0):.0f} ms"
            f" · satisfaction {_pct(t.get('satisfaction'))} ({t.get('up', 0)} up, {t.get('down', 0)} down)"
            + (f" · {mix_text}" if mix_text else ""))
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)


class EpisodesScreen(Screen[None]):
    HELP = (
        "[b]Episodes[/b]: every question asked (here, in Ask, or with `memdeck ask`) and every imported "
        "chat turn, grouped by session, newest first.\n\n"
        "[b]Filter[/b] with [i]since:7d until:2026-09-21 rating:up[/i] (since/until take 2h, 7d, an ISO "
        "date or date-time in UTC; rating takes up, down or unrated). Sessions are kept when at least one "
        "turn in the window matches the rating.\n\n"
        "Select a session to read its transcript; select a turn to see the memories it retrieved: the "
        "version used then, the item now, and [b]changed since[/b] when memory moved on after the answer. "
        "+ or u rates the selected turn helpful, - or d not helpful (the latest rating counts).\n\n"
        "[b]s[/b] summarises the selected session and [b]p[/b] the filtered period (the last 7 days "
        "without a date filter): by the model when one is available, otherwise extractively. [b]r[/b] shows "
        "the daily report: asks, latency (avg, p95), retrieval and cache hit rates, fallbacks, errors and "
        "satisfaction per day. [b]o[/b] opens a memory of the selected turn in the Explorer."
    )
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="episodes.filter"),
        Binding("escape", "focus_sessions", "Sessions", id="episodes.focus", show=False),
        Binding("tab", "focus_next", "Next pane", show=False),
        Binding("plus,u", "rate(1)", "Helpful", id="episodes.up"),
        Binding("minus,d", "rate(-1)", "Not helpful", id="episodes.down"),
        Binding("s", "summarize_session", "Summarise", id="episodes.summarize"),
        Binding("p", "summarize_period", "Period", id="episodes.period"),
        Binding("r", "report", "Report", id="episodes.report"),
        Binding("o", "open_item", "Open memory", id="episodes.open"),
        Binding("enter", "show_turn", "Turn in full", id="episodes.show", show=False),
        Binding("f5", "refresh", "Refresh", id="episodes.refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._filter = EpisodeFilter()
        self._sessions: dict[str, dict[str, Any]] = {}
        self._turns: dict[str, dict[str, Any]] = {}
        self._detail: dict[str, Any] | None = None
        self._session: str | None = None
        self._summary_job: Any = None
        self._summary_title = ""

    @property
    def memapp(self) -> MemdeckApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ModeBar("episodes")
        with Horizontal(id="ep-bar"):
            yield Input(placeholder="filter: since:7d until:2026-09-21 rating:up|down|unrated (enter)",
                        id="ep-filter")
        with Horizontal(id="ep-main"):
            yield DataTable(id="ep-sessions", cursor_type="row", zebra_stripes=True)
            with Vertical(id="ep-right"):
                yield DataTable(id="ep-turns", cursor_type="row", zebra_stripes=True)
                with VerticalScroll(id="ep-detail"):
                    yield Static("Select a turn to see the memories it used.", id="ep-detail-body")
        yield Static("", id="ep-status")
        yield Footer()

    def on_mount(self) -> None:
        self.set_class(self.size.width < 110, "narrow")
        self.query_one("#ep-filter", Input).cursor_blink = getattr(self.app, "blink", True)
        sessions: DataTable[Any] = self.query_one("#ep-sessions", DataTable)
        for label, key, width in (("last (UTC)", "last", 11), ("turns", "turns", 5), ("+/-", "rating", 5),
                                  ("session", "session", 22)):
            sessions.add_column(label, key=key, width=width)
        turns: DataTable[str] = self.query_one("#ep-turns", DataTable)
        for label, key, width in (("#", "id", 4), ("time", "time", 5), ("mode", "mode", 9), ("rated", "rated", 5),
                                  ("question", "question", 40)):
            turns.add_column(label, key=key, width=width)
        self.call_after_refresh(self._fit_question)
        sessions.focus()
        if self.memapp.core is not None:
            self.refresh_sessions()
        else:
            self._status(self.memapp.opening_message())

    def on_resize(self) -> None:
        self.set_class(self.size.width < 110, "narrow")
        self.call_after_refresh(self._fit_question)

    def _fit_question(self) -> None:
        """The question column takes what the turns table has left, so no sideways scrolling."""
        table: DataTable[Any] = self.query_one("#ep-turns", DataTable)
        fixed = sum(c.width + 2 * table.cell_padding for k, c in table.columns.items() if k.value != "question")
        width = max(12, table.scrollable_content_region.width - fixed - 2 * table.cell_padding - 1)
        column = table.columns.get(ColumnKey("question"))
        if column is not None and column.width != width:
            column.width = width
            table.refresh()

    def on_core_ready(self, _message: CoreReady) -> None:
        self.refresh_sessions()

    def on_core_failed(self, _message: CoreFailed) -> None:
        self._status(self.memapp.opening_message())

    def on_core_event(self, message: CoreEvent) -> None:
        kind, payload = message.event.kind, message.event.payload
        if kind == "job.finished" and self._summary_job is not None and payload.get("job_id") == self._summary_job.id:
            self._summarized(payload)
        elif kind == "job.finished" and payload.get("name") == "ask" and self.is_current:
            self.refresh_sessions()  # a new question came in (from Ask)

    def on_screen_resume(self) -> None:
        if self.memapp.core is not None:
            self.refresh_sessions()

    # ------------------------------------------------------------------ data
    def _status(self, text: str) -> None:
        self.query_one("#ep-status", Static).update(text)

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, MemdeckError):
            self._status(f"[red]{escape(exc.message)}[/]")
        else:
            self.memapp.show_error(exc)

    def refresh_sessions(self) -> None:
        core = self.memapp.core
        if core is None:
            return
        flt = self._filter

        def show(rows: list[dict[str, Any]]) -> None:
            if flt != self._filter:
                return
            table: DataTable[Any] = self.query_one("#ep-sessions", DataTable)
            keep = self._session
            table.clear()
            self._sessions = {r["session"]: r for r in rows}
            for r in rows:
                ups, downs = r.get("up", 0), r.get("down", 0)
                rated = Text.assemble((f"+{ups}", "green" if ups else "dim"), " ",
                                      (f"-{downs}", "red" if downs else "dim"))
                table.add_row(_when(r.get("last_at"), "%m-%d %H:%M"), str(r.get("turns", 0)), rated, r["session"],
                              key=r["session"])
            if keep in self._sessions:
                table.move_cursor(row=table.get_row_index(keep))
            elif rows:
                table.move_cursor(row=0)
            else:
                self._session = None
                self._show_turns([])
            turns = sum(int(r.get("turns", 0)) for r in rows)
            described = flt.describe()
            self._status(f"{len(rows)} session(s), {turns} turn(s)" + (f" match {described}" if described else "")
                         + "  ·  / filter  s summarise  p period  r report  F1 help" if rows else
                         ("No session matches this filter." if described else
                          "No episodes yet: ask something in Ask (5)."))

        run_in_thread(self, lambda: core.episode_sessions(since=flt.since, until=flt.until, rating=flt.rating),
                      show, self._failed, name="episodes-sessions", exclusive=True)

    def action_refresh(self) -> None:
        self.refresh_sessions()

    def _selected_key(self, selector: str) -> str | None:
        table: DataTable[str] = self.query_one(selector, DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None
        return str(key) if key is not None else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if event.data_table.id == "ep-sessions" and key is not None:
            self._session = str(key)
            self._load_turns(str(key))
        elif event.data_table.id == "ep-turns" and key is not None:
            self._load_detail(int(key))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "ep-turns":
            self.action_show_turn()
        elif event.data_table.id == "ep-sessions":
            self.query_one("#ep-turns", DataTable).focus()

    def action_show_turn(self) -> None:
        if self._detail is not None:
            self.app.push_screen(TurnModal(self._detail))

    def _load_turns(self, session: str, keep: int | None = None) -> None:
        core = self.memapp.core
        if core is None:
            return
        flt = self._filter

        def show(rows: list[dict[str, Any]]) -> None:
            if session != self._session:
                return
            self._show_turns(list(reversed(rows)), keep)  # oldest first: a transcript reads down

        run_in_thread(self, lambda: core.episodes_recent(1000, session=session, since=flt.since, until=flt.until),
                      show, self._failed, name="episodes-turns", exclusive=True)

    def _show_turns(self, rows: list[dict[str, Any]], keep: int | None = None) -> None:
        table: DataTable[Any] = self.query_one("#ep-turns", DataTable)
        table.clear()
        self._turns = {str(r["id"]): r for r in rows}
        for r in rows:
            mark, style = rating_mark(r.get("rating"))
            mode = r.get("answer_mode") or "?"
            if r.get("error") == "cancelled":
                mode = "cancelled"
            mode_style = {"memory": "green", "model-only": "magenta", "retrieval-only": "yellow",
                          "error": "red", "cancelled": "yellow"}.get(mode, "")
            short = {"model-only": "model", "retrieval-only": "retrieval"}.get(mode, mode)
            table.add_row(f"#{r['id']}", _when(r.get("started_at"), "%H:%M"), Text(short, mode_style),
                          Text(mark, style), _one_line(r.get("question") or "", 200), key=str(r["id"]))
        if not rows:
            self._detail = None
            self.query_one("#ep-detail-body", Static).update("No turns.")
            return
        target = str(keep) if keep is not None and str(keep) in self._turns else str(rows[-1]["id"])
        table.move_cursor(row=table.get_row_index(target))

    def _load_detail(self, episode_id: int) -> None:
        core = self.memapp.core
        if core is None:
            return

        def show(ep: dict[str, Any]) -> None:
            if self._selected_key("#ep-turns") != str(episode_id):
                return
            self._detail = ep
            self.query_one("#ep-detail-body", Static).update(episode_detail(ep))

        run_in_thread(self, lambda: core.episode(episode_id), show, self._failed, name="episodes-detail",
                      exclusive=True)

    # ------------------------------------------------------------------ filter
    def action_focus_filter(self) -> None:
        self.query_one("#ep-filter", Input).focus()

    def action_focus_sessions(self) -> None:
        self.query_one("#ep-sessions", DataTable).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "ep-filter":
            return
        try:
            flt = parse_episode_filter(event.value, self.memapp.clock())
        except MemdeckError as exc:
            self._status(f"[red]{escape(exc.message)}[/]" + (f"  {escape(exc.hint)}" if exc.hint else ""))
            return
        self._filter = flt
        self._session = None
        self.refresh_sessions()
        self.query_one("#ep-sessions", DataTable).focus()

    # ------------------------------------------------------------------ actions
    def action_rate(self, rating: int) -> None:
        core = self.memapp.core
        key = self._selected_key("#ep-turns")
        if core is None or key is None:
            self.notify("no turn selected", severity="warning")
            return
        eid, session = int(key), self._session

        def done(_result: Any) -> None:
            self.notify(f"episode #{eid}: {RATING_TEXT[rating]}")
            if session is not None:
                self._load_turns(session, keep=eid)
            self.refresh_sessions()

        run_in_thread(self, lambda: core.episode_feedback(eid, rating), done, self._failed, name="episodes-feedback")

    def action_open_item(self) -> None:
        ep = self._detail
        if ep is None:
            return
        used = sorted((it for it in ep.get("items") or [] if it.get("collection") is not None),
                      key=lambda it: not it.get("cited"))  # cited first, then by rank
        items = [{"n": it.get("rank"), "collection": it["collection"], "key": it["key"], "version": it["version"],
                  "trust": None} for it in used]
        pick_and_open(self, self.memapp, f"Open a memory used by #{ep['id']}", items)

    def _summarize(self, title: str, **window: Any) -> None:
        core = self.memapp.core
        if core is None:
            return
        if self._summary_job is not None:
            self.notify("a summary is already being written", severity="warning")
            return
        self._summary_title = title
        self._status(f"summarising {title.removeprefix('Summary of ')}…")
        self._summary_job = core.workers.start("summarize", lambda job: core.episodes_summarize(**window))

    def action_summarize_session(self) -> None:
        if self._session is None:
            self.notify("no session selected", severity="warning")
            return
        self._summarize(f"Summary of session {self._session}", session=self._session)

    def action_summarize_period(self) -> None:
        flt = self._filter
        since, until = flt.since, flt.until
        if since is None and until is None:
            since = self.memapp.clock() - 7 * DAY
        title = f"Summary of {_when(since) if since is not None else 'the start'} to " \
                f"{_when(until) if until is not None else 'now'} UTC"
        self._summarize(title, since=since, until=until)

    def _summarized(self, payload: dict[str, Any]) -> None:
        job, self._summary_job = self._summary_job, None
        if payload.get("state") == "ok" and job is not None and isinstance(job.result, dict):
            self._status(f"summary: {job.result.get('method', '?')}")
            self.app.push_screen(SummaryModal(self._summary_title, job.result))
        else:
            self._status("the summary failed")
            exc = job.exception if job is not None and job.exception is not None else \
                RuntimeError(str(payload.get("error")))
            self.memapp.show_error(exc, "Summary failed")

    def action_report(self) -> None:
        core = self.memapp.core
        if core is None:
            return
        self._status("building the daily report…")

        def show(report: dict[str, Any]) -> None:
            self._status("")
            self.app.push_screen(ReportModal(report))

        run_in_thread(self, lambda: core.report(days=7), show, self._failed, name="episodes-report")
