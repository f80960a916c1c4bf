"""Small widgets shared by screens."""

from __future__ import annotations

from textual.widgets import Static

MODES: list[tuple[str, str, str]] = [("1", "health", "Health"), ("2", "explorer", "Explorer"), ("3", "audit", "Audit"),
                                     ("4", "backup", "Backup"), ("5", "ask", "Ask"), ("6", "episodes", "Episodes"),
                                     ("7", "trust", "Trust"), ("8", "training", "Training")]
HINT = "F1 help · : commands · q quit"


class ModeBar(Static):
    """The top line: which area is open and the number key for each."""

    def __init__(self, active: str) -> None:
        super().__init__(id="mode-bar")
        self.active = active

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        """Modes first; the name and the key hint only when they fit (F1 and the footer say the same)."""
        width = self.size.width or self.app.size.width
        full = sum(len(f" {k} {label} ") + 1 for k, _, label in MODES)
        # On 80 columns all eight modes fit only with the inactive ones unpadded.
        tight = full > width
        parts = []
        for key, mode, label in MODES:
            if mode == self.active:
                parts.append(f"[reverse b] {key} {label} [/]")
            else:
                parts.append(f"{key} {label}" if tight else f" {key} {label} ")
        modes = sum(len(p) for p in parts) + len(parts)
        # The name goes before any mode does.
        name = "memdeck  " if len("memdeck  ") + modes <= width else ""
        hint = f"   [dim]{HINT}[/]" if len(name) + modes + 3 + len(HINT) <= width else ""
        self.update(name + " ".join(parts) + hint)
