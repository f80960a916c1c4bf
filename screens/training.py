"""Training (mode 8): the nightly LoRA runs, the one in progress, the adapter in use, and whether
nights of training made the model better.

Top: the adapter answers use now (which run made it, since when) and its history, the schedule line
and the morning-validation trend. Middle: the runs table (status, samples, steps, loss, canary, probe
and control NLL change). Bottom: the live view of a run in progress (phase, progress bar, loss
sparkline, ETA, log tail) or, when nothing runs, the selected run in full (settings, gate reasons,
errors, its losses and log). ``n`` trains now, ``c`` cancels, ``r`` rolls back (admin; asks first),
``v`` validates. Core work runs in core threads (``train_start``) or short thread workers; progress
arrives as ``train.progress`` bus events. Shapes: docs/design-training.md.
"""

from __future__ import annotations

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

from core.errors import MemdeckError
from tui.bridge import CoreEvent, CoreFailed, CoreReady, run_in_thread
from tui.modals import ConfirmModal
from tui.widgets import ModeBar

if TYPE_CHECKING:
    from tui.app import MemdeckApp

STATUS_STYLE = {"promoted": "green", "rolled_back": "red", "failed": "red", "cancelled": "dim", "empty": "dim",
                "running": "bold cyan"}
EMPTY = ("No training runs yet. Press n to train now, or turn on the nightly schedule: "
         "memdeck config set training.schedule nightly")


