"""Memory Health: is the memory consistent, fresh and healthy? Counts, drift, heartbeat, models, system.

The screen refreshes on a timer that re-arms only after each refresh finishes (a slow refresh never
piles up), and at once when core reports something (heartbeat done, drift found, memory changed).
All core calls run in threads; this module only renders what comes back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Label, ProgressBar, Sparkline, Static

from tui.bridge import CoreEvent, CoreFailed, CoreReady, run_in_thread
from tui.formatting import human_age, human_bytes, iso_utc
from tui.modals import ConfirmModal
from tui.widgets import ModeBar

if TYPE_CHECKING:
    from tui.app import MemdeckApp

REFRESH_SECONDS = 5.0


def _card(title: str, body_id: str) -> Vertical:
    return Vertical(Label(title, classes="card-title"), Static("…", id=body_id, classes="card-body"),
                    classes="card", id=f"card-{body_id}")


class HealthScreen(Screen[None]):
    """Cards for items, vectors and drift, heartbeat, embedder, index, database, LLM runtime, system."""

    HELP = (
        "[b]Memory Health[/b] shows whether SQLite (the truth) and the vector index agree, when the last "
        "heartbeat ran and what it found, which models are loaded, and how the machine is doing.\n\n"
        "[i]Drift[/i]: [b]missing[/b] = in SQLite but not in the index; [b]orphaned[/b] = in the index but not "
        "active in SQLite; [b]stale[/b] = the index holds a vector for other text or another model. "
        "A red banner appears whenever any of them is non-zero.\n\n"
        "Check runs the drift audit now; repair fixes exactly what the check found (you see the plan "
        "first); rebuild recreates the index from SQLite without re-embedding (cancellable). Each is "
        "recorded in the audit trail, as from the CLI ([b]memdeck sync check|repair[/b], [b]memdeck index rebuild[/b])."
    )
    BINDINGS = [
        Binding("c", "check", "Check now", id="health.check"),
        Binding("r", "repair", "Repair", id="health.repair"),
        Binding("b", "rebuild", "Rebuild index", id="health.rebuild"),
        Binding("x", "cancel_job", "Cancel job", id="health.cancel", show=False),
        Binding("g", "refresh_now", "Refresh", id="health.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._refreshing = False
        self._pending = False
        self._timer: Timer | None = None
        self._job: Any = None
        self._last: dict[str, Any] | None = None

    @property
    def memapp(self) -> MemdeckApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ModeBar("health")
        yield Static("", id="drift-banner")
        with VerticalScroll(id="health-body"), Grid(id="health-grid"):
            yield _card("Items", "items")
            yield _card("Vectors & drift", "drift")
            yield _card("Heartbeat", "heartbeat")
            yield _card("Embedding model", "embedding")
            yield _card("Vector index", "index")
            yield _card("Database", "database")
            yield _card("LLM runtime", "llm")
            yield _card("System", "system")
        with Horizontal(id="sparklines"):
            with Vertical(classes="spark"):
                yield Label("heartbeat duration", classes="spark-label", id="spark-duration-label")
                yield Sparkline([], id="spark-duration")
            with Vertical(classes="spark"):
                yield Label("drift found per beat", classes="spark-label", id="spark-drift-label")
                yield Sparkline([], id="spark-drift")
        with Horizontal(id="job-row"):
            yield Label("", id="job-label")
            yield ProgressBar(total=100, show_eta=True, id="job-progress")
        yield Static("", id="health-status")
        yield Footer()

    def on_resize(self) -> None:
        self.set_class(self.size.width < 110, "-narrow")

    def on_mount(self) -> None:
        self.set_class(self.size.width < 110, "-narrow")
        self.query_one("#job-row").display = False
        self.query_one("#drift-banner").display = False
        if self.memapp.core is None:
            self.query_one("#health-status", Static).update(self.memapp.opening_message())
        else:
            self.refresh_stats()

    def on_core_ready(self, _message: CoreReady) -> None:
        self.refresh_stats()

    def on_core_failed(self, _message: CoreFailed) -> None:
        self.query_one("#health-status", Static).update(self.memapp.opening_message())

    def on_screen_resume(self) -> None:
        if self.memapp.core is not None:
            self.refresh_stats()

    # ------------------------------------------------------------------ refresh loop
    def refresh_stats(self) -> None:
        """Gather stats in a thread; the next timed refresh is armed only when this one has finished."""
        core = self.memapp.core
        if core is None:
            return
        if self._refreshing:
            self._pending = True
            return
        self._refreshing = True
        if self._timer is not None:
            self._timer.stop()
        system = self.memapp.system_stats

        def gather() -> dict[str, Any]:
            return {"stats": core.stats(), "beats": core.heartbeats(40), "system": system(core),
                    "llm": self.memapp.llm_status()}

        run_in_thread(self, gather, self._show, self._refresh_failed, name="health-refresh")

    def _rearm(self) -> None:
        self._refreshing = False
        if self._pending:
            self._pending = False
            self.refresh_stats()
            return
        self._timer = self.set_timer(REFRESH_SECONDS, self.refresh_stats)

    def _refresh_failed(self, exc: BaseException) -> None:
        self.query_one("#health-status", Static).update(f"[b red]refresh failed:[/] {exc}")
        self._rearm()

    def _show(self, data: dict[str, Any]) -> None:
        self._last = data
        s, beats, sysinfo = data["stats"], data["beats"], data["system"]
        now = self.memapp.clock()
        drift = s["drift"] or {"missing": 0, "orphaned": 0, "stale": 0}
        total_drift = sum(drift.values())
        banner = self.query_one("#drift-banner", Static)
        banner.display = total_drift > 0
        banner.update(f" OUT OF SYNC: {drift['missing']} missing, {drift['orphaned']} orphaned, "
                      f"{drift['stale']} stale. Press r to repair. ")
        def row(name: str, a: int, q: int, d: int) -> str:
            return f"{name[:9]:<9}{a:>5}{q:>5}{d:>5}"

        rows = [row(c["collection"], c["active"], c["quarantined"], c["deleted"]) for c in s["collections"]]
        items = s["items"]
        self._set("items", "\n".join([f"[dim]{'name':<9}{'act':>5}{'quar':>5}{'del':>5}[/]", *rows[:6]]
                                     + ([f"… {len(rows) - 6} more"] if len(rows) > 6 else [])
                                     + [row("total", items["active"], items["quarantined"], items["deleted"])]))
        drift_line = "[green]in sync[/]" if total_drift == 0 else "[b red]OUT OF SYNC[/]"
        self._set("drift", f"vectors   {s['vectors']:,}\nactive    {items['active']:,}\n"
                           f"missing   {drift['missing']}\norphaned  {drift['orphaned']}\n"
                           f"stale     {drift['stale']}\n{drift_line}")
        hb = s["last_heartbeat"]
        if hb is None:
            self._set("heartbeat", "no heartbeat yet\n(press c to check now)")
        else:
            found = hb["missing"] + hb["orphaned"] + hb["stale"]
            self._set("heartbeat", f"last      {human_age(now - hb['started_at'])}\n"
                                   f"trigger   {hb['trigger']}\nduration  {hb['duration_ms']:.1f} ms\n"
                                   f"found     {found}\nrepaired  {hb['repaired']}"
                                   + (f"\n[red]error: {hb['error']}[/]" if hb["error"] else ""))
        emb = s["embedding"]
        if "error" in emb:
            self._set("embedding", f"[red]unavailable[/]\n{emb['error']}")
        else:
            backends = ", ".join(f"{k}: {v}" for k, v in emb.get("backends", {}).items()) or "-"
            self._set("embedding", f"{emb['model']}\nfp   {emb['fingerprint'].split(':')[-1]}\n"
                                   f"dim  {emb['dim']}\n{backends}")
        idx = s["index"]
        self._set("index", f"cosine, dim {idx['dim']}\nM {idx['M']}  efC {idx['ef_construction']}  "
                           f"ef {idx['ef_search']}\nfile {human_bytes(idx['file_bytes'])}\n"
                           f"watermark {idx['watermark']}/{idx['latest_seq']}\n"
                           f"tombstones {idx['tombstones']}  unsaved {idx['unsaved_changes']}")
        db = s["database"]
        self._set("database", f"{human_bytes(db['bytes'])}\nschema v{db['schema_version']}\n{db['path']}")
        self._set("llm", data["llm"])
        self._set("system", f"CPU   {sysinfo['cpu_percent']:.0f}%\nRSS   {human_bytes(sysinfo['rss'])}\n"
                            f"disk  {human_bytes(sysinfo['disk_free'])} free\nload  {sysinfo['load']}")
        ordered = list(reversed(beats))
        durations = [b["duration_ms"] for b in ordered]
        drifts = [b["missing"] + b["orphaned"] + b["stale"] for b in ordered]
        self.query_one("#spark-duration", Sparkline).data = durations
        self.query_one("#spark-drift", Sparkline).data = drifts
        self.query_one("#spark-duration-label", Label).update(
            f"heartbeat duration: last {durations[-1]:.1f} ms, max {max(durations):.1f} ms ({len(durations)} beats)"
            if durations else "heartbeat duration: no beats yet")
        self.query_one("#spark-drift-label", Label).update(
            f"drift found per beat: last {drifts[-1]}, max {max(drifts)}" if drifts else "drift per beat: no beats yet")
        self.query_one("#health-status", Static).update(
            f"{s['data_dir']}  ·  refreshed {iso_utc(now)} UTC  ·  c check  r repair  b rebuild  F1 help")
        self._rearm()

    def _set(self, card: str, text: str) -> None:
        self.query_one(f"#{card}", Static).update(text)

    def on_core_event(self, message: CoreEvent) -> None:
        kind = message.event.kind
        payload = message.event.payload
        if kind == "job.progress" and self._job is not None and payload.get("job_id") == self._job.id:
            bar = self.query_one("#job-progress", ProgressBar)
            bar.update(total=max(1, payload["total"]), progress=payload["done"])
        elif kind == "job.finished" and self._job is not None and payload.get("job_id") == self._job.id:
            self._job_finished(payload)
        elif kind in {"heartbeat.done", "drift.found", "sync.repaired", "index.rebuilt", "memory.changed",
                      "job.finished"}:
            self.refresh_stats()

    # ------------------------------------------------------------------ actions
    def action_refresh_now(self) -> None:
        self.refresh_stats()

    def action_check(self) -> None:
        core = self.memapp.core
        if core is None:
            return
        self.notify("running drift check…", timeout=2)
        run_in_thread(self, lambda: core.heartbeat_once("tui"), self._checked, name="health-check")

    def _checked(self, beat: dict[str, Any]) -> None:
        found = beat["missing"] + beat["orphaned"] + beat["stale"]
        if beat["error"]:
            self.memapp.show_error(RuntimeError(beat["error"]))
        elif found:
            self.notify(f"check found {found} drifted id(s); repaired {beat['repaired']}",
                        severity="warning")
        else:
            self.notify(f"in sync ({beat['duration_ms']:.1f} ms)")
        self.refresh_stats()

    def action_repair(self) -> None:
        core = self.memapp.core
        if core is None:
            return
        run_in_thread(self, lambda: core.sync_repair(dry_run=True), self._confirm_repair, name="repair-plan")

    def _confirm_repair(self, plan: dict[str, Any]) -> None:
        found = plan["found"]
        if not any(found.values()):
            self.notify("nothing to repair: SQLite and the index agree")
            return
        ids = plan["ids"]

        def preview(kind: str) -> str:
            shown = ", ".join(map(str, ids[kind][:12]))
            more = f" … (+{len(ids[kind]) - 12})" if len(ids[kind]) > 12 else ""
            return f"{shown}{more}" if ids[kind] else "none"

        body = (f"Repair will change the vector index (SQLite is not modified except for re-embedded "
                f"vectors):\n\n• add {found['missing']} missing item(s): {preview('missing')}\n"
                f"• remove {found['orphaned']} orphaned vector(s): {preview('orphaned')}\n"
                f"• replace {found['stale']} stale vector(s): {preview('stale')}\n\n"
                "The repair is recorded in the audit trail.")

        def done(ok: bool | None) -> None:
            if ok:
                self._run_repair()

        self.app.push_screen(ConfirmModal("Repair drift?", body, "Repair"), done)

    def _run_repair(self) -> None:
        core = self.memapp.core
        assert core is not None
        def done(r: dict[str, Any]) -> None:
            self.notify(f"repaired: removed {r['fixed']['removed']}, indexed {r['fixed']['added']}; "
                        f"now {r['after']}")
            self.refresh_stats()

        run_in_thread(self, core.sync_repair, done, name="repair")

    def action_rebuild(self) -> None:
        core = self.memapp.core
        if core is None:
            return
        if self._job is not None:
            self.notify("a rebuild is already running (x cancels it)", severity="warning")
            return
        body = (f"Rebuild the vector index from SQLite?\n\nAll {core.index.live_count:,} vectors are "
                "re-added from stored embeddings (no re-embedding). Searches keep using the current "
                "index until the new one is swapped in. You can cancel with x.")

        def done(ok: bool | None) -> None:
            if ok:
                self._start_rebuild()

        self.app.push_screen(ConfirmModal("Rebuild index?", body, "Rebuild"), done)

    def _start_rebuild(self) -> None:
        core = self.memapp.core
        assert core is not None
        self.query_one("#job-row").display = True
        self.query_one("#job-label", Label).update("rebuilding index (x cancels) ")
        self.query_one("#job-progress", ProgressBar).update(total=100, progress=0)
        start: Callable[..., Any] = core.workers.start
        self._job = start("rebuild-index", core.rebuild_index)

    def action_cancel_job(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.notify("cancelling…")

    def _job_finished(self, payload: dict[str, Any]) -> None:
        self._job = None
        self.query_one("#job-row").display = False
        state = payload.get("state")
        if state == "ok":
            self.notify("index rebuilt")
        elif state == "cancelled":
            self.notify("rebuild cancelled; the previous index is still in use", severity="warning")
        else:
            self.memapp.show_error(RuntimeError(f"index rebuild failed: {payload.get('error')}"))
        self.refresh_stats()


def default_system_stats(core: Any) -> dict[str, Any]:
    """psutil figures for the System card (tests inject fixed ones)."""
    import os

    import psutil

    proc = psutil.Process()
    disk = psutil.disk_usage(str(core.layout.root))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"cpu_percent": psutil.cpu_percent(interval=None), "rss": proc.memory_info().rss,
            "disk_free": disk.free, "load": load, "at": time.time()}
