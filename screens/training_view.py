"""Pure rendering for the Training screen: run rows and details, the adapter panel, the schedule line,
the validation trend, the live run's head line and the rollback plan.

Kept apart from ``screens/training.py`` (like ``trust_view``) so the drawing is testable without an app
and the screen stays about wiring. Everything returns Rich ``Text`` or plain strings, never markup:
reasons, errors and log lines are free text and may hold brackets. Times are local (the schedule is
local time too). Shapes: docs/design-training.md, "Facade" and "Events on the bus".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.text import Text

SPARK = "▁▂▃▄▅▆▇█"
SCHEDULE_ON = "memdeck config set training.schedule nightly"
EMPTY = ("No training runs yet. Press n to train now, or enable the nightly schedule: " + SCHEDULE_ON)
EMPTY_MORE = (
    "A run turns what changed in memory (new trusted items, helpful answers) into chat samples, trains a "
    "small LoRA adapter on them, and keeps it only if the canary gate passes: every canary case still "
    "answered right, the held-out probe questions easier than before, general chat (control) at most 5% "
    "worse. Otherwise the adapter in use stays and the run shows here as rolled back, with the reasons.")
CONTROL_MAX_RISE = 0.05  # the gate's default (training.control_max_rise): above it the control change is red

# Styles by run status; "running" takes the theme's accent colour at draw time (see ``status_text``).
STATUS_STYLE = {"promoted": "green", "rolled_back": "red", "failed": "red", "cancelled": "dim", "empty": "dim"}

# (label, key, width) of the runs table: all columns from 100 columns up, the essentials below that
# (trigger, duration and steps are in the detail pane). Widths fit 120 and 80 columns with the
# table's cell padding and its scrollbar.
COLUMNS_WIDE: tuple[tuple[str, str, int], ...] = (
    ("run", "id", 4), ("status", "status", 11), ("trigger", "trigger", 8), ("started", "started", 16),
    ("took", "took", 6), ("samples", "samples", 8), ("steps", "steps", 5), ("loss", "loss", 11),
    ("canary", "canary", 6), ("probe", "probe", 7), ("control", "control", 7))
COLUMNS_SHORT: tuple[tuple[str, str, int], ...] = (
    ("run", "id", 3), ("status", "status", 11), ("started", "started", 11), ("samples", "samples", 7),
    ("loss", "loss", 9), ("canary", "canary", 6), ("probe", "probe", 6), ("control", "control", 7))


def when(ts: float | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A Unix time as local time, ``-`` when unknown."""
    if not ts:
        return "-"
    return datetime.fromtimestamp(float(ts)).strftime(fmt)


def short_when(ts: float | None) -> str:
    """Month-day and time: what fits an 80-column table; the year is in the detail pane."""
    return when(ts, "%m-%d %H:%M")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def num(value: Any, fmt: str = ".3f") -> str:
    return "-" if value is None else format(float(value), fmt)


def _pct(value: float) -> str:
    """+12.3% below 100 %, then whole percents, so a wrecked control set (+200%) fits six columns."""
    return f"{value * 100:+.1f}%" if abs(value) < 1 else f"{value * 100:+.0f}%"


def probe_change(value: float | None) -> Text:
    """Probe NLL change: the gate wants a drop (held-out questions about the new memory got easier)."""
    if value is None:
        return Text("-", "dim")
    return Text(_pct(value), "green" if value < 0 else "red")


def control_change(value: float | None, limit: float = CONTROL_MAX_RISE) -> Text:
    """Control NLL change: general chat may get at most ``limit`` worse; a small rise is only a warning."""
    if value is None:
        return Text("-", "dim")
    return Text(_pct(value), "red" if value > limit else ("yellow" if value > 0 else "green"))


def status_text(status: str, accent: str = "cyan") -> Text:
    style = STATUS_STYLE.get(status, f"bold {accent}" if status == "running" else "")
    return Text(status.replace("_", " "), style)


def canary_text(passed: Any, total: Any) -> Text:
    if not total:
        return Text("-", "dim")
    return Text(f"{passed}/{total}", "green" if passed == total else "red")


def loss_span(first: Any, last: Any) -> str:
    return "-" if first is None and last is None else f"{num(first, '.2f')}→{num(last, '.2f')}"


def run_cells(r: dict[str, Any], short: bool, accent: str = "cyan") -> list[str | Text]:
    """One row of the runs table, in the order of ``COLUMNS_SHORT`` or ``COLUMNS_WIDE``."""
    samples = f"{r.get('samples') or 0}+{r.get('replay') or 0}"
    status = status_text(str(r["status"]), accent)
    loss = loss_span(r.get("loss_first"), r.get("loss_last"))
    canary = canary_text(r.get("canary_passed"), r.get("canary_total"))
    probe, control = probe_change(r.get("probe_change")), control_change(r.get("control_change"))
    if short:
        return [str(r["id"]), status, short_when(r.get("started_at")), samples, loss, canary, probe, control]
    return [str(r["id"]), status, str(r.get("trigger") or "-"), when(r.get("started_at")),
            duration(r.get("duration_s")), samples, str(r.get("steps") or 0), loss, canary, probe, control]


