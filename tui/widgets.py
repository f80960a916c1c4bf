"""Small widgets shared by screens."""

from __future__ import annotations

from textual.widgets import Static

MODES: list[tuple[str, str, str]] = [("1", "health", "Health"), ("2", "explorer", "Explorer"), ("3", "audit", "Audit"),
                                     ("4", "backup", "Backup")]


class ModeBar(Static):
    """The top line: which area is open and the number key for each."""

    def __init__(self, active: str) -> None:
        super().__init__(id="mode-bar")
        self.active = active

    def on_mount(self) -> None:
        parts = []
        for key, mode, label in MODES:
            if mode == self.active:
                parts.append(f"[reverse b] {key} {label} [/]")
            else:
                parts.append(f" {key} {label} ")
        self.update("memdeck  " + " ".join(parts) + "   [dim]F1 help · : commands · q quit[/]")
