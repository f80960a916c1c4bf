"""Trust Dashboard (mode 7): how much memory can be believed, and what needs a person.

Top: every collection's average trust, low/high/quarantined counts and its trend over recent passes,
the distribution of scores in ten bins, and which scoring method is in use (the formula, or the model
learned from reviews, with its cross-validated accuracy). Below: the review queue, the open
contradictions and the latest alerts, and beside them the selected entry in full: an item's trust
explained component by component, or a contradiction with both texts side by side, the words that
differ and the values the checks quote highlighted. One key settles each entry; anything that hides
or rewrites memory asks first. Core calls run off the event loop (``run_in_thread``, or a core job for
the recompute pass); shapes are docs/design-trust.md's.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane
from textual.widgets.data_table import ColumnKey

from core.errors import MemdeckError
from screens.trust_dialogs import MergeModal, TrustDetailModal
from screens.trust_view import (
    contradiction_detail,
    fmt_score,
    histogram,
    is_version_conflict,
    item_detail,
    score_style,
    trend,
    when,
)
from tui.bridge import CoreEvent, CoreFailed, CoreReady, run_in_thread
from tui.modals import ConfirmModal
from tui.widgets import ModeBar

if TYPE_CHECKING:
    from tui.app import MemdeckApp

Target = tuple[str, str, str]  # ("item", collection, key) or ("contradiction", id, "")
TABS = ("tab-queue", "tab-contra", "tab-alerts")
TABLE_OF = {"tab-queue": "#trust-queue", "tab-contra": "#trust-contra", "tab-alerts": "#trust-alerts"}
SEP = "\x1f"
FLEX = "flex"  # the last column of each list: it takes the width the others leave
NOT_SCORED = "not scored yet: press R to compute trust"
ITEM_KEYS = "a/x/r act on items; for a contradiction: A keep A · B keep B · b both · m merge"
CONTRA_KEYS = "A/B/b/m settle contradictions; for an item: a approve · x reject · r restore"
_CONTRA_REF = re.compile(r"contradiction #(\d+)")


def _one_line(text: Any, limit: int) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def side_name(side: dict[str, Any]) -> str:
    return f"{side.get('collection')}/{side.get('key')}"


def alert_target(alert: dict[str, Any]) -> Target | None:
    """What an alert is about: a contradiction it names, or the item in its target (``collection/key``)."""
    found = _CONTRA_REF.search(str(alert.get("message") or ""))
    if alert.get("kind") == "contradiction" and found:
        return ("contradiction", found.group(1), "")
    target = str(alert.get("target") or "")
    collection, sep, key = target.partition("/")
    if sep and key and " " not in target and collection != "contradiction":
        return ("item", collection, key)
    return None


class TrustScreen(Screen[None]):
    HELP = (
        "[b]Trust[/b]: how far each memory can be believed, and what needs a person.\n\n"
        "The table shows per collection the item count, the average trust, how many score low (below the "
        "quarantine threshold) or high, how many are quarantined, and the trend of the average over the "
        "last passes. The histogram is the distribution of all scores in ten bins (red: low, green: high). "
        "The line under it says how scores are computed: the weighted [b]formula[/b], or the [b]learned[/b] "
        "model fitted on admin reviews, with its cross-validated accuracy.\n\n"
        "[b]Review queue[/b]: quarantined items (lowest trust first), then open contradictions (highest "
        "score first). [b]Contradictions[/b]: every open one. [b]Alerts[/b]: the latest new contradictions, "
        "quarantines and low-trust warnings. v (or clicking a tab) switches between them.\n\n"
        "The pane beside the list explains the selection: for an item, each trust component with its "
        "value, weight and contribution; for a contradiction, both texts side by side with the words that "
        "differ in yellow and the conflicting values reversed, the evidence and a suggestion. A version "
        "conflict (the same item changed its story) shows the older version as A. Enter shows it in full.\n\n"
        "[b]Items[/b]: a approves (and restores), x rejects (and quarantines; asks first), r restores "
        "without a verdict. [b]Contradictions[/b]: A keeps A (B is rejected; asks first), B keeps B, b keeps "
        "both (a false alarm), m merges (edit the one correct text, ctrl+s; A gets it, B is deleted). "
        "Reviews teach the learned model. R recomputes every score now (a background job; progress shows "
        "below); F5 or ctrl+r reloads. The dashboard also reloads by itself after every trust pass in this "
        "app, and new alerts pop up as notifications while it is open."
    )
    BINDINGS = [
        Binding("a", "review('approved')", "Approve", id="trust.approve"),
        Binding("x", "review('rejected')", "Reject", id="trust.reject"),
        Binding("r", "review('restore')", "Restore", id="trust.restore"),
        Binding("A", "resolve('A')", "Keep A", id="trust.keep_a"),
        Binding("B", "resolve('B')", "Keep B", id="trust.keep_b"),
        Binding("b", "resolve('both')", "Both", id="trust.keep_both"),
        Binding("m", "merge", "Merge", id="trust.merge"),
        Binding("R", "recompute", "Recompute", id="trust.recompute"),
        Binding("v", "next_tab", "View", id="trust.view"),
        Binding("enter", "show_detail", "In full", id="trust.detail", show=False),
        Binding("f5,ctrl+r", "refresh", "Refresh", id="trust.refresh", show=False),
        Binding("tab", "focus_next", "Next pane", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.summary: dict[str, Any] = {}
        self.queue: list[dict[str, Any]] = []
        self.contras: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self.detail: dict[str, Any] | None = None
        self.detail_target: Target | None = None
        self._recompute_job: Any = None
        self._pending_alerts: list[str] = []
        self._alert_timer: Timer | None = None
        self._refresh_timer: Timer | None = None

    @property
    def memapp(self) -> MemdeckApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ModeBar("trust")
        with Horizontal(id="trust-top"):
            with Vertical(id="trust-coll-box"):
                yield Static(NOT_SCORED, id="trust-coll-empty")
                yield DataTable(id="trust-collections", cursor_type="none", zebra_stripes=True)
            yield Static("", id="trust-hist")
        yield Static("", id="trust-model")
        with Horizontal(id="trust-main"):
            with TabbedContent(id="trust-tabs", initial="tab-queue"):
                with TabPane("Review queue", id="tab-queue"):
                    yield Static("nothing to review", id="trust-queue-empty", classes="trust-empty")
                    yield DataTable(id="trust-queue", cursor_type="row", zebra_stripes=True)
                with TabPane("Contradictions", id="tab-contra"):
                    yield Static("no open contradictions", id="trust-contra-empty", classes="trust-empty")
                    yield DataTable(id="trust-contra", cursor_type="row", zebra_stripes=True)
                with TabPane("Alerts", id="tab-alerts"):
                    yield Static("no alerts", id="trust-alerts-empty", classes="trust-empty")
                    yield DataTable(id="trust-alerts", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="trust-detail"):
                yield Static("Select an entry to see why.", id="trust-detail-body")
        yield Static("", id="trust-status")
        yield Footer()

    def on_mount(self) -> None:
        self.set_class(self.size.width < 110, "narrow")
        columns: dict[str, tuple[tuple[str, str, int], ...]] = {
            "#trust-collections": (("collection", "collection", 14), ("n", "n", 5), ("avg", "avg", 4),
                                   ("low", "low", 4), ("high", "high", 4), ("quar", "quar", 4),
                                   ("trend", "trend", 14)),
            "#trust-queue": (("", "type", 1), ("score", "score", 5), ("what · why", FLEX, 40)),
            "#trust-contra": (("#", "id", 4), ("kind", "kind", 8), ("score", "score", 5),
                              ("A ↔ B · evidence", FLEX, 40)),
            "#trust-alerts": (("time (UTC)", "at", 11), ("kind", "kind", 13), ("message", FLEX, 40)),
        }
        for selector, cols in columns.items():
            table: DataTable[Any] = self.query_one(selector, DataTable)
            for label, key, width in cols:
                table.add_column(label, key=key, width=width)
        collections = self.query_one("#trust-collections", DataTable)
        collections.display = collections.can_focus = False  # read-only: tab moves between list and detail
        for empty in self.query(".trust-empty"):
            empty.display = False
        self.query_one("#trust-queue", DataTable).focus()
        self.call_after_refresh(self._fit_columns)
        if self.memapp.core is not None:
            self.refresh_data()
        else:
            self._status(self.memapp.opening_message())

    def on_resize(self) -> None:
        self.set_class(self.size.width < 110, "narrow")
        self.call_after_refresh(self._fit_columns)

    def _fit_columns(self) -> None:
        """The flexible column takes what the others leave, so a list never scrolls sideways."""
        for selector in TABLE_OF.values():
            table: DataTable[Any] = self.query_one(selector, DataTable)
            region = table.scrollable_content_region.width or self.query_one("#trust-tabs").size.width
            fixed = sum(c.width + 2 * table.cell_padding for k, c in table.columns.items() if k.value != FLEX)
            width = max(12, region - fixed - 2 * table.cell_padding - 1)
            column = table.columns.get(ColumnKey(FLEX))
            if column is not None and column.width != width:
                column.width = width
                # DataTable recomputes its scrollable width only when rows change: say it now
                table.virtual_size = Size(sum(c.get_render_width(table) for c in table.columns.values()),
                                          table.virtual_size.height)
                table.refresh()

    def on_core_ready(self, _message: CoreReady) -> None:
        self.refresh_data()

    def on_core_failed(self, _message: CoreFailed) -> None:
        self._status(self.memapp.opening_message())

    def on_screen_resume(self) -> None:
        if self.memapp.core is not None:
            self.refresh_data()

    def on_core_event(self, message: CoreEvent) -> None:
        kind, payload = message.event.kind, message.event.payload
        job = self._recompute_job
        if job is not None and payload.get("job_id") == job.id:
            if kind == "job.progress":
                total = payload.get("total") or 0
                done = f" {payload.get('done')}/{total}" if total else ""
                self._status(f"recomputing trust…{done} {escape(str(payload.get('message') or ''))}")
            elif kind == "job.finished":
                self._recomputed(payload)
        elif kind == "trust.alert":
            self._alert(str(payload.get("message") or payload.get("target") or "trust alert"))
            self._soon()
        elif kind == "trust.changed":
            self._soon()

    # ------------------------------------------------------------------ bus: alerts and refreshes
    def _alert(self, message: str) -> None:
        """Alerts come in bursts (one per quarantine in a pass): gather them into one notification."""
        self._pending_alerts.append(message)
        if self._alert_timer is None:
            self._alert_timer = self.set_timer(0.3, self._flush_alerts)

    def _flush_alerts(self) -> None:
        self._alert_timer = None
        alerts, self._pending_alerts = self._pending_alerts, []
        if not alerts:
            return
        more = f"\n…and {len(alerts) - 1} more (Alerts tab)" if len(alerts) > 1 else ""
        self.notify(_one_line(alerts[0], 160) + more, title="Trust alert", severity="warning", timeout=10)

    def _soon(self) -> None:
        """Refresh once after a burst of events; a hidden screen refreshes on the way back instead."""
        if not self.is_current:
            return
        if self._refresh_timer is None:
            self._refresh_timer = self.set_timer(0.3, self._timed_refresh)

    def _timed_refresh(self) -> None:
        self._refresh_timer = None
        self.refresh_data()

    # ------------------------------------------------------------------ data
    def _status(self, text: str | Text) -> None:
        self.query_one("#trust-status", Static).update(text)

    def _failed(self, exc: BaseException) -> None:
        """A core error is a notification (with what to do), never a crash; anything else is a bug: modal."""
        if isinstance(exc, MemdeckError):
            hint = f"\n{exc.hint}" if exc.hint else ""
            self.notify(escape(exc.message) + escape(hint), severity="error", timeout=10)
            self._status(Text(exc.message, "red"))
        else:
            self.memapp.show_error(exc)

    def refresh_data(self) -> None:
        core = self.memapp.core
        if core is None:
            return
        def fetch() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
            return core.trust_summary(), core.review_queue(), core.contradictions("open")

        run_in_thread(self, fetch, self._show, self._failed, name="trust-refresh", exclusive=True)

    def action_refresh(self) -> None:
        self.refresh_data()

    def _show(self, data: tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]) -> None:
        self.summary, self.queue, self.contras = data
        self.alerts = list(self.summary.get("alerts") or [])
        self._show_top()
        self._fill_queue()
        self._fill_contras()
        self._fill_alerts()
        tabs = self.query_one("#trust-tabs", TabbedContent)
        tabs.get_tab("tab-queue").label = f"Review queue ({len(self.queue)})"  # type: ignore[assignment]
        tabs.get_tab("tab-contra").label = f"Contradictions ({len(self.contras)})"  # type: ignore[assignment]
        tabs.get_tab("tab-alerts").label = f"Alerts ({len(self.alerts)})"  # type: ignore[assignment]
        if self._recompute_job is None:
            self._status(self._summary_line())
        self._load_highlighted()

    def _thresholds(self) -> tuple[float, float]:
        return float(self.summary.get("low_threshold") or 0.35), float(self.summary.get("high_threshold") or 0.75)

    def _summary_line(self) -> str:
        items = sum(1 for q in self.queue if q.get("type") == "item")
        if self._not_scored():
            return NOT_SCORED
        return f"{items} item(s) to review · {len(self.contras)} open contradiction(s) · F1 help"

    def _show_top(self) -> None:
        s = self.summary
        low, high = self._thresholds()
        rows = s.get("collections") or []
        table: DataTable[Any] = self.query_one("#trust-collections", DataTable)
        table.clear()
        for c in rows:
            avg = c.get("avg")
            table.add_row(Text(str(c.get("collection"))), str(c.get("n", 0)),
                          Text(fmt_score(avg), score_style(avg, low, high)),
                          Text(str(c.get("low", 0)), "red" if c.get("low") else "dim"),
                          Text(str(c.get("high", 0)), "green" if c.get("high") else "dim"),
                          Text(str(c.get("quarantined", 0)), "yellow" if c.get("quarantined") else "dim"),
                          trend(c.get("trend") or []), key=str(c.get("collection")))
        table.display = bool(rows)
        self.query_one("#trust-coll-empty").display = not rows
        total = sum(int(c.get("n") or 0) for c in rows)
        hist = Text.assemble((f"{total} scores" if total else "no scores yet", "bold"), (" · ", "dim"),
                             (f"low <{low:.2f}", "red"), (" · ", "dim"), (f"high ≥{high:.2f}\n", "green"))
        hist.append_text(histogram(s.get("histogram") or [0] * 10, low, high))
        self.query_one("#trust-hist", Static).update(hist)
        self.query_one("#trust-model", Static).update(self._model_line())

    def _model_line(self) -> Text:
        """Method, accuracy and age first: on 80 columns the model's reason is what gets cut."""
        s = self.summary
        model = s.get("model") or {}
        method = str(s.get("method") or model.get("method") or "?")
        text = Text.assemble(("scores ", "dim"), (method, "bold"))
        cv = model.get("cv_accuracy")
        if cv is not None:
            text.append(" · cv accuracy ", "dim")
            text.append(f"{float(cv) * 100:.0f}%", "bold")
        if s.get("computed_at") is None:
            text.append(f" · {NOT_SCORED}", "yellow")
        else:
            text.append(f" · scored {when(s.get('computed_at'), '%m-%d %H:%M')} UTC", "dim")
        if model.get("reason"):
            text.append(f" · {model['reason']}", "dim")
        elif model.get("reviews") is not None:
            text.append(f" · {model['reviews']} review(s): {model.get('approved', 0)} approved, "
                        f"{model.get('rejected', 0)} rejected", "dim")
        return text

    def _fill(self, selector: str, rows: list[tuple[str, tuple[Any, ...]]], empty: str) -> None:
        """Replace a table's rows, keeping the highlighted row where it still exists."""
        table: DataTable[Any] = self.query_one(selector, DataTable)
        keep = self._row_key(table)
        index = table.cursor_row
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        keys = [k for k, _ in rows]
        if keep in keys:
            table.move_cursor(row=keys.index(keep))
        elif rows:
            table.move_cursor(row=max(0, min(index, len(rows) - 1)))
        table.display = bool(rows)
        self.query_one(empty).display = not rows

    def _fill_queue(self) -> None:
        low, high = self._thresholds()
        rows = []
        for q in self.queue:
            score = q.get("score")
            if q.get("type") == "contradiction":
                key, mark = f"contradiction{SEP}{q.get('id')}", Text("≠", "bold magenta")
                score_text = Text(fmt_score(score), "magenta")
            else:
                key = f"item{SEP}{q.get('collection')}{SEP}{q.get('key')}"
                mark = Text("●", score_style(score, low, high))
                score_text = Text(fmt_score(score), score_style(score, low, high))
            what = Text.assemble(_one_line(q.get("title"), 80), ("  " + _one_line(q.get("reason"), 160), "dim"))
            rows.append((key, (mark, score_text, what)))
        self._fill("#trust-queue", rows, "#trust-queue-empty")

    def _fill_contras(self) -> None:
        rows = []
        for c in self.contras:
            a, b = c.get("a") or {}, c.get("b") or {}
            pair = (f"{side_name(b)} v{a.get('version')}→v{b.get('version')}" if is_version_conflict(c)
                    else f"{side_name(a)} ↔ {side_name(b)}")
            rows.append((f"contradiction{SEP}{c.get('id')}",
                         (f"#{c.get('id')}", Text(str(c.get("kind")), "magenta"), f"{float(c.get('score') or 0):.2f}",
                          Text.assemble(_one_line(pair, 90), ("  " + _one_line(c.get("evidence"), 160), "dim")))))
        self._fill("#trust-contra", rows, "#trust-contra-empty")

    def _fill_alerts(self) -> None:
        colour = {"contradiction": "magenta", "quarantine": "red", "low_trust": "yellow"}
        rows: list[tuple[str, tuple[Any, ...]]] = []
        for n, a in enumerate(self.alerts):
            target = alert_target(a)
            key = SEP.join(target) if target else f"alert{SEP}{n}"
            if any(k == key for k, _ in rows):
                key = f"{key}{SEP}{n}"
            kind = str(a.get("kind") or "?")
            rows.append((key, (when(a.get("at"), "%m-%d %H:%M"), Text(kind, colour.get(kind, "")),
                               Text(_one_line(a.get("message"), 160)))))
        self._fill("#trust-alerts", rows, "#trust-alerts-empty")

    # ------------------------------------------------------------------ selection and detail
    def _active_tab(self) -> str:
        return self.query_one("#trust-tabs", TabbedContent).active or "tab-queue"

    def _active_table(self) -> DataTable[Any]:
        return self.query_one(TABLE_OF.get(self._active_tab(), "#trust-queue"), DataTable)

    @staticmethod
    def _row_key(table: DataTable[Any]) -> str | None:
        if table.row_count == 0:
            return None
        try:
            value = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None
        return None if value is None else str(value)

    def selected(self) -> Target | None:
        """The entry the keys act on: the highlighted row of the list that is showing."""
        key = self._row_key(self._active_table())
        if key is None:
            return None
        parts = key.split(SEP)
        if parts[0] == "item" and len(parts) >= 3:
            return ("item", parts[1], parts[2])
        if parts[0] == "contradiction" and len(parts) >= 2:
            return ("contradiction", parts[1], "")
        return None

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        table = self.query_one(TABLE_OF.get(event.pane.id or "", "#trust-queue"), DataTable)
        if table.display:
            table.focus()
        self.call_after_refresh(self._fit_columns)  # a hidden pane's table had no width to fit before
        self._load_highlighted()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self._active_table():
            self._load_highlighted()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "trust-collections":
            self.action_show_detail()

    def action_next_tab(self) -> None:
        tabs = self.query_one("#trust-tabs", TabbedContent)
        tabs.active = TABS[(TABS.index(self._active_tab()) + 1) % len(TABS)]

    def _detail_body(self, body: Any) -> None:
        self.query_one("#trust-detail-body", Static).update(body)

    def _load_highlighted(self) -> None:
        target = self.selected()
        if target is None:
            self.detail, self.detail_target = None, None
            empty = {"tab-queue": "nothing to review", "tab-contra": "no open contradictions"}.get(
                self._active_tab(), "Select an entry to see why.")
            self._detail_body(Text(NOT_SCORED if self._not_scored() else empty, "dim"))
            return
        self._load_detail(target)

    def _not_scored(self) -> bool:
        return not self.summary.get("collections") and self.summary.get("computed_at") is None

    def _load_detail(self, target: Target) -> None:
        core = self.memapp.core
        if core is None:
            return
        self.detail_target = target
        if target[0] == "item":
            def fetch() -> dict[str, Any]:
                return dict(core.trust_show(target[1], target[2]))
        else:
            def fetch() -> dict[str, Any]:
                return dict(core.contradiction(int(target[1])))

        def show(detail: dict[str, Any]) -> None:
            if self.detail_target != target:
                return
            self.detail = detail
            low, high = self._thresholds()
            self._detail_body(item_detail(detail, low, high) if target[0] == "item" else contradiction_detail(detail))

        def failed(exc: BaseException) -> None:
            if self.detail_target != target:
                return
            self.detail = None
            message = exc.message if isinstance(exc, MemdeckError) else f"{type(exc).__name__}: {exc}"
            self._detail_body(Text(f"cannot show this entry: {message}", "red"))

        run_in_thread(self, fetch, show, failed, name="trust-detail", exclusive=True)

    def _detail_title(self) -> str:
        t, d = self.detail_target, self.detail or {}
        if t is None:
            return ""
        if t[0] == "item":
            return f"Trust of {t[1]}/{t[2]}"
        return f"Contradiction #{t[1]}: {d.get('kind', '')}"

    def action_show_detail(self) -> None:
        if self.detail is None or self.detail_target is None:
            return
        low, high = self._thresholds()
        body = item_detail(self.detail, low, high) if self.detail_target[0] == "item" \
            else contradiction_detail(self.detail)
        self.app.push_screen(TrustDetailModal(self._detail_title(), body))

    # ------------------------------------------------------------------ actions: items
    def action_review(self, verdict: str) -> None:
        core = self.memapp.core
        target = self.selected()
        if core is None:
            return
        if target is None:
            self.notify("nothing selected", severity="warning")
            return
        if target[0] != "item":
            self.notify(ITEM_KEYS, severity="warning")
            return
        _, collection, key = target
        name = f"{collection}/{key}"

        def run() -> None:
            def done(result: dict[str, Any]) -> None:
                status = result.get("status", "?") if isinstance(result, dict) else "?"
                self.notify(f"{name}: {verdict} ({status})")
                self.refresh_data()

            run_in_thread(self, lambda: core.trust_review(collection, key, verdict), done, self._failed,
                          name="trust-review")

        if verdict == "rejected":
            self._confirm("Reject this item?", f"{name} is marked rejected and quarantined: it leaves search "
                          "and answers until someone approves or restores it.\nThe review teaches the trust model.",
                          "Reject", run)
        else:
            run()

    def _confirm(self, title: str, body: str, label: str, then: Any) -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                then()

        self.app.push_screen(ConfirmModal(title, body, label), answered)

    # ------------------------------------------------------------------ actions: contradictions
    def _selected_contradiction(self) -> int | None:
        target = self.selected()
        if target is None:
            self.notify("nothing selected", severity="warning")
            return None
        if target[0] != "contradiction":
            self.notify(CONTRA_KEYS, severity="warning")
            return None
        return int(target[1])

    def _with_contradiction(self, cid: int, then: Any) -> None:
        """Both sides' names and texts: the shown detail when it is this one, else fetched first."""
        core = self.memapp.core
        if core is None:
            return
        if self.detail_target == ("contradiction", str(cid), "") and self.detail is not None:
            then(self.detail)
            return
        run_in_thread(self, lambda: dict(core.contradiction(cid)), then, self._failed, name="trust-contradiction")

    def _resolve(self, cid: int, keep: str, text: str | None = None) -> None:
        core = self.memapp.core
        if core is None:
            return

        def done(result: dict[str, Any]) -> None:
            what = result.get("resolution") if isinstance(result, dict) else None
            self.notify(f"contradiction #{cid}: {what or keep}")
            self.refresh_data()

        run_in_thread(self, lambda: core.contradiction_resolve(cid, keep, text=text), done, self._failed,
                      name="trust-resolve")

    def action_resolve(self, keep: str) -> None:
        cid = self._selected_contradiction()
        if cid is None:
            return
        if keep == "both":
            self._resolve(cid, "both")
            return

        def ask(c: dict[str, Any]) -> None:
            a, b = c.get("a") or {}, c.get("b") or {}
            if is_version_conflict(c):
                body = (f"The older text (v{a.get('version')}) is written back as a new version of {side_name(a)}."
                        if keep == "A" else
                        f"The current text (v{b.get('version')}) of {side_name(b)} stays; the conflict is closed.")
            else:
                win, lose = (a, b) if keep == "A" else (b, a)
                body = (f"Keep {keep}: {side_name(win)} is approved (and restored if quarantined).\n"
                        f"{side_name(lose)} is rejected and quarantined: out of search and answers.")
            self._confirm(f"Keep {keep} of contradiction #{cid}?", body, f"Keep {keep}",
                          lambda: self._resolve(cid, keep))

        self._with_contradiction(cid, ask)

    def action_merge(self) -> None:
        cid = self._selected_contradiction()
        if cid is None:
            return

        def edit(c: dict[str, Any]) -> None:
            def merged(text: str | None) -> None:
                if text:
                    self._resolve(cid, "merge", text)

            self.app.push_screen(MergeModal(c), merged)

        self._with_contradiction(cid, edit)

    # ------------------------------------------------------------------ recompute
    def action_recompute(self) -> None:
        core = self.memapp.core
        if core is None:
            return
        if self._recompute_job is not None:
            self.notify("trust is being recomputed already", severity="warning")
            return
        self._status("recomputing trust…")
        self._recompute_job = core.workers.start("trust-recompute", lambda job: core.trust_recompute(job=job))

    def _recomputed(self, payload: dict[str, Any]) -> None:
        job, self._recompute_job = self._recompute_job, None
        if payload.get("state") == "ok" and job is not None and isinstance(job.result, dict):
            r = job.result
            self.notify(f"trust recomputed: {r.get('scored', 0)} scored, {r.get('contradictions_new', 0)} new "
                        f"contradiction(s), {len(r.get('quarantined') or [])} quarantined, "
                        f"{len(r.get('restored') or [])} restored · {r.get('method', '?')} · "
                        f"{float(r.get('duration_ms') or 0):.0f} ms", title="Trust")
        elif payload.get("state") == "cancelled":
            self.notify("trust recompute cancelled", severity="warning")
        else:  # the app has notified the failure already (every failed job is); the status says what to do
            exc = job.exception if job is not None else None
            hint = f"  {exc.hint}" if isinstance(exc, MemdeckError) and exc.hint else ""
            self._status(Text(f"trust recompute failed: {payload.get('error')}{hint}", "red"))
            return
        self.refresh_data()
