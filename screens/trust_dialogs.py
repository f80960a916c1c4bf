"""Dialogs of the Trust Dashboard: the merge editor and the full-screen detail (for narrow terminals).

The merge editor doubles as the confirmation of a merge: it says what will be written and what will be
deleted, and nothing happens until the text is confirmed.
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static, TextArea

from screens.trust_view import is_version_conflict


def merge_consequence(c: dict[str, Any]) -> str:
    a, b = c.get("a") or {}, c.get("b") or {}
    a_name, b_name = f"{a.get('collection')}/{a.get('key')}", f"{b.get('collection')}/{b.get('key')}"
    if is_version_conflict(c):
        return f"This text becomes the new version of {a_name}; contradiction #{c.get('id')} is resolved."
    return (f"This text becomes the new version of A ({a_name}); B ({b_name}) is deleted (its history stays); "
            f"contradiction #{c.get('id')} is resolved.")


class MergeModal(ModalScreen[str | None]):
    """Write the one correct statement; prefilled with A's text. ctrl+s (or the button) merges."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="merge.cancel"),
                Binding("ctrl+s", "merge", "Merge", id="merge.confirm")]

    def __init__(self, contradiction: dict[str, Any]) -> None:
        super().__init__()
        self.contradiction = contradiction

    def compose(self) -> ComposeResult:
        c = self.contradiction
        with Vertical(classes="dialog merge-dialog"):
            yield Label(f"Merge contradiction #{c.get('id')}", classes="dialog-title")
            yield Static(merge_consequence(c), id="merge-consequence")
            yield TextArea(str((c.get("a") or {}).get("content") or ""), id="merge-text", show_line_numbers=False,
                           soft_wrap=True)
            yield Static("", id="merge-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Merge (ctrl+s)", variant="error", id="merge")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        editor = self.query_one("#merge-text", TextArea)
        editor.cursor_blink = getattr(self.app, "blink", True)
        editor.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "merge":
            self.action_merge()
        else:
            self.dismiss(None)

    def action_merge(self) -> None:
        text = self.query_one("#merge-text", TextArea).text.strip()
        if not text:
            self.query_one("#merge-error", Static).update("The merged text is empty: write the correct statement.")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TrustDetailModal(ModalScreen[None]):
    """The detail pane in full (the pane is small on an 80x24 terminal)."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="trust-detail.close")]

    def __init__(self, title: str, body: RenderableType) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog trust-detail-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body, id="trust-detail-modal-body")
            yield Static("esc closes", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
