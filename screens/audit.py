"""Audit Log: who changed what, when, and whether anything was altered since.

A live tail of the hash-chained audit trail (new events appear within a second, from this process or
any other), a filter line, the full event beside the list, chain verification with its verdict, export,
and the pending two-person approvals with approve/reject. The list is a virtual table: it holds one
int per matching event and fetches only the rows on screen, so a million events scroll as smoothly
as ten.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Static

from core.audit_query import AuditFilter, parse_filter
from core.errors import MemdeckError
from tui.bridge import CoreEvent, CoreFailed, CoreReady, run_in_thread
from tui.modals import ConfirmModal, ErrorModal, EventModal, ExportModal
from tui.virtual_table import Column, Row, VirtualTable
from tui.widgets import ModeBar

if TYPE_CHECKING:
    from tui.app import MemdeckApp

COLUMNS = [Column("seq", 7), Column("time (UTC)", 19), Column("actor", 10), Column("action", 17),
           Column("target", 16), Column("outcome", 7)]
POLL_S = 1.0


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def event_row(ev: dict[str, Any]) -> Row:
    outcome = ev["outcome"]
    kind = "bad" if outcome == "denied" else ("warn" if outcome == "failed" else "")
    return ((f"#{ev['seq']}", "dim"), (_when(ev["at"]), ""), (ev["actor"], ""), (ev["action"], kind),
            (ev["target"], ""), (outcome, kind))


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested details as ``a.b: value`` lines: readable in a narrow pane, unlike indented JSON."""
    if isinstance(value, dict) and value:
        out: list[tuple[str, str]] = []
        for k in sorted(value, key=str):
            out.extend(flatten(value[k], f"{prefix}{k}."))
        return out
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return [(prefix.rstrip("."), text)]


def event_detail(ev: dict[str, Any]) -> Text:
    """The whole event as a Rich Text (not markup: details are user data and may contain brackets)."""
    colour = {"ok": "green", "denied": "red", "failed": "yellow"}.get(ev["outcome"], "")
    micro = int(ev["at"] * 1e6) % 1_000_000
    text = Text.assemble((f"#{ev['seq']}", "bold"), "  ", (ev["action"], "bold"), "  ",
                         (ev["outcome"], f"bold {colour}"), "\n")
    for label, value in (("time", f"{_when(ev['at'])}.{micro:06d} UTC"), ("actor", ev["actor"]),
                         ("target", ev["target"])):
        text.append(f"{label:<7}", "dim")
        text.append(f"{value}\n")
    text.append("\ndetails (redacted)\n", "dim")
    for key, value in flatten(ev["details"]):
        text.append(f"{key}: ", "cyan")
        text.append(f"{value}\n")
    text.append("\nprev ", "dim")
    text.append(f"{ev['prev_hash'][:24]}…\n")
    text.append("hash ", "dim")
    text.append(f"{ev['hash'][:24]}…")
    return text


