"""Dialogs of the Training screen: one run in full.

The detail pane under the runs table shows the tail of a run; an admin asking "why was this rolled
back, what exactly did it do?" wants all of it (every gate reason, every canary failure, the whole
log), and on an 80x24 terminal the pane is hidden while a run is live. Enter opens this.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class RunDetailModal(ModalScreen[None]):
    """A run in full: ``screens.training_view.run_detail`` with the whole log. Read-only."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="train-detail.close")]

    def __init__(self, title: str, body: Text) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog train-detail-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body, id="train-detail-modal-body")
            yield Static("esc closes", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