def spark_text(values: Sequence[float], width: int = 40) -> str:
    """A one-line sparkline with the first and last value (the detail pane; the live view has the widget).
    Longer series are sampled down to ``width`` points."""
    vals = [float(v) for v in values]
    if not vals:
        return ""
    if len(vals) > width:
        step = len(vals) / width
        vals = [vals[int(i * step)] for i in range(width - 1)] + [vals[-1]]
    lo, hi = min(vals), max(vals)
    span = hi - lo or 1.0
    bars = "".join(SPARK[round((v - lo) / span * (len(SPARK) - 1))] for v in vals)
    return f"{bars}  {vals[0]:.2f}→{vals[-1]:.2f}"


def _name(path: Any) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1] if path else "-"


def run_detail(r: dict[str, Any], accent: str = "cyan", log_lines: int | None = 8) -> Text:
    """One run in full (``train_run``): what it learned from, the gate with its reasons, the error, the
    settings, the files, the loss curve and the tail of its log (``log_lines=None``: the whole log)."""
    t = Text()
    t.append(f"Run {r['id']} ", "bold")
    t.append_text(status_text(str(r["status"]), accent))
    took = f" · took {duration(r['duration_s'])}" if r.get("duration_s") is not None else ""
    t.append(f" · {r.get('trigger') or '-'} · started {when(r.get('started_at'))}{took} · by {r.get('actor') or '-'}\n")
    t.append("data  ", "bold")
    grounded = f" + {r['grounded']} grounded" if r.get("grounded") else ""
    t.append(f"{r.get('samples') or 0} samples{grounded} + {r.get('replay') or 0} replay · "
             f"{r.get('probes') or 0} probes held out · {r.get('steps') or 0} steps · "
             f"loss {num(r.get('loss_first'))} → {num(r.get('loss_last'))}\n")
    if r.get("canary_total") or r.get("probe_before") is not None:
        t.append("gate  ", "bold")
        t.append("canary ")
        t.append_text(canary_text(r.get("canary_passed"), r.get("canary_total")))
        t.append(f" · probe NLL {num(r.get('probe_before'))} → {num(r.get('probe_after'))} (")
        t.append_text(probe_change(r.get("probe_change")))
        t.append(f") · control NLL {num(r.get('control_before'))} → {num(r.get('control_after'))} (")
        t.append_text(control_change(r.get("control_change")))
        t.append(")\n")
    good = r["status"] == "promoted"
    for reason in r.get("reasons") or []:
        t.append(f"  • {reason}\n", "green" if good else "yellow")
    if r.get("error"):
        t.append("error ", "bold red")
        t.append(f"{r['error']}\n", "red")
    for f in ((r.get("gate") or {}).get("failures") or [])[:5]:
        t.append(f"  canary {f.get('id')}: {f.get('reason')}\n", "red")
    settings = r.get("settings") or {}
    shown = [f"{k} {settings[k]}" for k in ("lr", "rank", "alpha", "epochs", "max_steps", "max_minutes",
                                            "batch_size") if k in settings]
    if shown:
        t.append("settings  ", "bold")
        t.append(", ".join(shown) + "\n", "dim")
    if r.get("adapter") or r.get("previous_adapter"):
        t.append("adapter  ", "bold")
        t.append(f"{r.get('adapter') or '-'} (before it: {r.get('previous_adapter') or 'none, the base model'})\n",
                 "dim")
    if r.get("buffer_path"):
        t.append("buffer  ", "bold")
        t.append(f"{r['buffer_path']}\n", "dim")
    losses = r.get("losses") or []
    if losses:
        t.append("losses  ", "bold")
        t.append(spark_text(losses) + f"  ({len(losses)} steps)\n")
    log = list(r.get("log") or [])
    if log:
        tail = log if log_lines is None else log[-log_lines:]
        t.append(f"log ({len(tail)} of {len(log)} lines)\n" if len(tail) < len(log) else "log\n", "bold")
        for line in tail:
            t.append(f"{line}\n", "dim")
    t.rstrip()
    return t


def schedule_text(s: dict[str, Any] | None, short: bool = False) -> Text:
    """Whether the nightly run is on, when, and when the next one is; off says how to turn it on."""
    s = s or {}
    if not s.get("enabled"):
        return Text.assemble(("off", "yellow"), (f" · turn on: {SCHEDULE_ON}", "dim"))
    return Text(f"nightly at {s.get('at') or '?'} · next {(short_when if short else when)(s.get('next_at'))}")


