-- memdeck schema v1. Migrations are versioned SQL files applied in order; PRAGMA user_version
-- records the last one applied. core/models.py mirrors these tables (a test checks they agree).

CREATE TABLE items (
    id           INTEGER PRIMARY KEY,
    collection   TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    content      TEXT    NOT NULL,
    metadata     TEXT    NOT NULL DEFAULT '{}',
    source       TEXT    NOT NULL DEFAULT '',
    content_hash TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('active', 'quarantined', 'deleted')),
    created_at   REAL    NOT NULL,
    updated_at   REAL    NOT NULL,
    UNIQUE (collection, key)
);
CREATE INDEX ix_items_status ON items (status, id);
CREATE INDEX ix_items_source ON items (collection, source);
CREATE INDEX ix_items_updated ON items (updated_at);

-- Every version of every item, current one included, so history and "as of" reads are plain queries.
CREATE TABLE item_versions (
    item_id      INTEGER NOT NULL REFERENCES items (id),
    version      INTEGER NOT NULL,
    content      TEXT    NOT NULL,
    metadata     TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    content_hash TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    valid_from   REAL    NOT NULL,
    change_seq   INTEGER NOT NULL,
    actor        TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (item_id, version)
) WITHOUT ROWID;

-- Embeddings live in their own table: a 1.5 KB blob inside the item row pushes rows past half a page.
CREATE TABLE embeddings (
    item_id      INTEGER PRIMARY KEY REFERENCES items (id),
    content_hash TEXT    NOT NULL,
    model_fp     TEXT    NOT NULL,
    dim          INTEGER NOT NULL,
    vector       BLOB    NOT NULL
);
CREATE INDEX ix_embeddings_hash ON embeddings (content_hash, model_fp);

-- The change log the vector index replays; AUTOINCREMENT keeps sequence numbers monotonic forever.
CREATE TABLE changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL,
    op      TEXT    NOT NULL,
    version INTEGER NOT NULL,
    at      REAL    NOT NULL
);

CREATE TABLE heartbeats (
    id          INTEGER PRIMARY KEY,
    started_at  REAL    NOT NULL,
    duration_ms REAL    NOT NULL,
    missing     INTEGER NOT NULL,
    orphaned    INTEGER NOT NULL,
    stale       INTEGER NOT NULL,
    repaired    INTEGER NOT NULL,
    trigger     TEXT    NOT NULL,
    error       TEXT,
    details     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_heartbeats_started ON heartbeats (started_at);

-- Hash-chained audit trail, appended in the same transaction as the change it describes.
CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        REAL    NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    outcome   TEXT    NOT NULL,
    details   TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX ix_audit_action ON audit_events (action, seq);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Keyword search. External-content FTS5 kept in step by triggers, so it can never lag the items.
CREATE VIRTUAL TABLE items_fts USING fts5 (
    key, content, content = 'items', content_rowid = 'id', tokenize = 'porter unicode61'
);
CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts (rowid, key, content) VALUES (new.id, new.key, new.content);
END;
CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, key, content) VALUES ('delete', old.id, old.key, old.content);
END;
CREATE TRIGGER items_fts_update AFTER UPDATE OF key, content ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, key, content) VALUES ('delete', old.id, old.key, old.content);
    INSERT INTO items_fts (rowid, key, content) VALUES (new.id, new.key, new.content);
END;
