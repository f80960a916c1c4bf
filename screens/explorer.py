"""Memory Explorer: search or browse memory, read one item in full, and act on it from the keyboard.

With a query it runs core's hybrid search and the detail pane explains each rank (vector, keyword,
fused). With an empty query it browses a collection a page at a time using keyset paging, so tens of
thousands of rows never load at once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Select, Static

from tui.bridge import CoreEvent, CoreFailed, CoreReady, run_in_thread
from tui.formatting import iso_utc
from tui.modals import ConfirmModal, MetadataModal
from tui.widgets import ModeBar

if TYPE_CHECKING:
    from tui.app import MemdeckApp

PAGE_SIZE = 200
ALL = "__all__"
SEP = "\x1f"


class ExplorerScreen(Screen[None]):
    HELP = (
        "[b]Memory Explorer[/b]: type a question or keywords and press enter for hybrid search (vector + "
        "keyword, fused by reciprocal rank). Leave the box empty to browse a collection page by page.\n\n"
        "The detail pane shows the full content, metadata, provenance, version history and, for search "
        "results, the scores that explain the rank: vector similarity and rank, keyword (BM25) score and "
        "rank, and the fused score.\n\n"
        "Quarantined items are kept but left out of search and answers; deleted items stay in history. "
        "Every change is recorded in the audit trail."
    )
    BINDINGS = [
        Binding("slash", "focus_search", "Search", id="explorer.search"),
        Binding("enter", "open", "Open", id="explorer.open", show=False),
        Binding("y", "copy_key", "Copy key", id="explorer.copy_key"),
        Binding("c", "copy_content", "Copy text", id="explorer.copy_content"),
        Binding("x", "toggle_quarantine", "Quarantine/restore", id="explorer.quarantine"),
        Binding("d,delete", "delete", "Delete", id="explorer.delete"),
        Binding("m", "edit_metadata", "Metadata", id="explorer.metadata"),
        Binding("n", "next_page", "Next page", id="explorer.next_page"),
        Binding("p", "prev_page", "Prev page", id="explorer.prev_page"),
        Binding("escape", "focus_table", "Results", id="explorer.focus_table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._hits: dict[str, dict[str, Any]] = {}
        self._current: dict[str, Any] | None = None
        self._query = ""
        self._page_starts: list[tuple[str, str]] = [("", "")]
        self._last_row: tuple[str, str] | None = None
        self._has_more = False
        self._keep: tuple[str, str] | None = None

    @property
    def memapp(self) -> MemdeckApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ModeBar("explorer")
        with Horizontal(id="search-bar"):
            yield Input(placeholder="search memory (enter) · empty = browse", id="search")
            yield Select([("all collections", ALL)], value=ALL, allow_blank=False, id="collection")
            yield Select([("active", "active"), ("quarantined", "quarantined"), ("deleted", "deleted"),
                          ("any status", ALL)], value="active", allow_blank=False, id="status")
        with Horizontal(id="explorer-main"):
            table: DataTable[str] = DataTable(id="results", cursor_type="row", zebra_stripes=True)
            yield table
            with VerticalScroll(id="detail"):
                yield Label("", id="detail-title")
                yield Static("Select a row to see the item.", id="detail-body")
        yield Static("", id="explorer-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#search", Input).cursor_blink = getattr(self.app, "blink", True)
        table = self.query_one("#results", DataTable)
        table.add_column("score", key="score", width=6)
        table.add_column("key", key="key", width=30)
        table.add_column("status", key="status", width=11)
        table.add_column("collection", key="collection", width=10)
        table.add_column("updated", key="updated", width=16)
        if self.memapp.core is not None:
            self._load_collections()
            self.run_query()
        else:
            self._status(self.memapp.opening_message())

    def on_core_failed(self, _message: CoreFailed) -> None:
        self._status(self.memapp.opening_message())

    def on_core_ready(self, _message: CoreReady) -> None:
        self._load_collections()
        self.run_query()

    def on_core_event(self, message: CoreEvent) -> None:
        if message.event.kind == "memory.changed" and not self._query:
            self._load_collections()

    # ------------------------------------------------------------------ data
    def _status(self, text: str) -> None:
        self.query_one("#explorer-status", Static).update(text)

    def _load_collections(self) -> None:
        core = self.memapp.core
        if core is None:
            return

        def show(rows: list[dict[str, Any]]) -> None:
            select: Select[str] = self.query_one("#collection", Select)
            current = select.value
            options = [("all collections", ALL)] + [(f"{r['collection']} ({r['total']})", r["collection"])
                                                     for r in rows]
            select.set_options(options)
            names = {v for _, v in options}
            select.value = current if current in names else ALL

        run_in_thread(self, core.collections, show, name="explorer-collections")

    def _filters(self) -> tuple[list[str], list[str] | None]:
        coll = self.query_one("#collection", Select).value
        status = self.query_one("#status", Select).value
        collections = [] if coll in (ALL, Select.BLANK) else [str(coll)]
        statuses = None if status in (ALL, Select.BLANK) else [str(status)]
        return collections, statuses

    def run_query(self, page_start: tuple[str, str] = ("", "")) -> None:
        core = self.memapp.core
        if core is None:
            return
        collections, statuses = self._filters()
        query = self._query
        if query:
            self._status(f"searching for {query!r}…")
            run_in_thread(self, lambda: core.search(query, 50, collections=collections,
                                                    statuses=statuses or ("active", "quarantined", "deleted")),
                          self._show_search, name="explorer-query", exclusive=True)
        else:
            coll = collections[0] if collections else None
            status = statuses[0] if statuses else None
            after_c, after_k = page_start
            self._status("loading…")
            run_in_thread(self, lambda: core.list_items(coll, status=status, after_key=after_k,
                                                        after_collection=after_c or None, limit=PAGE_SIZE + 1),
                          self._show_page, name="explorer-query", exclusive=True)

    def _fill(self, rows: list[dict[str, Any]]) -> None:
        table = self.query_one("#results", DataTable)
        table.clear()
        self._hits = {}
        for r in rows:
            row_key = f"{r['collection']}{SEP}{r['key']}"
            self._hits[row_key] = r
            score = f"{r['fused'] * 100:.2f}" if r.get("fused") is not None else ""
            table.add_row(score, r["key"], r["status"], r["collection"], iso_utc(r["updated_at"]), key=row_key)
        if not rows:
            self._show_detail(None)
        keep, self._keep = self._keep, None
        if keep is not None:
            wanted = f"{keep[0]}{SEP}{keep[1]}"
            if wanted in self._hits:
                table.move_cursor(row=table.get_row_index(wanted))
            else:
                self.notify(f"{keep[0]}/{keep[1]} is hidden by the current filters", timeout=3)

    def _show_search(self, result: Any) -> None:
        rows = [h.as_dict() for h in result.hits]
        self._fill(rows)
        warn = f"  ·  [yellow]{'; '.join(result.warnings)}[/]" if result.warnings else ""
        self._status(f"{len(rows)} result(s) for {result.query!r}  ·  {result.mode}  ·  "
                     f"{result.timings_ms.get('total', 0):.0f} ms{warn}")

    def _show_page(self, rows: list[dict[str, Any]]) -> None:
        if self._query:  # a browse page that finished after a search started (show_item): stale
            return
        self._has_more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        self._fill([{**r, "fused": None} for r in rows])
        self._last_row = (rows[-1]["collection"], rows[-1]["key"]) if rows else None
        page = len(self._page_starts)
        more = "n: next page" if self._has_more else "last page"
        self._status(f"browsing · page {page} · {len(rows)} row(s) · {more}"
                     + (" · p: previous" if page > 1 else ""))

    def show_item(self, collection: str, key: str) -> None:
        """Show one item, e.g. a citation opened from Ask: search for its key and select it."""
        self._query = key
        self.query_one("#search", Input).value = key
        self._keep = (collection, key)
        self._page_starts = [("", "")]
        self.run_query()
        self.query_one("#results", DataTable).focus()

    # ------------------------------------------------------------------ events
    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._query = event.value.strip()
        self._page_starts = [("", "")]
        self.run_query()
        self.query_one("#results", DataTable).focus()

    def on_select_changed(self, _event: Select.Changed) -> None:
        self._page_starts = [("", "")]
        self.run_query()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if key is None or key not in self._hits:
            return
        core = self.memapp.core
        if core is None:
            return
        collection, item_key = key.split(SEP, 1)

        def load() -> dict[str, Any]:
            return {"item": core.get(collection, item_key), "history": core.history(collection, item_key)}

        run_in_thread(self, load, lambda d: self._show_detail({**d, "hit": self._hits.get(key)}),
                      name="explorer-detail", exclusive=True)

    def _show_detail(self, data: dict[str, Any] | None) -> None:
        title = self.query_one("#detail-title", Label)
        body = self.query_one("#detail-body", Static)
        self._current = data
        if data is None:
            title.update("")
            body.update("Nothing selected.")
            return
        item, hit, history = data["item"], data.get("hit") or {}, data["history"]
        title.update(f"{item['collection']}/{item['key']}  v{item['version']}  {item['status']}")
        lines = [item["content"], "", "[b]metadata[/]",
                 json.dumps(item["metadata"], indent=1, ensure_ascii=False) or "{}",
                 f"[b]source[/] {item['source'] or '-'}   [b]updated[/] {iso_utc(item['updated_at'])} UTC"]
        if hit.get("fused") is not None:
            vec = "-" if hit.get("vector_score") is None else f"{hit['vector_score']:.3f} (rank {hit['vector_rank']})"
            kw = "-" if hit.get("keyword_score") is None else f"{hit['keyword_score']:.3f} (rank {hit['keyword_rank']})"
            lines += ["", "[b]why it ranked[/]", f"vector similarity  {vec}", f"keyword (BM25)     {kw}",
                      f"fused (RRF)        {hit['fused']:.4f}"]
        emb = item["embedding"]
        lines += ["", f"[b]embedding[/] {'none' if emb is None else emb['model_fp']}"
                  + ("" if emb is None or emb["current"] else " [red](outdated)[/]")
                  + f"   in index: {'yes' if item['in_index'] else 'no'}"]
        lines += ["", f"[b]history[/] ({len(history)} version(s))"]
        for h in reversed(history[-8:]):
            preview = h["content"].replace("\n", " ")[:70]
            lines.append(f"v{h['version']} {h['status']:<11} {iso_utc(h['valid_from'])} {h['actor']}: {preview}")
        body.update("\n".join(lines))

    # ------------------------------------------------------------------ actions
    def _selected(self) -> tuple[str, str] | None:
        table = self.query_one("#results", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None
        if key is None:
            return None
        collection, item_key = key.split(SEP, 1)
        return collection, item_key

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one("#results", DataTable).focus()

    def action_open(self) -> None:
        self.query_one("#detail", VerticalScroll).focus()

    def action_copy_key(self) -> None:
        sel = self._selected()
        if sel:
            self.app.copy_to_clipboard(f"{sel[0]}/{sel[1]}")
            self.notify(f"copied key {sel[0]}/{sel[1]}")

    def action_copy_content(self) -> None:
        if self._current is not None:
            self.app.copy_to_clipboard(self._current["item"]["content"])
            self.notify("copied content")

    def _after_change(self, message: str) -> None:
        self._keep = self._selected()
        self.notify(message)
        self.run_query(self._page_starts[-1])

    def action_toggle_quarantine(self) -> None:
        core, sel = self.memapp.core, self._selected()
        if core is None or sel is None:
            return
        status = self._hits.get(f"{sel[0]}{SEP}{sel[1]}", {}).get("status")
        if status == "deleted":
            self.notify("deleted items cannot be quarantined; put the item again to revive it",
                        severity="warning")
            return
        new = "active" if status == "quarantined" else "quarantined"
        run_in_thread(self, lambda: core.set_status(sel[0], sel[1], new, reason="tui"),
                      lambda o: self._after_change(f"{sel[0]}/{sel[1]} is now {new}"), name="explorer-action")

    def action_delete(self) -> None:
        core, sel = self.memapp.core, self._selected()
        if core is None or sel is None:
            return

        def done(ok: bool | None) -> None:
            if ok:
                run_in_thread(self, lambda: core.delete(*sel),
                              lambda o: self._after_change(f"deleted {sel[0]}/{sel[1]}"), name="explorer-action")

        self.app.push_screen(ConfirmModal(
            "Delete item?", f"Delete {sel[0]}/{sel[1]}?\n\nIt leaves search and answers at once. Its "
            "versions stay in history and the deletion is audited.", "Delete"), done)

    def action_edit_metadata(self) -> None:
        core = self.memapp.core
        if core is None or self._current is None:
            return
        item = self._current["item"]
        target = f"{item['collection']}/{item['key']}"

        def done(meta: dict[str, Any] | None) -> None:
            if meta is None or meta == item["metadata"]:
                return
            run_in_thread(self, lambda: core.put(item["collection"], item["key"], item["content"], meta,
                                                 source=item["source"]),
                          lambda o: self._after_change(f"metadata of {target} saved as v{o.version}"),
                          name="explorer-action")

        self.app.push_screen(MetadataModal(target, item["metadata"]), done)

    def action_next_page(self) -> None:
        if self._query or not self._has_more or self._last_row is None:
            return
        self._page_starts.append(self._last_row)
        self.run_query(self._last_row)

    def action_prev_page(self) -> None:
        if self._query or len(self._page_starts) <= 1:
            return
        self._page_starts.pop()
        self.run_query(self._page_starts[-1])