def adapter_panel(status: dict[str, Any], short: bool = False) -> Text:
    """The adapter answers use now (file, the run that made it, since when), the schedule, and the
    adapter history newest first: every promoted adapter and whether it was rolled back. ``short``
    (80 columns): the file name instead of the path, on one line with its run, and dates without year;
    history lines that do not fit are cut (the newest come first)."""
    t = Text()
    width = 9 if short else 10
    fmt = short_when if short else when

    def label(name: str) -> None:
        t.append(name.ljust(width), "bold")

    a = status.get("adapter")
    label("Adapter")
    if a is None:
        t.append("none: the base model answers\n", "dim")
    else:
        t.append(_name(a["path"]) if short else str(a["path"]), "green" if a.get("exists", True) else "bold red")
        if not a.get("exists", True):
            t.append(" (file missing!)", "bold red")
        if short:
            t.append(" · ", "dim")
        else:
            t.append("\n")
            label("")
        made = (f"{'' if short else 'made by '}run {a['run_id']}" if a.get("run_id")
                else "attached by hand, not by a training run")
        since = f" · {'' if short else 'in use '}since {fmt(a.get('since'))}" if a.get("since") else ""
        t.append(made + since + "\n", "dim")
    label("Schedule")
    t.append_text(schedule_text(status.get("schedule"), short))
    t.append("\n")
    history = list(status.get("adapters") or [])
    label("History")
    if not history:
        t.append("no adapter has been promoted yet", "dim")
    in_use = (a or {}).get("path")
    for i, h in enumerate(history):
        if i:
            t.append("\n")
            label("")
        t.append(f"run {h['run_id']} ", "bold")
        t.append(f"promoted {fmt(h.get('promoted_at'))}")
        if h.get("rolled_back_at"):
            t.append(f" · rolled back {fmt(h['rolled_back_at'])}", "red")
        elif h.get("path") == in_use:
            t.append(" · in use", "green")
    return t


def validation_text(days: Sequence[dict[str, Any]]) -> Text:
    """The latest morning validation (share of challenge questions answered without notes) and its change
    from the day before, in percentage points; the sparkline under it is the per-day trend."""
    t = Text.assemble(("Morning validation", "bold"))
    if not days:
        t.append("\nnot run yet: press v", "dim")
        return t
    t.append(f" · {len(days)} day{'s' if len(days) != 1 else ''}", "dim")
    last = days[-1]
    t.append(f"\n{float(last['rate']) * 100:.0f}%", "bold")
    t.append(f" ({last['passed']}/{last['total']}) on {str(last['day'])[5:]}")
    if len(days) > 1:
        change = (float(last["rate"]) - float(days[-2]["rate"])) * 100
        t.append(f" {change:+.0f} pts", "green" if change > 0 else ("red" if change < 0 else "dim"))
    return t


def live_head(live: dict[str, Any]) -> Text:
    """The run in progress in one line: run, phase, step, loss, ETA, when it started, and who can cancel."""
    total, step = int(live.get("total") or 0), int(live.get("step") or 0)
    head = Text.assemble((f"Run {live.get('run_id')} · {live.get('phase') or 'starting'}", "bold"))
    if total:
        head.append(f" · step {step}/{total}")
    loss = live.get("loss")
    if isinstance(loss, int | float):
        head.append(f" · loss {loss:.3f}")
    eta = live.get("eta_s")
    if isinstance(eta, int | float):
        head.append(f" · ETA {duration(eta)}")
    if live.get("started_at"):
        head.append(f" · started {when(live['started_at'], '%H:%M')}", "dim")
    if live.get("here", True):
        head.append("   c cancels", "dim")
    else:
        head.append("   running in another process: cancel it there", "yellow")
    return head


def rollback_plan(adapter: dict[str, Any], run: dict[str, Any] | None,
                  runs: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """Title and body of the rollback confirmation: which adapter goes, which comes back (and which run
    made it), and what else happens. ``run`` is the run that made the adapter in use, if known."""
    rid = adapter.get("run_id")
    previous = (run or {}).get("previous_adapter")
    if previous:
        maker = next((r["id"] for r in runs if r.get("adapter") == previous), None)
        restored = f"{previous}" + (f" (made by run {maker})" if maker else "")
    elif run is not None:
        restored = "no adapter: the base model answers alone"
    else:
        restored = f"the adapter that was in use before run {rid}"
    body = (f"Set aside: {adapter.get('path')} (run {rid}, in use since {when(adapter.get('since'))}).\n"
            f"Restored: {restored}.\n\n"
            f"What run {rid} learned from goes back into the buffer for the next run. The switch is audited "
            "and needs the admin role; a loaded model changes adapter at once.")
    return f"Roll back run {rid}?", body
