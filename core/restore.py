"""Restore: stage, check, then swap the live data in with a journal, so a kill at any moment leaves the
old live data or the new, never a mix.

The live data is several files (database, index folder, config, privacy rules, audit archive), and
no single rename swaps them all. So the swap writes ``restore.journal`` (every rename, in order) before
the first rename, and ``Memdeck.open`` finishes an interrupted journal before it touches anything.
Every step is a rename that is either done or not, and replaying is idempotent. A kill before the
journal exists leaves the old data untouched; a kill after it is rolled forward to the new data.

No other process may have the data dir open while files move: every open holds a shared ``flock`` on
``.memdeck.lock``, and the swap needs it exclusively.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import tarfile
import zlib
from pathlib import Path
from typing import IO, Any

from core.errors import StorageError
from core.paths import atomic_write_bytes, fsync_dir

JOURNAL = "restore.journal"
LOCK = ".memdeck.lock"
LIVE_NAMES = ("memdeck.db", "memdeck.db-wal", "memdeck.db-shm", "index", "config.toml", "privacy.toml",
              "audit-archive")


def open_lock(root: Path, exclusive: bool, wait: bool = True) -> IO[str]:
    """The data dir's process lock: shared for every open Memdeck, exclusive for a restore's swap."""
    fh = open(root / LOCK, "a+")  # noqa: SIM115 - held for the lifetime of the Memdeck
    flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        fcntl.flock(fh.fileno(), flags | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        fh.close()
        raise StorageError("another memdeck process has this data dir open (the console, cron, a script)",
                           hint="close it, then run the restore again; nothing has been changed") from None
    return fh


def release_lock(fh: IO[str] | None) -> None:
    if fh is not None and not fh.closed:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


def _apply(moves: list[list[str]]) -> None:
    """Replay the journal's renames; safe to run again from the start after a kill at any point.

    A set-aside move ("aside": live file -> old folder) whose destination already exists was done
    before: the name at its source now holds the *restored* file and must stay. A move-in ("in": staged
    file -> live name) runs only while its source still exists."""
    for entry in moves:
        src, dst = Path(entry[0]), Path(entry[1])
        kind = entry[2] if len(entry) > 2 else "in"
        if not (src.exists() or src.is_symlink()):
            continue
        if dst.exists() or dst.is_symlink():
            if kind == "aside":
                continue
            if dst.is_dir():
                shutil.rmtree(dst)
            else:
                dst.unlink()
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)
        fsync_dir(dst.parent)


def recover(root: Path) -> str | None:
    """Finish a swap a kill interrupted (called by ``Memdeck.open`` under the lock); clean leftovers."""
    journal = root / JOURNAL
    message = None
    if journal.exists():
        try:
            plan = json.loads(journal.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StorageError(f"{journal} is unreadable ({exc}); an interrupted restore cannot be finished",
                               hint="restore again from the backup named in the audit log") from exc
        _apply(plan["moves"])
        journal.unlink()
        fsync_dir(root)
        shutil.rmtree(plan["old"], ignore_errors=True)
        shutil.rmtree(plan["staging"], ignore_errors=True)
        message = f"finished an interrupted restore of backup {plan['backup']}"
    return message


def clean_strays(root: Path) -> None:
    """Staging and set-aside folders of restores killed before or after their journal (exclusive lock held)."""
    for pattern in (".restore-*", ".pre-restore-*"):
        for stray in root.glob(pattern):
            shutil.rmtree(stray, ignore_errors=True)


def clean_strays_except(root: Path, keep: Path) -> None:
    for pattern in (".restore-*", ".pre-restore-*"):
        for stray in root.glob(pattern):
            if stray != keep:
                shutil.rmtree(stray, ignore_errors=True)


def open_shared(root: Path) -> IO[str]:
    """Take the shared lock every open Memdeck holds, first finishing any interrupted restore."""
    while True:
        if (root / JOURNAL).exists():
            ex = open_lock(root, exclusive=True)
            try:
                recover(root)
            finally:
                release_lock(ex)
        fh = open_lock(root, exclusive=False)
        if not (root / JOURNAL).exists():
            return fh
        release_lock(fh)


def swap(root: Path, staging: Path, backup_id: str) -> None:
    """Journal, then rename the live files aside and the staged ones in (caller holds the exclusive lock)."""
    old = root / f".pre-restore-{backup_id}"
    moves = [[str(root / n), str(old / n), "aside"] for n in LIVE_NAMES if (root / n).exists()]
    moves += [[str(staging / n), str(root / n), "in"] for n in LIVE_NAMES if (staging / n).exists()]
    plan = {"backup": backup_id, "old": str(old), "staging": str(staging), "moves": moves}
    atomic_write_bytes(root / JOURNAL, json.dumps(plan, indent=1).encode("utf-8"))
    _apply(moves)
    (root / JOURNAL).unlink()
    fsync_dir(root)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)


def extract(archive: Path, staging: Path) -> dict[str, Any]:
    """Unpack an archive (already verified) into ``staging``; returns its manifest."""
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(staging, filter="data")
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise StorageError(f"{archive.name} is damaged ({exc}); nothing was restored") from exc
    manifest: dict[str, Any] = json.loads((staging / "manifest.json").read_text(encoding="utf-8"))
    (staging / "manifest.json").unlink()
    return manifest


def live_marks(db_path: Path) -> tuple[int, int]:
    """(latest change seq, latest audit seq): equal before and after = nobody wrote in between."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        ch = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        au = conn.execute("SELECT max(seq) FROM audit_events").fetchone()
        return (int(ch[0]) if ch else 0, int(au[0] or 0))
    finally:
        conn.close()


