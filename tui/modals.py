"""Modal dialogs shared by every screen: confirm, error, help, metadata editor, audit export."""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static, TextArea


class ConfirmModal(ModalScreen[bool]):
    """Ask before anything destructive; shows exactly what will change."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel"),
                Binding("y", "confirm", "Confirm", id="modal.confirm")]

    def __init__(self, title: str, body: str, confirm_label: str = "Confirm") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body, id="confirm-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.confirm_label} (y)", variant="error", id="confirm")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class ErrorModal(ModalScreen[None]):
    """A failure: what happened and what to do about it."""

    BINDINGS = [Binding("escape,enter", "close", "Close", id="modal.close")]

    def __init__(self, message: str, hint: str | None = None, title: str = "Something went wrong") -> None:
        super().__init__()
        self.message = message
        self.hint = hint
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog error-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, id="error-message")
            if self.hint:
                yield Static(f"What to do: {self.hint}", id="error-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (esc)", id="close", variant="primary")

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class HelpModal(ModalScreen[None]):
    """F1: what this screen shows and every key it answers to."""

    BINDINGS = [Binding("escape,f1,q", "close", "Close", id="modal.close")]

    def __init__(self, title: str, text: str, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.keys = bindings

    def compose(self) -> ComposeResult:
        width = max((len(k) for k, _ in self.keys), default=4) + 2
        keys = "\n".join(f"[b]{k:<{width}}[/b]{d}" for k, d in self.keys)
        with Vertical(classes="dialog help-dialog"):
            yield Label(f"Help: {self.title_text}", classes="dialog-title")
            with VerticalScroll():
                yield Static(self.text, id="help-text")
                yield Label("Keys", classes="dialog-title help-keys-title")
                yield Static(keys, id="help-keys")
            yield Static("esc closes", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)


class MetadataModal(ModalScreen[dict[str, Any] | None]):
    """Edit an item's metadata as JSON; invalid JSON is shown, never saved."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel"),
                Binding("ctrl+s", "save", "Save", id="modal.save")]

    def __init__(self, target: str, metadata: dict[str, Any]) -> None:
        super().__init__()
        self.target = target
        self.metadata = metadata

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog meta-dialog"):
            yield Label(f"Metadata of {self.target}", classes="dialog-title")
            yield TextArea(json.dumps(self.metadata, indent=2, ensure_ascii=False), language="json",
                           id="meta-editor", show_line_numbers=False)
            yield Static("", id="meta-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="save")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        editor = self.query_one(TextArea)
        editor.cursor_blink = getattr(self.app, "blink", True)
        editor.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_save(self) -> None:
        text = self.query_one(TextArea).text
        try:
            value = json.loads(text)
        except ValueError as exc:
            self.query_one("#meta-error", Static).update(f"Not valid JSON: {exc}")
            return
        if not isinstance(value, dict):
            self.query_one("#meta-error", Static).update("Metadata must be a JSON object { ... }")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportModal(ModalScreen[dict[str, Any] | None]):
    """Where and how to export the audit events the current filter shows."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel"),
                Binding("ctrl+s", "export", "Export", id="modal.export")]

    def __init__(self, default_path: str, described_filter: str, can_unredact: bool) -> None:
        super().__init__()
        self.default_path = default_path
        self.described_filter = described_filter
        self.can_unredact = can_unredact

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog export-dialog"):
            yield Label("Export audit events", classes="dialog-title")
            yield Static(f"filter: {self.described_filter or '(all events)'}", id="export-filter")
            yield Input(self.default_path, id="export-path")
            with RadioSet(id="export-format"):
                yield RadioButton("JSON lines", value=True, id="fmt-jsonl")
                yield RadioButton("CSV", id="fmt-csv")
            yield Checkbox("unredacted (admin only; recorded in the audit trail)", id="export-unredacted",
                           disabled=not self.can_unredact)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export (ctrl+s)", variant="primary", id="export")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        path = self.query_one("#export-path", Input)
        path.cursor_blink = getattr(self.app, "blink", True)
        path.focus()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        path = self.query_one("#export-path", Input)
        fmt = "csv" if event.pressed.id == "fmt-csv" else "jsonl"
        stem, dot, ext = path.value.rpartition(".")
        if dot and ext in ("jsonl", "csv"):
            path.value = f"{stem}.{fmt}"

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_export()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "export":
            self.action_export()
        else:
            self.dismiss(None)

    def action_export(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        if not path:
            self.notify("give a file path", severity="warning")
            return
        fmt = "csv" if self.query_one("#fmt-csv", RadioButton).value else "jsonl"
        self.dismiss({"path": path, "format": fmt, "unredacted": self.query_one("#export-unredacted", Checkbox).value})

    def action_cancel(self) -> None:
        self.dismiss(None)


class EventModal(ModalScreen[None]):
    """One audit event in full (used where the screen is too narrow for the side pane)."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="modal.close")]

    def __init__(self, body: Any) -> None:
        super().__init__()
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog event-dialog"):
            yield Label("Audit event", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body, id="event-body")
            yield Static("esc closes", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
