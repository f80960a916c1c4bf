"""The SQLite engine: WAL mode, durable commits, one writer at a time, versioned migrations.

SQLite is memdeck's single source of truth. Writers serialise on a process lock *and* SQLite's own
``BEGIN IMMEDIATE`` (other processes), so a transaction never fails half-way on a lock upgrade.
Readers take their own pooled connections; nothing shares a connection across threads.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from core.errors import StorageError

if TYPE_CHECKING:
    from sqlmodel import Session


def _storage_error(exc: sqlite3.Error, path: Path) -> StorageError:
    text = str(exc)
    if "disk is full" in text or "database or disk is full" in text:
        return StorageError(f"the disk holding {path} is full; nothing was written",
                            hint="free some space, then retry the same command")
    if "locked" in text or "busy" in text:
        return StorageError(f"{path} is locked by another writer for too long",
                            hint="another memdeck process is writing; retry, or raise storage.busy_timeout_ms")
    if "not a database" in text or "malformed" in text:
        return StorageError(f"{path} is not a readable memdeck database ({text})",
                            hint="restore from a backup, or point --data-dir at another folder")
    if "readonly" in text or "read-only" in text:
        return StorageError(f"{path} is read-only; nothing was written", hint="check the file's permissions")
    return StorageError(f"database error on {path}: {text}")


def migration_scripts() -> list[tuple[int, str, str]]:
    """(version, name, sql) for each ``core/migrations/NNNN_name.sql``, in order."""
    out = []
    for entry in resources.files("core.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(out)


def split_sql(script: str) -> list[str]:
    """Split a script into complete statements (trigger bodies contain semicolons)."""
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if not buf and line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in buf.splitlines()):
        raise ValueError(f"incomplete SQL statement at end of migration: {buf[:80]!r}")
    return statements


class Database:
    """Engine plus the two ways in: ``write()`` (serialised transaction) and ``read()`` (snapshot)."""

    def __init__(self, path: Path, *, synchronous: str = "FULL", busy_timeout_ms: int = 10_000) -> None:
        self.path = path
        self._write_lock = threading.RLock()
        self.engine: Engine = create_engine(
            f"sqlite:///{path}",
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            pool_size=8,
            max_overflow=16,
        )

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            # Autocommit at the driver level; transactions are begun explicitly below, so pysqlite's
            # implicit BEGIN never surprises us and BEGIN IMMEDIATE is possible.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA cache_size=-32000")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

    @contextmanager
    def _raw(self) -> Iterator[sqlite3.Connection]:
        try:
            proxy = self.engine.raw_connection()
        except sqlite3.Error as exc:
            raise _storage_error(exc, self.path) from exc
        except Exception as exc:  # SQLAlchemy wraps driver errors
            orig = getattr(exc, "orig", None)
            if isinstance(orig, sqlite3.Error):
                raise _storage_error(orig, self.path) from exc
            raise
        try:
            conn = proxy.driver_connection
            assert isinstance(conn, sqlite3.Connection)
            yield conn
        finally:
            proxy.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One serialised transaction; commit is the acknowledgement, any error rolls it all back."""
        with self._write_lock, self._raw() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _storage_error(exc, self.path) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise _storage_error(exc, self.path) from exc
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same snapshot."""
        with self._raw() as conn:
            try:
                conn.execute("BEGIN")
                yield conn
            except sqlite3.Error as exc:
                raise _storage_error(exc, self.path) from exc
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def session(self) -> Session:
        """An SQLModel session for typed reads (imported lazily: SQLModel costs ~0.3 s to import)."""
        from sqlmodel import Session

        return Session(self.engine)

    def schema_version(self) -> int:
        with self._raw() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> int:
        """Apply pending migrations in one transaction each; refuse a database newer than this code."""
        scripts = migration_scripts()
        latest = scripts[-1][0] if scripts else 0
        with self.write() as conn:
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if current > latest:
                raise StorageError(
                    f"{self.path} has schema v{current}, newer than this memdeck understands (v{latest})",
                    hint="upgrade memdeck before opening this data dir",
                )
            for version, _name, sql in scripts:
                if version <= current:
                    continue
                for statement in split_sql(sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={version}")
                current = version
        return current

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total

    def close(self) -> None:
        self.engine.dispose()