class AuditScreen(Screen[None]):
    HELP = (
        "[b]Audit Log[/b]: every change and admin action, newest first, with who did it (OS user and SSH "
        "address), when, to what, and whether it was allowed. New events appear by themselves.\n\n"
        "[b]Filter[/b] with words like [i]actor:alice action:memory.* target:docs/* outcome:denied "
        "since:2h until:2026-11-01[/i]; anything else is searched for in the event details "
        "(quote phrases).\n\n"
        "[b]Verify chain[/b] recomputes every event's hash and link, archived segments included, and names "
        "the first event that was edited, deleted, inserted or reordered. [b]Export[/b] writes what the "
        "filter shows, redacted (admins may export unredacted; that is recorded too).\n\n"
        "[b]Pending approvals[/b]: with two-person approval on, an admin's purge, repair, rebuild, config or "
        "role change waits here until a [i]different[/i] admin approves it, then runs."
    )
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="audit.filter"),
        Binding("escape", "focus_table", "Events", id="audit.focus_table", show=False),
        Binding("v", "verify", "Verify chain", id="audit.verify"),
        Binding("e", "export", "Export", id="audit.export"),
        Binding("f", "toggle_follow", "Follow", id="audit.follow"),
        Binding("tab", "focus_next", "Next pane", show=False),
        Binding("a", "approve", "Approve", id="audit.approve"),
        Binding("r", "reject", "Reject", id="audit.reject"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._filter = AuditFilter()
        self._events: dict[int, dict[str, Any]] = {}
        self._scanned = 0
        self._follow = True
        self._polling = False
        self._verify_job: Any = None
        self._chain_text = "chain: not verified in this session (v verifies)"
        self._match_count = 0
        self._readable = False

    @property
    def memapp(self) -> MemdeckApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ModeBar("audit")
        with Horizontal(id="audit-bar"):
            yield Input(placeholder='filter: actor:alice action:memory.* outcome:denied since:2h "text"',
                        id="audit-filter")
        yield Static(self._chain_text, id="audit-chain")
        with Horizontal(id="audit-main"):
            with Vertical(id="audit-left"):
                table = VirtualTable(COLUMNS, id="audit-table")
                yield Static(table.header_text(), id="audit-header")
                yield table
            with VerticalScroll(id="audit-detail"):
                yield Static("Select an event to see it in full.", id="audit-detail-body")
        with Vertical(id="approvals-panel"):
            yield Label("Pending approvals  ·  a approve  ·  r reject", id="approvals-title")
            yield DataTable(id="approvals-table", cursor_type="row")
        yield Static("", id="audit-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#audit-filter", Input).cursor_blink = getattr(self.app, "blink", True)
        approvals: DataTable[str] = self.query_one("#approvals-table", DataTable)
        for label, key, width in (("id", "id", 5), ("action", "action", 14), ("target", "target", 22),
                                  ("requested by", "by", 14), ("requested (UTC)", "at", 19),
                                  ("expires (UTC)", "exp", 19)):
            approvals.add_column(label, key=key, width=width)
        self.set_interval(POLL_S, self._poll)
        self.query_one("#audit-table", VirtualTable).focus()
        if self.memapp.core is not None:
            self._start()
        else:
            self._status(self.memapp.opening_message())

    def on_core_ready(self, _message: CoreReady) -> None:
        self._start()

    def on_core_failed(self, _message: CoreFailed) -> None:
        self._status(self.memapp.opening_message())

    def on_core_event(self, message: CoreEvent) -> None:
        payload = message.event.payload
        if message.event.kind == "job.progress" and self._verify_job is not None \
                and payload.get("job_id") == self._verify_job.id:
            self._set_chain(f"verifying… {payload['done']:,} / {payload['total']:,} events")
        elif message.event.kind == "job.finished" and self._verify_job is not None \
                and payload.get("job_id") == self._verify_job.id:
            self._verified(payload)

    # ------------------------------------------------------------------ loading
    def _start(self) -> None:
        core = self.memapp.core
        if core is None:
            return

        def decide(who: tuple[bool, str, str]) -> None:
            self._readable, user, role = who
            if not self._readable:
                self._status(f"{escape(user)} has the {role} role: the audit log needs viewer")
                return
            self._reload()
            self._load_approvals()

        # the role check reads config: off the event loop like every core call
        run_in_thread(self, lambda: (core.can("audit.read"), core.identity.user, core.role.label), decide,
                      self._failed, name="audit-role")

    def _status(self, text: str) -> None:
        self.query_one("#audit-status", Static).update(text)

    def _set_chain(self, text: str) -> None:
        self._chain_text = text
        self.query_one("#audit-chain", Static).update(text)

    def _reload(self, keep: int | None = None) -> None:
        core = self.memapp.core
        if core is None or not self._readable:
            return
        flt = self._filter

        def fetch() -> tuple[list[int], int]:
            head = core.audit_head()
            return core.audit_matching(flt), head

        def show(result: tuple[list[int], int]) -> None:
            seqs, head = result
            if flt != self._filter:  # the filter changed while this ran; a newer load is on its way
                return
            self._scanned = head
            self._match_count = len(seqs)
            table = self.query_one("#audit-table", VirtualTable)
            table.set_keys(seqs, keep_key=keep)
            self._show_status()
            if not seqs:
                self.query_one("#audit-detail-body", Static).update(
                    "No events match this filter." if flt != AuditFilter() else "The audit log is empty.")

        run_in_thread(self, fetch, show, self._failed, name="audit-load", exclusive=True)

    def _show_status(self) -> None:
        flt = self._filter.describe()
        # (spaces go inside the tags: Textual's markup drops whitespace right after a closing tag)
        mode = "[green]live  [/]" if self._follow else "[yellow]paused (f resumes following)  [/]"
        self._status(f"{self._match_count:,} event(s)" + (f" match [b]{escape(flt)}[/]" if flt else "")
                     + f"  ·  {mode}·  / filter  v verify  e export  F1 help")

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, MemdeckError):
            self._status(f"[red]{escape(exc.message)}[/]")
        else:
            self.memapp.show_error(exc)

    def on_virtual_table_rows_wanted(self, message: VirtualTable.RowsWanted) -> None:
        core = self.memapp.core
        if core is None:
            return
        keys = message.keys

        def show(events: list[dict[str, Any]]) -> None:
            for ev in events:
                self._events[ev["seq"]] = ev
            if len(self._events) > 20_000:
                self._events = {k: v for k, v in list(self._events.items())[-5000:]}
            message.table.add_rows({ev["seq"]: event_row(ev) for ev in events})
            current = message.table.current_key
            if current is not None and current in {ev["seq"] for ev in events}:
                self._show_detail(current)

        run_in_thread(self, lambda: core.audit_events(keys), show, self._failed, name="audit-rows")

    def on_resize(self) -> None:
        # Below ~110 columns the table needs the whole width; Enter shows an event in a dialog instead.
        self.set_class(self.size.width < 110, "narrow")

    def on_virtual_table_selected(self, message: VirtualTable.Selected) -> None:
        ev = self._events.get(message.key)
        if ev is not None:
            self.app.push_screen(EventModal(event_detail(ev)))

    def on_virtual_table_highlighted(self, message: VirtualTable.Highlighted) -> None:
        if message.key is not None:
            self._show_detail(message.key)

    def _show_detail(self, seq: int) -> None:
        ev = self._events.get(seq)
        if ev is not None:
            self.query_one("#audit-detail-body", Static).update(event_detail(ev))

    def _poll(self) -> None:
        """Live tail: ask for events newer than the last scan; cheap (one indexed max, one range scan)."""
        core = self.memapp.core
        if core is None or not self._readable or self._polling or not self.is_current:
            return
        self._polling = True
        flt, since = self._filter, self._scanned

        def fetch() -> tuple[int, list[int]]:
            from dataclasses import replace

            head = core.audit_head()
            if head <= since:
                return head, []
            return head, core.audit_matching(replace(flt, after_seq=since))

        def show(result: tuple[int, list[int]]) -> None:
            self._polling = False
            head, new = result
            if flt != self._filter or head <= self._scanned:
                return
            self._scanned = head
            if new:
                self._match_count += len(new)
                self.query_one("#audit-table", VirtualTable).prepend_keys(new, self._follow)
                self._show_status()
            self._load_approvals()

        def failed(exc: BaseException) -> None:
            self._polling = False
            self._failed(exc)

        run_in_thread(self, fetch, show, failed, name="audit-poll")

    def _load_approvals(self) -> None:
        core = self.memapp.core
        if core is None or not self._readable:
            return

        def show(result: tuple[list[dict[str, Any]], str]) -> None:
            rows, role = result
            table: DataTable[str] = self.query_one("#approvals-table", DataTable)
            table.clear()
            for r in rows:
                table.add_row(f"#{r['id']}", r["action"], r["target"], r["requested_by"], _when(r["requested_at"]),
                              _when(r["expires_at"]), key=str(r["id"]))
            title = self.query_one("#approvals-title", Label)
            who = "" if role == "admin" else f"  ·  you are {role}: only a different admin can approve"
            title.update(f"Pending approvals ({len(rows)})  ·  a approve  ·  r reject{who}"
                         if rows else "Pending approvals: none")

        run_in_thread(self, lambda: (core.approvals("pending"), core.role.label), show, self._failed,
                      name="audit-approvals")

    # ------------------------------------------------------------------ actions
    def action_focus_filter(self) -> None:
        self.query_one("#audit-filter", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one("#audit-table", VirtualTable).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "audit-filter":
            return
        try:
            flt = parse_filter(event.value)
        except MemdeckError as exc:
            self._status(f"[red]{escape(exc.message)}[/]" + (f"  {escape(exc.hint)}" if exc.hint else ""))
            return
        self._filter = flt
        self.query_one("#audit-table", VirtualTable).invalidate()
        self._reload()
        self.action_focus_table()

    def action_toggle_follow(self) -> None:
        self._follow = not self._follow
        if self._follow:
            self.query_one("#audit-table", VirtualTable).action_jump(0)
        self._show_status()

    def action_verify(self) -> None:
        core = self.memapp.core
        if core is None or self._verify_job is not None:
            return
        self._set_chain("verifying the chain…")
        self._verify_job = core.workers.start("audit-verify", lambda job: core.audit_verify(job))

    def _verified(self, payload: dict[str, Any]) -> None:
        job, self._verify_job = self._verify_job, None
        if payload.get("state") != "ok" or job is None or job.result is None:
            self._set_chain(f"[red]verification did not finish: {escape(str(payload.get('error')))}[/]")
            return
        report = job.result
        if report.ok:
            summary = escape(report.summary().removeprefix("audit chain intact: "))
            self._set_chain(f"[green b]✓ chain intact  [/]{summary}  ·  verified {_when(report.checked_at)} UTC")
            self.notify("audit chain intact", timeout=4)
            return
        self._set_chain(f"[red b]✗ chain BROKEN at event #{report.first_bad_seq}:  [/]{escape(report.problem or '')}")
        self.app.push_screen(ErrorModal(
            f"The audit chain is broken at event #{report.first_bad_seq}: {report.problem}",
            "The audit database was changed outside memdeck. Keep a copy of the data dir as evidence, compare "
            "with a backup, and check who had write access to the files.", "Audit chain broken"))
        table = self.query_one("#audit-table", VirtualTable)
        if report.first_bad_seq in table.keys:
            table._move_to(table.keys.index(report.first_bad_seq))

    def action_export(self) -> None:
        core = self.memapp.core
        if core is None:
            return
        stamp = datetime.fromtimestamp(self.memapp.clock(), UTC).strftime("%Y%m%d-%H%M%S")
        default = os.path.join(os.path.expanduser("~"), f"memdeck-audit-{stamp}.jsonl")
        flt = self._filter

        def chosen(choice: dict[str, Any] | None) -> None:
            if not choice:
                return
            run_in_thread(self, lambda: core.audit_export(choice["format"], choice["path"], flt, choice["unredacted"]),
                          lambda out: self.notify(f"exported {out['events']} event(s) to {out['path']}"
                                                  + ("" if out["redacted"] else " (unredacted)")),
                          name="audit-export")

        run_in_thread(self, lambda: core.can("audit.export_unredacted"),
                      lambda can: self.app.push_screen(ExportModal(default, flt.describe(), can), chosen),
                      name="audit-export-role")

    def _selected_approval(self) -> int | None:
        table: DataTable[str] = self.query_one("#approvals-table", DataTable)
        if table.row_count == 0:
            self.notify("no pending approvals", severity="warning")
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    def action_approve(self) -> None:
        core = self.memapp.core
        approval = self._selected_approval()
        if core is None or approval is None:
            return
        row = self.query_one("#approvals-table", DataTable).get_row(str(approval))
        body = (f"Approve request #{approval}: {row[1]} {row[2]}, asked by {row[3]}?\n\n"
                "It runs now, recorded under your name. You cannot approve your own request.")

        def done(out: dict[str, Any]) -> None:
            self.notify(f"approved #{approval}: ran {out['action']} {out['target']}")
            self._load_approvals()

        def refused(exc: BaseException) -> None:
            self.memapp.show_error(exc, "Approval refused")
            self._load_approvals()

        def confirmed(ok: bool | None) -> None:
            if ok:
                run_in_thread(self, lambda: core.approval_approve(approval), done, refused, name="audit-approve")

        self.app.push_screen(ConfirmModal(f"Approve #{approval}?", body, "Approve"), confirmed)

    def action_reject(self) -> None:
        core = self.memapp.core
        approval = self._selected_approval()
        if core is None or approval is None:
            return

        def done(_out: dict[str, Any]) -> None:
            self.notify(f"rejected #{approval}")
            self._load_approvals()

        def confirmed(ok: bool | None) -> None:
            if ok:
                run_in_thread(self, lambda: core.approval_reject(approval, "rejected in the TUI"), done,
                              lambda exc: self.memapp.show_error(exc, "Reject failed"), name="audit-reject")

        self.app.push_screen(ConfirmModal(f"Reject #{approval}?", f"Reject approval request #{approval}? "
                                          "The action will not run.", "Reject"), confirmed)