def when(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def pct(value: float | None) -> Text:
    """A relative change; for NLL lower is better, so a drop is green."""
    if value is None:
        return Text("-", "dim")
    return Text(f"{value * 100:+.1f}%", "green" if value < 0 else ("red" if value > 0.05 else "yellow"))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def num(value: Any, fmt: str = ".3f") -> str:
    return "-" if value is None else format(float(value), fmt)


class TrainingScreen(Screen[None]):
    HELP = (
        "[b]Training[/b]: memdeck teaches its local model what changed in memory with a LoRA adapter, and "
        "keeps the adapter only if it is not worse.\n\n"
        "Each run builds chat questions from new trusted items and helpful answers (one phrasing per item is "
        "held out as a probe), mixes in replay, trains, converts the adapter for llama.cpp and runs the gate: "
        "the canary suite must pass 100%, the probe NLL must drop, the control NLL may rise at most 5%. "
        "Pass: the adapter is promoted and used at once. Fail: the previous adapter stays, and the run is "
        "marked rolled back with the reasons.\n\n"
        "[b]n[/b] trains now (asks first). [b]c[/b] cancels the run in progress. [b]r[/b] rolls the adapter in "
        "use back to the one before it (admin; asks first). [b]v[/b] runs the morning validation: the challenge "
        "set asked without notes, recorded per day; the sparkline is its trend. Enter on a run shows it below. "
        "F5 or ctrl+r reloads."
    )
    BINDINGS = [
        Binding("n", "train_now", "Train now", id="train.now"),
        Binding("c", "cancel_run", "Cancel run", id="train.cancel"),
        Binding("r", "rollback", "Roll back", id="train.rollback"),
        Binding("v", "validate", "Validate", id="train.validate"),
        Binding("f5,ctrl+r", "refresh", "Refresh", id="train.refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, Any] = {}
        self.runs: list[dict[str, Any]] = []
        self.selected: dict[str, Any] | None = None
        self.active: dict[str, Any] | None = None
        self._refresh_timer: Timer | None = None
        self._busy = ""

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
        yield Static(EMPTY, id="train-empty")
        yield DataTable(id="train-runs", cursor_type="row", zebra_stripes=True)
        with Vertical(id="train-live"):
            yield Static("", id="train-live-head")
            yield ProgressBar(total=100, show_eta=False, id="train-progress")
            yield Sparkline([], id="train-loss")
            yield Static("", id="train-log")
        with VerticalScroll(id="train-detail"):
            yield Static("Select a run to see it in full.", id="train-detail-body")
        yield Static("", id="train-status")
        yield Footer()

    def on_resize(self) -> None:
        self.set_class(self.size.height < 30 or self.size.width < 100, "short")

    def on_mount(self) -> None:
        self.set_class(self.size.height < 30 or self.size.width < 100, "short")
        table: DataTable[Any] = self.query_one("#train-runs", DataTable)
        for label, key, width in (("run", "id", 4), ("status", "status", 11), ("trigger", "trigger", 8),
                                  ("started", "started", 16), ("took", "took", 7), ("samples", "samples", 8),
                                  ("steps", "steps", 5), ("loss", "loss", 13), ("canary", "canary", 6),
                                  ("probe", "probe", 7), ("control", "control", 7)):
            table.add_column(label, key=key, width=width)
        self.query_one("#train-live").display = False
        table.display = False
        table.focus()
        if self.memapp.core is not None:
            self.refresh_data()
        else:
            self._say(self.memapp.opening_message())

    def on_core_ready(self, _message: CoreReady) -> None:
        self.refresh_data()

    def on_core_failed(self, _message: CoreFailed) -> None:
        self._say(self.memapp.opening_message())

    def on_screen_resume(self) -> None:
        if self.memapp.core is not None:
            self.refresh_data()

    def on_core_event(self, message: CoreEvent) -> None:
        kind, payload = message.event.kind, message.event.payload
        if kind == "train.progress":
            self._progress(payload)
        elif kind == "train.finished":
            status = str(payload.get("status"))
            if status in ("rolled_back", "failed") and self.is_current:
                reasons = "; ".join(payload.get("reasons") or [])
                self.notify(f"run {payload.get('run_id')} {status.replace('_', ' ')}: {escape(reasons)}",
                            title="Training", severity="warning", timeout=12)
            self.active = None
            self._soon()
        elif kind == "train.alert" and not self.is_current:
            self.notify(escape(str(payload.get("message"))), title="Training alert", severity="warning", timeout=12)

    # ------------------------------------------------------------------ data
    def _say(self, text: str | Text) -> None:
        self.query_one("#train-status", Static).update(text)

    def _failed(self, exc: BaseException) -> None:
        self._busy = ""
        if isinstance(exc, MemdeckError):
            hint = f"\n{exc.hint}" if exc.hint else ""
            self.notify(escape(exc.message) + escape(hint), severity="error", timeout=10)
            self._say(Text(exc.message, "red"))
        else:
            self.memapp.show_error(exc)

    def _soon(self) -> None:
        if self.is_current and self._refresh_timer is None:
            self._refresh_timer = self.set_timer(0.3, self._timed_refresh)

    def _timed_refresh(self) -> None:
        self._refresh_timer = None
        self.refresh_data()

    def refresh_data(self) -> None:
        core = self.memapp.core
        if core is None:
            return

        def fetch() -> tuple[dict[str, Any], list[dict[str, Any]]]:
            return core.train_status(), core.train_runs(50)

        run_in_thread(self, fetch, self._show, self._failed, name="train-refresh", exclusive=True)

    def action_refresh(self) -> None:
        self.refresh_data()

    def _show(self, data: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
        self.status, self.runs = data
        self.active = self.status.get("active")
        self._show_adapter()
        self._show_validation()
        self._fill_runs()
        self._show_live()
        if not self._busy:
            self._say(self._summary())

    def _summary(self) -> str:
        s = self.status.get("schedule") or {}
        sched = f"nightly at {s.get('at')}, next {when(s.get('next_at'))}" if s.get("enabled") else "schedule off"
        return f"{len(self.runs)} run(s) · {sched} · n train now · F1 help"

    def _show_adapter(self) -> None:
        a = self.status.get("adapter")
        text = Text()
        text.append("Adapter in use: ", "bold")
        if a is None:
            text.append("none (the base model answers)\n", "dim")
        else:
            made = f"run {a['run_id']}" if a.get("run_id") else "attached by hand"
            text.append(f"{str(a['path']).rsplit('/', 1)[-1]}", "green" if a.get("exists", True) else "red")
            text.append(f"  ({made}, since {when(a.get('since'))})\n", "dim")
        history = self.status.get("adapters") or []
        for h in history[:4]:
            rolled = h.get("rolled_back_at")
            text.append(f"  run {h['run_id']}: promoted {when(h.get('promoted_at'))}")
            text.append(f", rolled back {when(rolled)}\n" if rolled else "\n", "red" if rolled else "")
        if not history:
            text.append("  no adapter has been promoted yet\n", "dim")
        s = self.status.get("schedule") or {}
        text.append("Schedule: ", "bold")
        text.append(f"nightly at {s.get('at')} · next {when(s.get('next_at'))}" if s.get("enabled")
                    else "off (memdeck config set training.schedule nightly)", "" if s.get("enabled") else "dim")
        self.query_one("#train-adapter", Static).update(text)

    def _show_validation(self) -> None:
        days = self.status.get("validation") or []
        spark = self.query_one("#train-valid-spark", Sparkline)
        spark.data = [float(d["rate"]) for d in days] or [0.0]
        text = Text("Morning validation", "bold")
        if days:
            last = days[-1]
            text.append(f"\n{last['day']}: {last['passed']}/{last['total']} ({last['rate'] * 100:.0f}%)")
            if len(days) > 1:
                change = (last["rate"] - days[-2]["rate"]) * 100
                text.append(f"  {change:+.0f} pts", "green" if change > 0 else ("red" if change < 0 else "dim"))
        else:
            text.append("\nnot run yet: press v", "dim")
        self.query_one("#train-valid", Static).update(text)

    def _fill_runs(self) -> None:
        table: DataTable[Any] = self.query_one("#train-runs", DataTable)
        keep = table.cursor_row
        table.clear()
        for r in self.runs:
            canary = "-" if not r.get("canary_total") else f"{r['canary_passed']}/{r['canary_total']}"
            table.add_row(str(r["id"]), Text(r["status"].replace("_", " "), STATUS_STYLE.get(r["status"], "")),
                          r["trigger"], when(r["started_at"]), duration(r.get("duration_s")),
                          f"{r['samples']}+{r['replay']}", str(r["steps"]),
                          f"{num(r.get('loss_first'), '.2f')}→{num(r.get('loss_last'), '.2f')}",
                          Text(canary, "green" if canary != "-" and r["canary_passed"] == r["canary_total"] else "red"
                               if canary != "-" else "dim"),
                          pct(r.get("probe_change")), pct(r.get("control_change")), key=str(r["id"]))
        table.display = bool(self.runs)
        self.query_one("#train-empty").display = not self.runs
        if self.runs:
            table.move_cursor(row=min(max(keep, 0), len(self.runs) - 1))

    def _show_live(self) -> None:
        live = self.active
        self.query_one("#train-live").display = live is not None
        self.query_one("#train-detail").display = live is None
        if live is None:
            self._load_selected()
            return
        self._render_live(live)

    def _render_live(self, live: dict[str, Any]) -> None:
        total, step = int(live.get("total") or 0), int(live.get("step") or 0)
        bar = self.query_one("#train-progress", ProgressBar)
        bar.update(total=max(total, 1), progress=step)
        eta = live.get("eta_s")
        loss = live.get("loss")
        head = Text(f"Run {live.get('run_id')} · {live.get('phase')}", "bold cyan")
        head.append(f" · step {step}/{total}" if total else "")
        head.append(f" · loss {loss:.3f}" if isinstance(loss, int | float) else "")
        head.append(f" · ETA {duration(eta)}" if isinstance(eta, int | float) else "")
        head.append("   c cancels" if live.get("here", True) else "   (running in another process)", "dim")
        self.query_one("#train-live-head", Static).update(head)
        self.query_one("#train-loss", Sparkline).data = [float(x) for x in (live.get("losses") or [])] or [0.0]
        self.query_one("#train-log", Static).update(Text("\n".join((live.get("log") or [])[-6:]), "dim"))

    def _progress(self, payload: dict[str, Any]) -> None:
        live = dict(self.active or {})
        first = not live or live.get("run_id") != payload.get("run_id")
        if first:
            live = {"run_id": payload.get("run_id"), "losses": [], "log": [], "here": True}
        for key in ("phase", "step", "total", "loss", "eta_s"):
            live[key] = payload.get(key)
        if payload.get("message"):
            live["log"] = [*live.get("log", []), str(payload["message"])][-50:]
        loss = payload.get("loss")
        if isinstance(loss, int | float) and payload.get("step") and len(live["losses"]) < int(payload["step"]):
            live["losses"] = [*live["losses"], float(loss)]
        self.active = live
        if self.is_current:
            self.query_one("#train-live").display = True
            self.query_one("#train-detail").display = False
            self._render_live(live)
        if first:
            self._soon()

    # ------------------------------------------------------------------ selection
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.active is None and event.row_key is not None and event.row_key.value:
            self._load_run(int(event.row_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key is not None and event.row_key.value:
            self.query_one("#train-live").display = False
            self.query_one("#train-detail").display = True
            self._load_run(int(event.row_key.value))

    def _load_selected(self) -> None:
        table: DataTable[Any] = self.query_one("#train-runs", DataTable)
        if self.runs and 0 <= table.cursor_row < len(self.runs):
            self._load_run(int(self.runs[table.cursor_row]["id"]))

    def _load_run(self, run_id: int) -> None:
        core = self.memapp.core
        if core is None:
            return
        run_in_thread(self, lambda: core.train_run(run_id), self._show_run, self._failed, name="train-run",
                      exclusive=True)

    def _show_run(self, r: dict[str, Any]) -> None:
        self.selected = r
        t = Text()
        t.append(f"Run {r['id']} ", "bold")
        t.append(r["status"].replace("_", " "), STATUS_STYLE.get(r["status"], ""))
        t.append(f" · {r['trigger']} · {when(r['started_at'])} · {duration(r.get('duration_s'))} · by {r['actor']}\n")
        t.append(f"samples {r['samples']} + replay {r['replay']} · probes {r['probes']} · steps {r['steps']} · "
                 f"loss {num(r.get('loss_first'))} → {num(r.get('loss_last'))}\n")
        if r.get("canary_total"):
            t.append(f"gate: canary {r['canary_passed']}/{r['canary_total']} · probe NLL {num(r['probe_before'])} → "
                     f"{num(r['probe_after'])} · control NLL {num(r['control_before'])} → {num(r['control_after'])}\n")
        for reason in r.get("reasons") or []:
            t.append(f"  • {reason}\n", "green" if r["status"] == "promoted" else "yellow")
        if r.get("error"):
            t.append(f"error: {r['error']}\n", "red")
        for f in ((r.get("gate") or {}).get("failures") or [])[:5]:
            t.append(f"  canary {f['id']}: {f['reason']}\n", "red")
        settings = r.get("settings") or {}
        if settings:
            t.append("settings: " + ", ".join(f"{k} {settings[k]}" for k in
                                              ("lr", "rank", "alpha", "epochs", "max_steps", "batch_size")
                                              if k in settings) + "\n", "dim")
        if r.get("adapter"):
            t.append(f"adapter: {r['adapter']}\n", "dim")
        losses = r.get("losses") or []
        if losses:
            t.append("losses: " + spark_text(losses) + "\n")
        for line in (r.get("log") or [])[-8:]:
            t.append(f"{line}\n", "dim")
        self.query_one("#train-detail-body", Static).update(t)

    # ------------------------------------------------------------------ actions
    def action_train_now(self) -> None:
        core = self.memapp.core
        if core is None:
            return
        if self.active is not None:
            self.notify("a training run is already in progress", severity="warning")
            return

        def answered(ok: bool | None) -> None:
            if ok:
                self._say("starting a training run…")
                run_in_thread(self, lambda: core.train_start(), lambda _job: self._soon(), self._failed,
                              name="train-start")

        self.app.push_screen(ConfirmModal(
            "Train now?", "Build a buffer from what changed, train a LoRA adapter, and run the canary gate. It "
            "takes minutes and uses the CPU; answers pause it while they generate. The adapter in use changes "
            "only if the gate passes.", "Train"), answered)

    def action_cancel_run(self) -> None:
        core = self.memapp.core
        if core is None or self.active is None:
            self.notify("no training run is in progress here", severity="information")
            return

        def answered(ok: bool | None) -> None:
            if ok:
                run_in_thread(self, core.train_cancel, lambda done: self._say(
                    "cancelling at the next step…" if done else "no run in this process to cancel"), self._failed,
                    name="train-cancel")

        self.app.push_screen(ConfirmModal(f"Cancel run {self.active.get('run_id')}?",
                                          "The run stops at its next step; the adapter in use does not change.",
                                          "Cancel run"), answered)

    def action_rollback(self) -> None:
        core = self.memapp.core
        if core is None:
            return
        a = self.status.get("adapter")
        if a is None or not a.get("run_id"):
            self.notify("no trained adapter is in use, so there is nothing to roll back", severity="information")
            return
        run = next((r for r in self.runs if r["id"] == a["run_id"]), None)
        previous = (run or {}).get("previous_adapter") or "the base model (no adapter)"

        def answered(ok: bool | None) -> None:
            if ok:
                run_in_thread(self, lambda: core.train_rollback(), self._rolled_back, self._failed,
                              name="train-rollback")

        self.app.push_screen(ConfirmModal(
            f"Roll back run {a['run_id']}?",
            f"Answers will use {previous} instead of {str(a['path']).rsplit('/', 1)[-1]}. What run {a['run_id']} "
            "learned from goes back into the buffer for the next run. Audited; needs the admin role.",
            "Roll back"), answered)

    def _rolled_back(self, out: dict[str, Any]) -> None:
        self.notify(f"rolled back run {out['run']}: now using {out['restored'] or 'the base model'}",
                    title="Training")
        self.refresh_data()

    def action_validate(self) -> None:
        core = self.memapp.core
        if core is None or self._busy:
            return
        self._busy = "validating"
        self._say("morning validation: asking the challenge set without notes…")

        def done(out: dict[str, Any]) -> None:
            self._busy = ""
            self.notify(f"validation {out['day']}: {out['passed']}/{out['total']} ({out['rate'] * 100:.0f}%)",
                        title="Training")
            self.refresh_data()

        run_in_thread(self, core.train_validate, done, self._failed, name="train-validate")


def spark_text(values: list[float], width: int = 40) -> str:
    """A one-line sparkline for the detail pane (the widget does the live view)."""
    bars = "▁▂▃▄▅▆▇█"
    if len(values) > width:
        step = len(values) / width
        values = [values[int(i * step)] for i in range(width)]
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    return "".join(bars[int((v - lo) / span * (len(bars) - 1))] for v in values) + f"  {values[0]:.2f}→{values[-1]:.2f}"

