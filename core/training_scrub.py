"""Erasure reaches the training archives: a purged item's text leaves every archived buffer.

A run archives its buffer (``<data>/adapters/archive/run-N-buffer.jsonl``) so what it learned from can
be inspected. Those lines repeat memory text: the item's own samples (``source`` names it) and grounded
samples of other items that showed it as a note. Purge removes both, before the database purge, so
a crash in between leaves an archive short of lines about an item that still exists, never erased text
in an archive. What an adapter already learned cannot be scrubbed from its weights: purge reports the
promoted runs that trained on the item, so an admin can roll back past them.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from core.paths import atomic_write_bytes

log = logging.getLogger(__name__)

ARCHIVE_DIR = Path("adapters") / "archive"
PROBE_CHARS = 60  # a note or answer starts with the item's first words (whitespace collapsed)


def item_texts(conn: sqlite3.Connection, item_id: int) -> list[str]:
    """The opening words of every version of the item: what an archived line would repeat."""
    rows = conn.execute("SELECT DISTINCT content FROM item_versions WHERE item_id = ?", (item_id,)).fetchall()
    out = {" ".join(str(r[0]).split())[:PROBE_CHARS] for r in rows}
    return sorted(t for t in out if len(t) >= 12)  # a very short text would match unrelated lines


def runs_trained_on(conn: sqlite3.Connection, item_id: int) -> list[int]:
    """Promoted runs whose adapters learned from any version of the item."""
    rows = conn.execute("SELECT DISTINCT run_id FROM training_marks WHERE kind = 'item' AND ref_id = ?"
                        " ORDER BY run_id", (item_id,)).fetchall()
    return [int(r[0]) for r in rows]


def _mentions(row: dict[str, Any], label: str, texts: list[str]) -> bool:
    source = str(row.get("source", ""))
    if source.split("/", 1)[-1].startswith(label) or source.startswith(label):
        return True
    body = " ".join(f"{row.get('question', '')} {row.get('answer', '')}".split())
    return any(t in body for t in texts)


def scrub_archives(root: Path, collection: str, key: str, texts: list[str]) -> int:
    """Drop the archived lines about ``collection/key`` (by source label or by its text); returns how
    many. Each file is rewritten atomically; an unreadable line is kept (it is not ours to judge)."""
    folder = root / ARCHIVE_DIR
    if not folder.is_dir():
        return 0
    label = f"{collection}/{key}@v"
    removed = 0
    for path in sorted(folder.glob("*.jsonl")):
        kept: list[str] = []
        dropped = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                kept.append(line)
                continue
            if isinstance(row, dict) and _mentions(row, label, texts):
                dropped += 1
            else:
                kept.append(line)
        if dropped:
            atomic_write_bytes(path, "".join(f"{x}\n" for x in kept).encode("utf-8"))
            removed += dropped
    if removed:
        log.info("purge of %s/%s removed %d archived training line(s)", collection, key, removed)
    return removed
