"""Dialogs of the Backup screen: new backup, restore preview (dry run), typed-id restore confirmation,
and prune preview. Each one says exactly what will happen before anything does."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static


class CreateBackupModal(ModalScreen[dict[str, Any] | None]):
    """A note and the redacted toggle; returns {"note", "redacted"} or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel"),
                Binding("ctrl+s", "create", "Create", id="modal.create")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog backup-dialog"):
            yield Label("New backup", classes="dialog-title")
            yield Static("A consistent snapshot of memory, index, config and audit trail; the console keeps "
                         "working while it is taken.")
            yield Input(placeholder="note (why this backup?)", id="backup-note")
            yield Checkbox("redacted: no personal data, secrets or vectors (for sharing; restore re-embeds)",
                           id="backup-redacted")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Create (ctrl+s)", variant="primary", id="create")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        note = self.query_one("#backup-note", Input)
        note.cursor_blink = getattr(self.app, "blink", True)
        note.focus()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_create()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "create":
            self.action_create()
        else:
            self.dismiss(None)

    def action_create(self) -> None:
        self.dismiss({"note": self.query_one("#backup-note", Input).value.strip(),
                      "redacted": self.query_one("#backup-redacted", Checkbox).value})

    def action_cancel(self) -> None:
        self.dismiss(None)


def diff_text(report: dict[str, Any]) -> str:
    """A dry run's report as a table: per collection live vs backup, added, removed, changed."""
    m = report["manifest"]
    counts = m.get("counts") or {}
    lines = [f"backup [b]{escape(report['backup'])}[/b]  ({m.get('kind')}, {counts.get('items', '?')} items"
             + (", redacted: will be re-embedded" if m.get("redacted") else "") + ")",
             f"note: {escape(m.get('note') or '-')}", "",
             f"{'collection':<16}{'live':>7}{'backup':>8}{'added':>8}{'removed':>9}{'changed':>9}"]
    for c in report["diff"]["collections"]:
        lines.append(f"{escape(c['collection'][:15]):<16}{c['live']:>7}{c['backup']:>8}{c['added']:>8}"
                     f"{c['removed']:>9}{c['changed']:>9}")
    t = report["diff"]["totals"]
    lines.append(f"{'total':<16}{t['live']:>7}{t['backup']:>8}{t['added']:>8}{t['removed']:>9}{t['changed']:>9}")
    for kind, keys in report["diff"]["samples"].items():
        if keys:
            lines += ["", f"[b]{kind}[/b] (first {len(keys)}):"] + [f"  {escape(k)}" for k in keys]
    return "\n".join(lines)


class DiffModal(ModalScreen[None]):
    """What a restore of this backup would change (nothing has been touched)."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="modal.close")]

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog diff-dialog"):
            yield Label("Restore preview (dry run: nothing changed)", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(diff_text(self.report), id="diff-body")
            yield Static("esc closes · r on the list restores", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)


class RestoreConfirmModal(ModalScreen[bool]):
    """Restoring replaces the live data: the user must type the backup id to go ahead."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, backup_id: str, summary: str) -> None:
        super().__init__()
        self.backup_id = backup_id
        self.summary = summary

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog restore-dialog"):
            yield Label(f"Restore {self.backup_id}?", classes="dialog-title")
            yield Static(self.summary, id="restore-summary")
            yield Static("Type the backup id to confirm:", classes="dialog-hint")
            yield Input(placeholder=self.backup_id, id="restore-typed")
            yield Static("", id="restore-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Restore", variant="error", id="restore", disabled=True)
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        typed = self.query_one("#restore-typed", Input)
        typed.cursor_blink = getattr(self.app, "blink", True)
        typed.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#restore", Button).disabled = event.value.strip() != self.backup_id

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.backup_id:
            self.dismiss(True)
        else:
            self.query_one("#restore-error", Static).update("[red]that is not the backup id[/]")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "restore")

    def action_cancel(self) -> None:
        self.dismiss(False)


class PruneModal(ModalScreen[bool]):
    """Which backups retention would delete; confirm to delete them."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel"),
                Binding("y", "confirm", "Delete", id="modal.confirm")]

    def __init__(self, plan: dict[str, Any], policy: str) -> None:
        super().__init__()
        self.plan = plan
        self.policy = policy

    def compose(self) -> ComposeResult:
        deleted = self.plan["deleted"]
        body = (f"Policy: {self.policy}.\n\n" + (
            f"Would delete {len(deleted)} backup(s), {self.plan['bytes']:,} bytes:\n"
            + "\n".join(f"  {escape(b)}" for b in deleted) if deleted else "Nothing to delete."))
        with Vertical(classes="dialog prune-dialog"):
            yield Label("Prune backups", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(body, id="prune-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Delete (y)", variant="error", id="confirm", disabled=not deleted)
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(bool(self.plan["deleted"]))

    def action_cancel(self) -> None:
        self.dismiss(False)
