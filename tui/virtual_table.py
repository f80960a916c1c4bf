"""A table that shows millions of rows by drawing only the lines on screen (Textual's line API).

The table owns an ordered list of row keys (cheap: one int per row) and a cache of formatted rows.
Rows it has not seen yet are drawn as placeholders and asked for with a ``RowsWanted`` message; the
screen fetches them off the event loop and hands them back with ``add_rows``. A DataTable would
build every row up front, which takes seconds and hundreds of MB at tens of thousands of rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


@dataclass(frozen=True)
class Column:
    label: str
    width: int


Row = tuple[tuple[str, str], ...]  # (text, style name or "") per column


class VirtualTable(ScrollView, can_focus=True):
    """Keys in display order; cells come from ``add_rows``; the cursor is a row index."""

    COMPONENT_CLASSES = {"virtual-table--header", "virtual-table--cursor", "virtual-table--placeholder",
                         "virtual-table--bad", "virtual-table--warn", "virtual-table--dim"}
    DEFAULT_CSS = """
    VirtualTable { background: $surface; }
    VirtualTable > .virtual-table--header { text-style: bold; background: $panel; }
    VirtualTable > .virtual-table--cursor { background: $accent 40%; }
    VirtualTable:focus > .virtual-table--cursor { background: $accent; color: $text; }
    VirtualTable > .virtual-table--placeholder { color: $text-disabled; }
    VirtualTable > .virtual-table--bad { color: $error; text-style: bold; }
    VirtualTable > .virtual-table--warn { color: $warning; }
    VirtualTable > .virtual-table--dim { color: $text-muted; }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)

    class Highlighted(Message):
        """The cursor moved to the row with ``key`` (None when the table is empty)."""

        def __init__(self, table: VirtualTable, key: int | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

    class Selected(Message):
        """Enter (or a double click) on the row with ``key``."""

        def __init__(self, table: VirtualTable, key: int) -> None:
            super().__init__()
            self.table = table
            self.key = key

    class RowsWanted(Message):
        """Rows for these keys are about to be drawn and are not cached yet."""

        def __init__(self, table: VirtualTable, keys: list[int]) -> None:
            super().__init__()
            self.table = table
            self.keys = keys

    def __init__(self, columns: Sequence[Column], *, id: str | None = None, prefetch: int = 60) -> None:
        super().__init__(id=id)
        self.columns = list(columns)
        self.keys: list[int] = []
        self._rows: dict[int, Row] = {}
        self._pending: set[int] = set()
        self.prefetch = prefetch

    # ------------------------------------------------------------------ data
    @property
    def row_width(self) -> int:
        return sum(c.width + 1 for c in self.columns)

    def set_keys(self, keys: list[int], keep_key: int | None = None) -> None:
        """Replace the rows; the cursor stays on ``keep_key`` if it is still present."""
        self.keys = keys
        self._pending.clear()
        self.virtual_size = Size(self.row_width, len(keys))
        index = 0
        if keep_key is not None:
            try:
                index = keys.index(keep_key)
            except ValueError:
                index = 0
        self.cursor = min(index, max(0, len(keys) - 1))
        self._scroll_cursor_into_view()
        self._want_visible()
        self.refresh()

    def prepend_keys(self, new_keys: list[int], follow: bool) -> None:
        """Add newer rows at the top. Following: the cursor stays at the top; otherwise it stays on its row."""
        if not new_keys:
            return
        was_top = self.cursor == 0 and self.scroll_offset.y == 0
        self.keys = new_keys + self.keys
        self.virtual_size = Size(self.row_width, len(self.keys))
        if follow and was_top:
            self.cursor = 0
        else:
            self.set_reactive(VirtualTable.cursor, self.cursor + len(new_keys))
            self.scroll_to(y=self.scroll_offset.y + len(new_keys), animate=False, immediate=True)
        self._want_visible()
        self.refresh()

    def add_rows(self, rows: dict[int, Row]) -> None:
        self._rows.update(rows)
        self._pending.difference_update(rows)
        if len(self._rows) > 20_000:  # keep memory bounded on huge logs: drop far-away rows
            keep = set(self._visible_keys(margin=2000))
            self._rows = {k: v for k, v in self._rows.items() if k in keep}
        self.refresh()

    def invalidate(self) -> None:
        self._rows.clear()
        self._pending.clear()
        self._want_visible()
        self.refresh()

    @property
    def current_key(self) -> int | None:
        return self.keys[self.cursor] if 0 <= self.cursor < len(self.keys) else None

    def _visible_keys(self, margin: int) -> list[int]:
        top = max(0, self.scroll_offset.y - margin)
        bottom = min(len(self.keys), self.scroll_offset.y + self.size.height + margin)
        return self.keys[top:bottom]

    def _want_visible(self) -> None:
        missing = [k for k in self._visible_keys(self.prefetch) if k not in self._rows and k not in self._pending]
        if missing:
            self._pending.update(missing)
            self.post_message(self.RowsWanted(self, missing))

    # ------------------------------------------------------------------ rendering
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        if index >= len(self.keys):
            return Strip.blank(width, self.rich_style)
        key = self.keys[index]
        row = self._rows.get(key)
        base = self.rich_style
        if index == self.cursor:
            base = base + self.get_component_rich_style("virtual-table--cursor")
        segments: list[Segment] = []
        if row is None:
            style = base + self.get_component_rich_style("virtual-table--placeholder")
            segments.append(Segment(f" #{key} …".ljust(self.row_width), style))
        else:
            for (text, kind), col in zip(row, self.columns, strict=False):
                style = base
                if kind and index != self.cursor:  # on the cursor row, contrast wins over colour
                    style = base + self._kind_style(kind)
                cell = text if len(text) <= col.width else text[: col.width - 1] + "…"
                segments.append(Segment(cell.ljust(col.width) + " ", style))
        strip = Strip(segments).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, base)

    def _kind_style(self, kind: str) -> Style:
        return self.get_component_rich_style(f"virtual-table--{kind}")

    def header_text(self) -> str:
        return "".join(c.label[: c.width].ljust(c.width) + " " for c in self.columns)

    # ------------------------------------------------------------------ movement
    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._want_visible()

    def on_resize(self) -> None:
        self._want_visible()

    def watch_cursor(self, _old: int, _new: int) -> None:
        self.post_message(self.Highlighted(self, self.current_key))
        self.refresh()

    def _scroll_cursor_into_view(self) -> None:
        height = max(1, self.size.height)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _move_to(self, index: int) -> None:
        if not self.keys:
            return
        self.cursor = max(0, min(len(self.keys) - 1, index))
        self._scroll_cursor_into_view()
        self._want_visible()

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * max(1, self.size.height - 1))

    def action_jump(self, where: int) -> None:
        self._move_to(0 if where == 0 else len(self.keys) - 1)

    def action_select(self) -> None:
        if self.current_key is not None:
            self.post_message(self.Selected(self, self.current_key))

    def on_click(self, event: Click) -> None:
        self._move_to(self.scroll_offset.y + event.y)
        if event.chain == 2:
            self.action_select()
