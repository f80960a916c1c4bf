"""Backup and restore from the keyboard, built so the safe thing is the easy thing.

The list shows every backup with its size, counts and whether it verified. ``n`` makes a backup (with a
progress bar, while the console keeps working), ``v`` verifies the selected one, ``d`` previews what a
restore would change, ``r`` restores after you type the backup id (a safety backup of the current state
is taken first), and ``p`` previews the retention prune. The schedule line says when the last scheduled
backup ran and when the next one will.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, ProgressBar, Static

from core.events import EventBus
from core.workers import Job
from screens.backup_dialogs import CreateBackupModal, DiffModal, PruneModal, RestoreConfirmModal
from tui.bridge import CoreEvent, CoreFailed, CoreReady, run_in_thread
from tui.formatting import human_bytes, iso_utc
from tui.widgets import ModeBar

if TYPE_CHECKING:
    from tui.app import MemdeckApp


def verified_text(b: dict[str, Any]) -> str:
    if b["verified_ok"] is None:
        return "not yet" if not b.get("verify_problem") else "no record"
    return "ok" if b["verified_ok"] else "FAILED"


def backup_detail(b: dict[str, Any]) -> str:
    counts = b.get("counts") or {}
    per = counts.get("by_collection") or {}
    also = " (redacted)" if b["redacted"] and b["kind"] != "redacted" else ""
    lines = [f"[b]{escape(b['id'])}[/b]", f"kind      {b['kind']}{also}",
             f"created   {iso_utc(b['created_at'])} UTC by {escape(b.get('created_by') or '-')}",
             f"trigger   {b.get('trigger', '-')}", f"size      {human_bytes(b['bytes'])}",
             f"items     {counts.get('items', '-')}  versions {counts.get('versions', '-')}",
             f"vectors   {counts.get('embeddings', '-')}  audit events {counts.get('audit_events', '-')}",
             f"audit head #{(b.get('audit_head') or {}).get('seq', '-')}",
             f"verified  {verified_text(b)}" + (f" {iso_utc(b['verified_at'])} UTC" if b.get("verified_at") else "")]
    if b.get("verify_problem"):
        lines.append(f"[red]{escape(b['verify_problem'])}[/]")
    if b.get("note"):
        lines += ["", f"note: {escape(b['note'])}"]
    if per:
        lines += ["", "[b]collections[/b]"] + [f"  {escape(c):<14} {n}" for c, n in sorted(per.items())]
    lines += ["", f"[dim]sha256 {b['sha256'][:32]}…[/]" if b["sha256"] else "[dim]no checksum record[/]"]
    return "\n".join(lines)


class BackupScreen(Screen[None]):
    HELP = (
        "[b]Backup and restore[/b]. A backup is one archive holding a consistent snapshot of the database "
        "(taken while everything keeps running), the vector index, config, privacy rules and the audit "
        "archive, with a manifest of counts and checksums.\n\n"
        "[b]Verify[/b] checks the archive's checksum, every file against the manifest, and opens the "
        "database read-only for SQLite's integrity check. [b]Preview[/b] (dry run) shows per collection "
        "what a restore would add, remove and change, touching nothing.\n\n"
        "[b]Restore[/b] verifies, unpacks into a staging folder, repairs drift and re-embeds what lacks a "
        "vector, runs the canary queries stored in the backup, takes a safety backup of the current state, "
        "and only then swaps the data in. A crash at any point leaves the old data or the new, never a mix. "
        "Restoring needs the admin role and you must type the backup id.\n\n"
        "Redacted backups leave out personal data, secrets and vectors: good for sharing; restoring one "
        "re-embeds everything. Schedules and retention live in config (backup.*)."
    )
    BINDINGS = [
        Binding("n", "create", "New backup", id="backup.create"),
        Binding("v", "verify", "Verify", id="backup.verify"),
        Binding("d", "preview", "Preview restore", id="backup.preview"),
        Binding("r", "restore", "Restore", id="backup.restore"),
        Binding("p", "prune", "Prune", id="backup.prune"),
        Binding("f5", "refresh", "Refresh", id="backup.refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, dict[str, Any]] = {}
        self._job: Job | None = None
        self._restoring = False

    @property
    def memapp(self) -> MemdeckApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ModeBar("backup")
        yield Static("", id="backup-schedule")
        with Horizontal(id="backup-main"):
            yield DataTable(id="backups", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="backup-detail"):
                yield Static("No backup selected.", id="backup-detail-body")
        with Horizontal(id="backup-job"):
            yield Label("", id="backup-job-label")
            yield ProgressBar(total=100, show_eta=False, id="backup-progress")
        yield Static("", id="backup-status")
        yield Footer()

    def on_mount(self) -> None:
        table: DataTable[str] = self.query_one("#backups", DataTable)
        # No kind column: the id ends with it (…-full, …-redacted, …-safety).
        for label, key, width in (("id", "id", 25), ("created (UTC)", "created", 16), ("size", "size", 8),
                                  ("items", "items", 6), ("verified", "verified", 8), ("note", "note", 24)):
            table.add_column(label, key=key, width=width)
        self.query_one("#backup-job").display = False
        if self.memapp.core is not None:
            self.refresh_list()
        else:
            self._status(self.memapp.opening_message())

    def on_core_ready(self, _message: CoreReady) -> None:
        self.refresh_list()
        if self._restoring:
            self._restoring = False

    def on_core_failed(self, _message: CoreFailed) -> None:
        if not self._restoring:
            self._status(self.memapp.opening_message())

    def on_core_event(self, message: CoreEvent) -> None:
        kind, payload = message.event.kind, message.event.payload
        if kind == "job.progress" and self._job is not None and payload.get("job_id") == self._job.id:
            self._progress(payload["done"], payload["total"], payload.get("message", ""))
        elif kind == "job.finished" and self._job is not None and payload.get("job_id") == self._job.id:
            self._created(payload)
        elif kind in {"backup.created", "backup.verified", "backup.pruned", "backup.scheduled", "backup.failed"}:
            self.refresh_list()  # (the app itself notifies about failures, on every screen)

    # ------------------------------------------------------------------ data
    def _status(self, text: str) -> None:
        self.query_one("#backup-status", Static).update(text)

    def _progress(self, done: int, total: int, message: str) -> None:
        self.query_one("#backup-job").display = True
        self.query_one("#backup-job-label", Label).update(f"{message} ")
        self.query_one("#backup-progress", ProgressBar).update(total=max(1, total), progress=done)

    def refresh_list(self, keep: str | None = None) -> None:
        core = self.memapp.core
        if core is None:
            return

        def fetch() -> tuple[list[dict[str, Any]], dict[str, Any]]:
            return [b.as_dict() for b in core.backups()], core.backup_schedule()

        run_in_thread(self, fetch, lambda r: self._show(*r, keep=keep), self._failed, name="backup-list",
                      exclusive=True)

    def action_refresh(self) -> None:
        self.refresh_list()

    def _failed(self, exc: BaseException) -> None:
        self.memapp.show_error(exc)

    def _show(self, rows: list[dict[str, Any]], schedule: dict[str, Any], keep: str | None = None) -> None:
        table: DataTable[str] = self.query_one("#backups", DataTable)
        current = keep or self._selected_id()
        table.clear()
        self._rows = {r["id"]: r for r in rows}
        for r in rows:
            table.add_row(r["id"], iso_utc(r["created_at"]), human_bytes(r["bytes"]),
                          str((r.get("counts") or {}).get("items", "-")), verified_text(r), r["note"][:40],
                          key=r["id"])
        if current in self._rows:
            table.move_cursor(row=table.get_row_index(current))
        self._show_detail()
        sched = schedule["schedule"]
        when = "" if sched == "off" else f" at {schedule['time']}" + (
            f" on {schedule['weekday']}" if sched == "weekly" else "")
        core = self.memapp.core
        policy = "" if core is None else (
            f"keeps {core.config.get('backup.keep_daily')} daily, {core.config.get('backup.keep_weekly')} weekly,"
            f" {core.config.get('backup.keep_safety')} safety")
        self.query_one("#backup-schedule", Static).update(
            f"schedule: [b]{sched}{when}[/b]  ·  last scheduled {iso_utc(schedule['last_run'])}  ·  next "
            f"{iso_utc(schedule['next_run'])}  ·  prune {policy}")
        verified = sum(1 for r in rows if r["verified_ok"])
        self._status(f"{len(rows)} backup(s), {verified} verified  ·  n new  v verify  d preview  r restore  "
                     "p prune  F1 help" if rows else "No backups yet: press n to make the first one.")

    def _selected_id(self) -> str | None:
        table: DataTable[str] = self.query_one("#backups", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    def on_resize(self) -> None:
        self.set_class(self.size.width < 110, "narrow")

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        bid = self._selected_id()
        body = self.query_one("#backup-detail-body", Static)
        body.update(backup_detail(self._rows[bid]) if bid in self._rows else "No backup selected.")

    def _need_selection(self) -> str | None:
        bid = self._selected_id()
        if bid is None:
            self.notify("no backup selected", severity="warning")
        return bid

    # ------------------------------------------------------------------ actions
    def action_create(self) -> None:
        core = self.memapp.core
        if core is None or self._job is not None:
            return

        def chosen(choice: dict[str, Any] | None) -> None:
            if choice is None:
                return
            self._progress(0, 6, "starting")
            self._job = core.workers.start(
                "backup", lambda job: core.backup_create(choice["note"], choice["redacted"], job=job))

        self.app.push_screen(CreateBackupModal(), chosen)

    def _created(self, payload: dict[str, Any]) -> None:
        job, self._job = self._job, None
        self.query_one("#backup-job").display = False
        if payload.get("state") == "ok" and job is not None and job.result is not None:
            self.notify(f"backup {job.result.id} written ({human_bytes(job.result.bytes)})")
            self.refresh_list(keep=job.result.id)
        else:
            self.memapp.show_error(job.exception if job is not None and job.exception is not None
                                   else RuntimeError(str(payload.get("error"))), "Backup failed")
            self.refresh_list()

    def action_verify(self) -> None:
        core = self.memapp.core
        bid = self._need_selection()
        if core is None or bid is None:
            return
        self._status(f"verifying {bid}…")

        def done(result: Any) -> None:
            if result.ok:
                self.notify(f"{bid}: verified OK")
            else:
                self.memapp.show_error(RuntimeError("; ".join(result.problems)), f"Backup {bid} failed verification")
            self.refresh_list(keep=bid)

        run_in_thread(self, lambda: core.backup_verify(bid), done, name="backup-verify")

    def action_preview(self) -> None:
        core = self.memapp.core
        bid = self._need_selection()
        if core is None or bid is None:
            return
        self._status(f"comparing {bid} with the live data…")

        def show(report: dict[str, Any]) -> None:
            self.app.push_screen(DiffModal(report))
            self.refresh_list(keep=bid)

        run_in_thread(self, lambda: core.restore(bid, dry_run=True), show, name="backup-preview")

    def action_restore(self) -> None:
        core = self.memapp.core
        bid = self._need_selection()
        if core is None or bid is None or self._job is not None:
            return
        run_in_thread(self, lambda: (core.can("backup.restore"), core.identity.user, core.role.label),
                      lambda who: self._ask_restore(bid, *who), name="backup-role")

    def _ask_restore(self, bid: str, allowed: bool, user: str, role: str) -> None:
        if not allowed:
            self.memapp.show_error(RuntimeError(f"{user} has the {role} role; restoring needs admin"),
                                   "Restore not allowed")
            return
        row = self._rows.get(bid, {})
        summary = (f"This replaces the live memory with backup {bid} ({row.get('kind')}, "
                   f"{(row.get('counts') or {}).get('items', '?')} items, made {iso_utc(row.get('created_at'))} UTC)."
                   "\n\nFirst the backup is verified and checked in a staging folder, and a safety backup of the "
                   "current state is taken. Press d first to preview the changes.")

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._start_restore(bid)

        self.app.push_screen(RestoreConfirmModal(bid, summary), confirmed)

    def _start_restore(self, bid: str) -> None:
        """The restore closes the core it runs on: detach it from every screen, run, then reopen."""
        bus = EventBus()
        job = Job(name="restore", _bus=bus)
        unsubscribe = bus.subscribe(lambda e: self.app.call_from_thread(
            self._progress, e.payload.get("done", 0), e.payload.get("total", 1), e.payload.get("message", ""))
            if e.kind == "job.progress" else None)
        self._restoring = True
        core = self.memapp.detach_core()
        self._progress(0, 8, "restoring")

        def done(result: dict[str, Any]) -> None:
            unsubscribe()
            self.query_one("#backup-job").display = False
            found = sum(1 for c in result["canaries"] if c["found"])
            self.notify(f"restored {bid}: canaries {found}/{len(result['canaries'])}, re-embedded "
                        f"{result['reembedded']}; safety backup {result['safety_backup']}", timeout=15)
            self.memapp.reopen_core()

        def failed(exc: BaseException) -> None:
            unsubscribe()
            self._restoring = False
            self.query_one("#backup-job").display = False
            self.memapp.show_error(exc, "Restore failed: the live data is unchanged")
            if getattr(core, "_closed", False):
                self.memapp.reopen_core()
            else:
                self.memapp._core_opened(core)

        run_in_thread(self, lambda: core.restore(bid, job=job), done, failed, name="backup-restore")

    def action_prune(self) -> None:
        core = self.memapp.core
        if core is None:
            return
        policy = (f"keep the newest backup of each of the last {core.config.get('backup.keep_daily')} days and "
                  f"{core.config.get('backup.keep_weekly')} weeks, {core.config.get('backup.keep_safety')} safety "
                  "backups, and never the only verified one")

        def preview(plan: dict[str, Any]) -> None:
            def pruned(r: dict[str, Any]) -> None:
                self.notify(f"pruned {len(r['deleted'])} backup(s)")
                self.refresh_list()

            def confirmed(ok: bool | None) -> None:
                if ok:
                    run_in_thread(self, lambda: core.backup_prune(dry_run=False), pruned, name="backup-prune")

            self.app.push_screen(PruneModal(plan, policy), confirmed)

        run_in_thread(self, lambda: core.backup_prune(dry_run=True), preview, name="backup-prune-plan")