def diff(live_db: Path, staged_db: Path, samples: int = 20) -> dict[str, Any]:
    """What a restore would change, per collection: items added, removed and changed."""
    conn = sqlite3.connect(f"file:{live_db}?mode=ro", uri=True)
    try:
        conn.execute("ATTACH DATABASE ? AS b", (f"file:{staged_db}?mode=ro",))
        join = "l.collection = b.collection AND l.key = b.key"
        changed_if = "(l.content_hash != b.content_hash OR l.status != b.status OR l.metadata != b.metadata)"
        collections = sorted({r[0] for r in conn.execute(
            "SELECT collection FROM main.items UNION SELECT collection FROM b.items")})
        per: list[dict[str, Any]] = []
        sample: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
        for coll in collections:
            live_n = conn.execute("SELECT count(*) FROM main.items WHERE collection = ?", (coll,)).fetchone()[0]
            back_n = conn.execute("SELECT count(*) FROM b.items WHERE collection = ?", (coll,)).fetchone()[0]
            added = conn.execute(f"SELECT b.key FROM b.items b LEFT JOIN main.items l ON {join} WHERE b.collection = ?"
                                 " AND l.id IS NULL ORDER BY b.key", (coll,)).fetchall()
            removed = conn.execute(f"SELECT l.key FROM main.items l LEFT JOIN b.items b ON {join}"
                                   " WHERE l.collection = ? AND b.id IS NULL ORDER BY l.key", (coll,)).fetchall()
            changed = conn.execute(f"SELECT l.key FROM main.items l JOIN b.items b ON {join} WHERE l.collection = ?"
                                   f" AND {changed_if} ORDER BY l.key", (coll,)).fetchall()
            per.append({"collection": coll, "live": live_n, "backup": back_n, "added": len(added),
                        "removed": len(removed), "changed": len(changed)})
            for name, rows in (("added", added), ("removed", removed), ("changed", changed)):
                room = samples - len(sample[name])
                sample[name].extend(f"{coll}/{r[0]}" for r in rows[:max(0, room)])
        totals = {k: sum(p[k] for p in per) for k in ("live", "backup", "added", "removed", "changed")}
        return {"collections": per, "totals": totals, "samples": sample}
    finally:
        conn.close()
