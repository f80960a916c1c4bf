"""Schema, migrations and the SQLModel mirror agree; SQLite settings are what durability needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.db import Database, migration_scripts, split_sql
from core.errors import StorageError
from core.models import TABLES


def test_migrations_create_every_sqlmodel_table_with_the_same_columns(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    assert db.migrate() == migration_scripts()[-1][0]
    with db.read() as conn:
        for model in TABLES:
            table = model.__tablename__
            cols = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            mirror = {c.name for c in model.__table__.columns}  # type: ignore[attr-defined]
            assert cols == mirror, f"{table}: SQL {sorted(cols)} != SQLModel {sorted(mirror)}"
    db.close()


def test_wal_and_synchronous_full(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db", synchronous="FULL")
    db.migrate()
    with db.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    db.close()


def test_migrate_is_idempotent_and_refuses_newer_schema(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    v = db.migrate()
    assert db.migrate() == v
    with db.write() as conn:
        conn.execute(f"PRAGMA user_version={v + 5}")
    with pytest.raises(StorageError, match="newer than this memdeck"):
        db.migrate()
    db.close()


def test_not_a_database_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    db = Database(path)
    with pytest.raises(StorageError, match="not a readable memdeck database"):
        db.migrate()
    db.close()


def test_split_sql_keeps_trigger_bodies_whole() -> None:
    sql = "CREATE TABLE a (x);\n-- comment\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  SELECT 1;\n  SELECT 2;\nEND;\n"
    parts = split_sql(sql)
    assert len(parts) == 2 and parts[1].startswith("CREATE TRIGGER") and parts[1].endswith("END;")


def test_fts_follows_items_through_triggers(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    db.migrate()
    with db.write() as conn:
        conn.execute("INSERT INTO items (id, collection, key, content, content_hash, version, status, created_at,"
                     " updated_at) VALUES (1, 'c', 'k', 'alpha bravo', 'h', 1, 'active', 0, 0)")
        conn.execute("UPDATE items SET content = 'charlie delta' WHERE id = 1")
    with db.read() as conn:
        def hits(word: str) -> int:
            return int(conn.execute("SELECT count(*) FROM items_fts WHERE items_fts MATCH ?", (word,)).fetchone()[0])
        assert hits("alpha") == 0 and hits("charlie") == 1
    db.close()
