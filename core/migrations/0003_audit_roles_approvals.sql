-- Audit trail v2: a cheaper canonical encoding (hv = 2; older events keep hv = 1 and their original
-- hashes, so no history is rewritten), filter indexes for the Audit Log screen, sealed archive
-- segments, and two-person approvals.
ALTER TABLE audit_events ADD COLUMN hv INTEGER NOT NULL DEFAULT 1;
CREATE INDEX ix_audit_actor ON audit_events (actor, seq);
CREATE INDEX ix_audit_outcome ON audit_events (outcome, seq);
CREATE INDEX ix_audit_at ON audit_events (at);

-- One row per archived segment file: the live chain's checkpoint into the archive. Verification
-- walks these in order, checks each file's SHA-256 and inner chain, then continues into the live table.
CREATE TABLE audit_segments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    file            TEXT    NOT NULL UNIQUE,
    first_seq       INTEGER NOT NULL,
    last_seq        INTEGER NOT NULL,
    first_prev_hash TEXT    NOT NULL,
    last_hash       TEXT    NOT NULL,
    events          INTEGER NOT NULL,
    sha256          TEXT    NOT NULL,
    archived_at     REAL    NOT NULL,
    archived_by     TEXT    NOT NULL
);

-- Two-person approval: one admin requests, a different admin approves, then the action runs.
CREATE TABLE approvals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    action       TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    params       TEXT    NOT NULL,
    requested_by TEXT    NOT NULL,
    requested_at REAL    NOT NULL,
    expires_at   REAL    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'pending',
    decided_by   TEXT,
    decided_at   REAL,
    note         TEXT    NOT NULL DEFAULT '',
    result       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX ix_approvals_status ON approvals (status, id);
