"""Training (mode 8): the nightly LoRA runs, the one in progress, the adapter in use, and whether nights
of training made the model better.

Top: the adapter answers use now (its file, the run that made it, since when), the schedule line and
the adapter history; beside it the morning-validation trend. Middle: the runs table (status, trigger,
start, duration, samples + replay, steps, loss first→last, canary, probe and control NLL change).
Below: the live run (phase, progress bar, loss sparkline, ETA, log tail) when one is in progress, and
the highlighted run in full (settings, gate reasons, error, losses, log); Enter opens it in a dialog.
On an 80x24 terminal the live view takes the detail pane's place and the table keeps the essential
columns.

``n`` trains now, ``c`` cancels (only offered while a run of this process is live), ``r`` rolls back
(admin; names what comes back), ``v`` validates; each asks first where it changes something. Nothing
here blocks the event loop: the run itself and the validation are core jobs (they report on the bus:
``train.progress``, ``train.finished``, ``train.alert``, ``job.finished``), every other core call is a
short ``run_in_thread``. Shapes: docs/design-training.md; drawing: ``screens/training_view.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, ProgressBar, Sparkline, Static
from textual.widgets.data_table import RowDoesNotExist

from core.errors import MemdeckError
from screens.training_dialogs import RunDetailModal
from screens.training_view import (
    COLUMNS_SHORT,
    COLUMNS_WIDE,
    EMPTY,
    EMPTY_MORE,
    adapter_panel,
    live_head,
    loss_span,
    rollback_plan,
    run_cells,
    run_detail,
    validation_text,
)
from tui.bridge import CoreEvent, CoreFailed, CoreReady, run_in_thread
from tui.modals import ConfirmModal
from tui.widgets import ModeBar

if TYPE_CHECKING:
    from tui.app import MemdeckApp

POLL_S = 3.0     # a run in another process sends no events here: its row is re-read this often
TOAST_S = 0.4    # a failed run publishes train.finished and then train.alert: wait, say it once
DETAIL_LOG = 12  # log lines in the detail pane (the dialog shows all)
NOTE_S = 10.0    # an action's message holds the status line this long


class TrainingScreen(Screen[None]):
    HELP = (
        "[b]Training[/b]: memdeck teaches its local model what changed in memory with a LoRA adapter, and "
        "keeps the adapter only if it is not worse.\n\n"
        "Each run builds chat questions from new trusted items and helpful answers (one phrasing per item is "
        "held out as a probe), mixes in replay, trains, converts the adapter for llama.cpp and runs the gate: "
        "the canary suite must pass 100%, the probe NLL must drop, the control NLL may rise at most 5%. "
        "Pass: the adapter is promoted and used at once. Fail: the previous adapter stays, and the run is "
        "marked rolled back with the reasons (and a notification pops up, whichever screen is open).\n\n"
        "The table: [b]samples[/b] new + replay, [b]loss[/b] first → last step, [b]canary[/b] cases passed "
        "with the new adapter, [b]probe[/b] and [b]control[/b] the change in NLL (lower is better; probe must "
        "drop, control red above +5%). Times are local.\n\n"
        "[b]n[/b] trains now (asks first). [b]c[/b] cancels the run in progress (asks first; only a run of "
        "this app can be cancelled here). [b]r[/b] rolls the adapter in use back to the one before it (admin; "
        "asks first, naming what comes back). [b]v[/b] runs the morning validation now: the challenge set "
        "asked without notes, recorded per day; the sparkline is its trend. Enter shows the highlighted run "
        "in full. F5 or ctrl+r reloads."
    )
    BINDINGS = [
        Binding("n", "train_now", "Train now", id="train.now"),
        Binding("c", "cancel_run", "Cancel run", id="train.cancel"),
        Binding("r", "rollback", "Roll back", id="train.rollback"),
        Binding("v", "validate", "Validate", id="train.validate"),
        Binding("enter", "show_run", "Run in full", id="train.detail", show=False),
        Binding("f5,ctrl+r", "refresh", "Refresh", id="train.refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, Any] = {}
        self.runs: list[dict[str, Any]] = []
        self.selected: dict[str, Any] | None = None
        self.active: dict[str, Any] | None = None
        self.loaded = False
        self._short: bool | None = None
        self._refresh_timer: Timer | None = None
        self._toast_timer: Timer | None = None
        self._toasts: dict[Any, str] = {}
        self._own_rollback: int | None = None
        self._train_job: Any = None
        self._validate_job: Any = None
        self._cancel_offered = False
        self._noted = False
        self._note_timer: Timer | None = None

    @property
    def memapp(self) -> MemdeckApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ModeBar("training")
        with Horizontal(id="train-top"):
            yield Static("", id="train-adapter")
            with Vertical(id="train-valid-box"):
                yield Static("", id="train-valid")
                yield Sparkline([], id="train-valid-spark")
        yield Static(Text.assemble((EMPTY, "bold"), "\n\n", (EMPTY_MORE, "dim")), id="train-empty")
        yield DataTable(id="train-runs", cursor_type="row", zebra_stripes=True)
        with Vertical(id="train-live"):
            yield Static("", id="train-live-head")
            yield ProgressBar(total=1, show_eta=False, id="train-progress")
            with Horizontal(id="train-live-body"):
                yield Sparkline([], id="train-loss")
                yield Static("", id="train-log")
        with VerticalScroll(id="train-detail"):
            yield Static("", id="train-detail-body")
        yield Static("", id="train-status")
        yield Footer()

    def on_mount(self) -> None:
        self._fit()
        self.query_one("#train-valid-spark").display = False
        self.query_one("#train-runs", DataTable).focus()
        self.set_interval(POLL_S, self._poll)
        if self.memapp.core is not None:
            self.refresh_data()
        else:
            self._line(self.memapp.opening_message())

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Small terminals get the short layout (CSS class) and the short column set; the table is
        rebuilt only when that changes."""
        short = self.size.height < 30 or self.size.width < 100
        self.set_class(short, "short")
        if short == self._short:
            return
        self._short = short
        table: DataTable[Any] = self.query_one("#train-runs", DataTable)
        table.clear(columns=True)
        for label, key, width in COLUMNS_SHORT if short else COLUMNS_WIDE:
            table.add_column(label, key=key, width=width)
        if self.loaded:
            self._fill_runs()
            self._show_top()

    def on_core_ready(self, _message: CoreReady) -> None:
        self.refresh_data()

    def on_core_failed(self, _message: CoreFailed) -> None:
        self._line(self.memapp.opening_message())

    def on_screen_resume(self) -> None:
        if self.memapp.core is not None:
            self.refresh_data()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``c`` is greyed out unless a run of this process is live (another process's run cannot be
        cancelled from here)."""
        if action == "cancel_run":
            return True if self._cancellable() else None
        return True

    def _cancellable(self) -> bool:
        return self.active is not None and bool(self.active.get("here", True))

    # ------------------------------------------------------------------ bus
    def on_core_event(self, message: CoreEvent) -> None:
        kind, payload = message.event.kind, message.event.payload
        if kind == "train.progress":
            self._progress(payload)
        elif kind == "train.finished":
            self._finished(payload)
        elif kind == "train.alert":
            # The alert's text wins over the finished event's: it carries the error of a failed run.
            self._toast(payload.get("run_id"), str(payload.get("message") or "training alert"), replace=True)
        elif kind == "job.finished":
            job_id = payload.get("job_id")
            if self._validate_job is not None and job_id == self._validate_job.id:
                self._validated(payload)
            elif self._train_job is not None and job_id == self._train_job.id:
                self._train_job = None
                if payload.get("state") == "failed":  # the app toasts it; the status line keeps it
                    self._say(Text(f"the training run did not start: {payload.get('error')}", "red"))
                self._soon()

    def _progress(self, payload: dict[str, Any]) -> None:
        """One step or phase of the live run: the bar, the loss curve and the log follow the events; the
        first event of a new run also reloads the table (its row is new)."""
        live = dict(self.active or {})
        first = not live or live.get("run_id") != payload.get("run_id")
        if first:
            live = {"run_id": payload.get("run_id"), "losses": [], "log": [], "here": True,
                    "started_at": self.memapp.clock()}
        for key in ("phase", "step", "total", "loss", "eta_s"):
            live[key] = payload.get(key)
        if payload.get("message"):
            stamp = datetime.fromtimestamp(self.memapp.clock()).strftime("%H:%M:%S")
            live["log"] = [*live.get("log", []), f"{stamp} {payload['message']}"][-50:]
        loss, step = payload.get("loss"), int(payload.get("step") or 0)
        if isinstance(loss, int | float) and step and len(live["losses"]) < step:
            live["losses"] = [*live["losses"], float(loss)]
        self.active = live
        self._show_live()
        self._update_live_row(live)
        if first:
            self._soon()

    def _update_live_row(self, live: dict[str, Any]) -> None:
        """Steps and loss of the running run's row follow the events too (its row is re-read only on a
        reload)."""
        table: DataTable[Any] = self.query_one("#train-runs", DataTable)
        key = str(live.get("run_id"))
        try:
            table.get_row_index(key)
        except RowDoesNotExist:
            return
        losses = live.get("losses") or []
        if any(k.value == "steps" for k in table.columns):
            table.update_cell(key, "steps", str(int(live.get("step") or 0)))
        table.update_cell(key, "loss", loss_span(losses[0] if losses else None, losses[-1] if losses else None))
        sel = self.selected
        if sel is not None and str(sel.get("id")) == key and sel.get("status") == "running":
            # the details of the running run follow too, or they would say "0 steps" until it ends
            log = live.get("log") or []
            merged = {**sel, "steps": int(live.get("step") or 0), "losses": list(losses),
                      "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
                      "log": log if len(log) > len(sel.get("log") or []) else sel.get("log")}
            self.query_one("#train-detail-body", Static).update(run_detail(merged, self._accent(), DETAIL_LOG))

    def _finished(self, payload: dict[str, Any]) -> None:
        run_id, status = payload.get("run_id"), str(payload.get("status"))
        reasons = "; ".join(str(r) for r in payload.get("reasons") or [])
        if self.active is not None and self.active.get("run_id") in (run_id, None):
            self.active = None
            self._show_live()
        if status in ("rolled_back", "failed"):
            if run_id is not None and run_id == self._own_rollback:
                self._own_rollback = None  # rolled back from here: ``_rolled_back`` says so
            else:
                self._toast(run_id, f"training run {run_id} {status.replace('_', ' ')}: {reasons}")
        elif status == "promoted":
            self.app.notify(f"training run {run_id} promoted: answers use its adapter now", title="Training")
        elif self.is_current:
            self.notify(escape(f"training run {run_id} {status}: {reasons}"), title="Training")
        self._soon()

    def _toast(self, run_id: Any, message: str, replace: bool = False) -> None:
        """A failure or rollback, said once per run whichever screen is open (app-level timer and
        notification: this screen may be in the background)."""
        if replace or run_id not in self._toasts:
            self._toasts[run_id] = message
        if self._toast_timer is None:
            self._toast_timer = self.app.set_timer(TOAST_S, self._flush_toasts)

    def _flush_toasts(self) -> None:
        self._toast_timer = None
        toasts, self._toasts = self._toasts, {}
        for message in toasts.values():
            self.app.notify(escape(message), title="Training alert", severity="warning", timeout=15)

    def _soon(self) -> None:
        """Reload once after a burst of events; a hidden screen reloads on the way back instead."""
        if self.is_current and self._refresh_timer is None:
            self._refresh_timer = self.set_timer(0.3, self._timed_refresh)

    def _timed_refresh(self) -> None:
        self._refresh_timer = None
        self.refresh_data()

    def _poll(self) -> None:
        if self.is_current and self.active is not None and not self.active.get("here", True):
            self.refresh_data()

    # ------------------------------------------------------------------ data
    def _line(self, text: str | Text) -> None:
        self.query_one("#train-status", Static).update(text)

    def _say(self, text: str | Text, hold: float | None = NOTE_S) -> None:
        """An action's message or an error on the status line. It stays ``hold`` seconds (``None``: until
        the next message) before the summary takes the line back; reloads, which follow every action and
        every screen switch, would otherwise wipe it at once."""
        self._line(text)
        if self._note_timer is not None:
            self._note_timer.stop()
        self._noted, self._note_timer = True, None
        if hold is not None:
            self._note_timer = self.set_timer(hold, self._unnote)

    def _unnote(self) -> None:
        self._noted, self._note_timer = False, None
        self._show_summary()

    def _show_summary(self) -> None:
        if self.loaded and not self._noted:
            self._line(self._summary())

    def _failed(self, exc: BaseException) -> None:
        """A core error (permission, nothing to roll back, a run already going) is a notification with
        what to do; anything else is a bug and gets the error modal. Neither ends the app."""
        if isinstance(exc, MemdeckError):
            hint = f"\n{exc.hint}" if exc.hint else ""
            self.notify(escape(exc.message) + escape(hint), severity="error", timeout=10)
            self._say(Text(exc.message, "red"))
        else:
            self.memapp.show_error(exc)

    def refresh_data(self) -> None:
        core = self.memapp.core
        if core is None:
            return

        def fetch() -> tuple[dict[str, Any], list[dict[str, Any]]]:
            return core.train_status(), core.train_runs(50)

        run_in_thread(self, fetch, self._show, self._failed, name="train-refresh", exclusive=True)

    def action_refresh(self) -> None:
        self.refresh_data()

    def _accent(self) -> str:
        theme = getattr(self.app, "current_theme", None)
        return str(getattr(theme, "accent", None) or "cyan")

    def _show(self, data: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
        self.status, self.runs = data
        self.loaded = True
        self.active = self.status.get("active")
        self.set_class(not self.runs, "no-runs")
        self._show_top()
        self._fill_runs()
        self._show_live()
        self._show_summary()

    def _summary(self) -> str:
        if not self.runs:
            return "n trains now · v validates · F1 help"
        counts: dict[str, int] = {}
        for r in self.runs:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        parts = [f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1])]
        line = f"{len(self.runs)} run(s): {', '.join(parts)}"
        for extra in (" · Enter: run in full", " · F1 help"):  # the hints only where they fit
            if len(line) + len(extra) <= self.size.width - 2:
                line += extra
        return line

    def _show_top(self) -> None:
        short = bool(self._short)
        self.query_one("#train-adapter", Static).update(adapter_panel(self.status, short))
        days = list(self.status.get("validation") or [])
        spark = self.query_one("#train-valid-spark", Sparkline)
        spark.data = [float(d["rate"]) for d in days] or [0.0]
        spark.display = len(days) > 1  # one day (or none) would draw as a single full bar
        self.query_one("#train-valid", Static).update(validation_text(days))

    def _fill_runs(self) -> None:
        """Refill the table, keeping the cursor on the same run (a new run is inserted at the top)."""
        table: DataTable[Any] = self.query_one("#train-runs", DataTable)
        keep = self.selected["id"] if self.selected else None
        table.clear()
        accent, short = self._accent(), bool(self._short)
        for r in self.runs:
            table.add_row(*run_cells(r, short, accent), key=str(r["id"]))
        if not self.runs:
            self.selected = None
            return
        ids = [r["id"] for r in self.runs]
        table.move_cursor(row=ids.index(keep) if keep in ids else 0)
        self._load_highlighted()

    def _show_live(self) -> None:
        live = self.active
        self.set_class(live is not None, "live")
        if self._cancel_offered != self._cancellable():
            self._cancel_offered = self._cancellable()
            self.refresh_bindings()  # c is offered only while a run of this app is live
        if live is not None:
            self._render_live(live)

    def _render_live(self, live: dict[str, Any]) -> None:
        total, step = int(live.get("total") or 0), int(live.get("step") or 0)
        self.query_one("#train-progress", ProgressBar).update(total=max(total, 1), progress=min(step, max(total, 1)))
        self.query_one("#train-live-head", Static).update(live_head(live))
        losses = [float(x) for x in (live.get("losses") or [])]
        spark = self.query_one("#train-loss", Sparkline)
        spark.data, spark.display = losses or [0.0], len(losses) > 1  # one step would be one full bar
        log_pane = self.query_one("#train-log", Static)
        lines = max(1, log_pane.size.height or 4)  # the newest lines that fit: phase changes are what matter
        log_pane.update(Text("\n".join((live.get("log") or [])[-lines:]), "dim"))

    # ------------------------------------------------------------------ selection
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value:
            self._load_run(int(event.row_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key is not None and event.row_key.value:
            self._load_run(int(event.row_key.value), then_open=True)

    def _load_highlighted(self) -> None:
        table: DataTable[Any] = self.query_one("#train-runs", DataTable)
        if self.runs and 0 <= table.cursor_row < len(self.runs):
            self._load_run(int(self.runs[table.cursor_row]["id"]))

    def _load_run(self, run_id: int, then_open: bool = False) -> None:
        core = self.memapp.core
        if core is None:
            return

        def shown(r: dict[str, Any]) -> None:
            self._show_run(r)
            if then_open:
                self._open_run(r)

        run_in_thread(self, lambda: core.train_run(run_id), shown, self._failed, name="train-run", exclusive=True)

    def _show_run(self, r: dict[str, Any]) -> None:
        self.selected = r
        self.query_one("#train-detail-body", Static).update(run_detail(r, self._accent(), DETAIL_LOG))

    def _open_run(self, r: dict[str, Any]) -> None:
        title = f"Run {r['id']} · {str(r['status']).replace('_', ' ')}"
        self.app.push_screen(RunDetailModal(title, run_detail(r, self._accent(), None)))

    def action_show_run(self) -> None:
        table: DataTable[Any] = self.query_one("#train-runs", DataTable)
        if self.runs and 0 <= table.cursor_row < len(self.runs):
            self._load_run(int(self.runs[table.cursor_row]["id"]), then_open=True)

    # ------------------------------------------------------------------ actions
    def action_train_now(self) -> None:
        core = self.memapp.core
        if core is None:
            return
        if self.active is not None:
            self.notify(f"training run {self.active.get('run_id')} is already in progress", severity="warning")
            return

        def started(job: Any) -> None:
            self._train_job = job
            self._say("training run started: progress shows below")
            self._soon()

        def answered(ok: bool | None) -> None:
            if ok:
                self._say("starting a training run…")
                run_in_thread(self, lambda: core.train_start(), started, self._failed, name="train-start")

        self.app.push_screen(ConfirmModal(
            "Train now?", "Build a buffer from what changed, train a LoRA adapter, and run the canary gate. It "
            "takes minutes and uses the CPU; answers pause it while they generate. The adapter in use changes "
            "only if the gate passes.", "Train"), answered)

    def _when_loaded(self, action: Callable[[], None]) -> bool:
        """False (and ``action`` again once the data is in) when the screen has not loaded yet: the
        command palette can run an action on a screen that was never opened."""
        core = self.memapp.core
        if self.loaded or core is None:
            return True

        def loaded(data: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
            self._show(data)
            action()

        run_in_thread(self, lambda: (core.train_status(), core.train_runs(50)), loaded, self._failed,
                      name="train-refresh", exclusive=True)
        return False

    def action_cancel_run(self) -> None:
        if not self._when_loaded(self.action_cancel_run):
            return
        core = self.memapp.core
        live = self.active
        if core is None or live is None or not self._cancellable():
            self.notify("no training run of this app is in progress" if live is None or core is None
                        else "that run belongs to another process: cancel it there", severity="information")
            return

        def cancelled(done: bool) -> None:
            self._say("cancelling at the next step…" if done else "no run in this process to cancel")

        def answered(ok: bool | None) -> None:
            if ok:
                run_in_thread(self, core.train_cancel, cancelled, self._failed, name="train-cancel")

        self.app.push_screen(ConfirmModal(
            f"Cancel run {live.get('run_id')}?",
            "The run stops at its next step and is marked cancelled; the adapter in use does not change.",
            "Cancel run"), answered)

    def action_rollback(self) -> None:
        core = self.memapp.core
        if core is None or not self._when_loaded(self.action_rollback):
            return
        if self.active is not None:
            self.notify("a training run is in progress: cancel it or wait before rolling back", severity="warning")
            return
        a = self.status.get("adapter")
        if a is None:
            self.notify("no adapter is in use, so there is nothing to roll back", severity="information")
            return
        if not a.get("run_id"):
            self.notify("the adapter in use was attached by hand, not by a training run: detach it with "
                        "`memdeck models adapter --detach`", severity="information")
            return
        rid = int(a["run_id"])
        run = next((r for r in self.runs if r["id"] == rid), None)
        if run is not None:
            self._confirm_rollback(a, run)
        else:  # older than the table's 50 rows: ask the core which adapter it replaced
            run_in_thread(self, lambda: core.train_run(rid), lambda r: self._confirm_rollback(a, r), self._failed,
                          name="train-run")

    def _confirm_rollback(self, adapter: dict[str, Any], run: dict[str, Any]) -> None:
        core = self.memapp.core
        title, body = rollback_plan(adapter, run, self.runs)
        rid = int(adapter["run_id"])

        def answered(ok: bool | None) -> None:
            if ok and core is not None:
                self._own_rollback = rid
                run_in_thread(self, lambda: core.train_rollback(rid), self._rolled_back, self._rollback_failed,
                              name="train-rollback")

        self.app.push_screen(ConfirmModal(title, escape(body), "Roll back"), answered)

    def _rollback_failed(self, exc: BaseException) -> None:
        self._own_rollback = None
        self._failed(exc)

    def _rolled_back(self, out: dict[str, Any]) -> None:
        restored = str(out.get("restored") or "") or "the base model (no adapter)"
        self.notify(escape(f"rolled back run {out.get('run')}: answers use {restored} now"), title="Training")
        self.refresh_data()

    def action_validate(self) -> None:
        core = self.memapp.core
        if core is None:
            return
        if self._validate_job is not None:
            self.notify("the morning validation is running already", severity="information")
            return
        self._say("morning validation: asking the challenge set without notes…", hold=None)
        # A core job, not a thread worker: it generates dozens of answers.
        self._validate_job = core.workers.start("morning validation", lambda job: core.train_validate())

    def _validated(self, payload: dict[str, Any]) -> None:
        job, self._validate_job = self._validate_job, None
        out = getattr(job, "result", None)
        if payload.get("state") == "ok" and isinstance(out, dict):
            said = (f"validation {out.get('day')}: {out.get('passed')}/{out.get('total')} "
                    f"({float(out.get('rate') or 0) * 100:.0f}%)")
            self.notify(said, title="Training")
            self._say(said)
            self.refresh_data()
        else:  # the app has toasted the error already; the status line keeps it
            self._say(Text(f"morning validation failed: {payload.get('error')}", "red"))
