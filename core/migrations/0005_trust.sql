-- Trust scores, review decisions and contradictions (issue 7). See docs/design-trust.md.

-- The current score of each scored item, with what it was made of, so it explains itself.
CREATE TABLE trust_scores (
    item_id            INTEGER PRIMARY KEY,
    score              REAL    NOT NULL,
    method             TEXT    NOT NULL CHECK (method IN ('formula', 'learned')),
    components         TEXT    NOT NULL,
    inputs             TEXT    NOT NULL,
    item_version       INTEGER NOT NULL,
    computed_at        REAL    NOT NULL,
    quarantine_reason  TEXT,
    policy_quarantined INTEGER NOT NULL DEFAULT 0 CHECK (policy_quarantined IN (0, 1)),
    hold_version       INTEGER
);
CREATE INDEX ix_trust_scores_score ON trust_scores (score);

-- Appended when an item's score moves by at least 0.01: the per-item trend.
CREATE TABLE trust_history (
    item_id INTEGER NOT NULL,
    at      REAL    NOT NULL,
    score   REAL    NOT NULL,
    PRIMARY KEY (item_id, at)
) WITHOUT ROWID;

-- One row per collection per recompute pass: the dashboard's trend sparklines.
CREATE TABLE trust_collection_history (
    at          REAL    NOT NULL,
    collection  TEXT    NOT NULL,
    n           INTEGER NOT NULL,
    avg         REAL    NOT NULL,
    low         INTEGER NOT NULL,
    high        INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    PRIMARY KEY (collection, at)
) WITHOUT ROWID;

-- Every admin decision on an item; the latest per item counts. ``features`` are the learned model's
-- inputs when the decision was made, so the model trains on what the admin saw.
CREATE TABLE trust_reviews (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id      INTEGER NOT NULL,
    item_version INTEGER NOT NULL,
    verdict      TEXT    NOT NULL CHECK (verdict IN ('approved', 'rejected')),
    note         TEXT    NOT NULL DEFAULT '',
    actor        TEXT    NOT NULL DEFAULT '',
    at           REAL    NOT NULL,
    features     TEXT    NOT NULL
);
CREATE INDEX ix_trust_reviews_item ON trust_reviews (item_id, id);

-- a_id < b_id for two items; a_id = b_id for a version conflict (a is the older version). The two
-- content hashes make a pair unique, so the same texts are never raised twice.
CREATE TABLE contradictions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    a_id        INTEGER NOT NULL,
    a_version   INTEGER NOT NULL,
    a_hash      TEXT    NOT NULL,
    b_id        INTEGER NOT NULL,
    b_version   INTEGER NOT NULL,
    b_hash      TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    score       REAL    NOT NULL,
    findings    TEXT    NOT NULL,
    method      TEXT    NOT NULL CHECK (method IN ('rules', 'judge')),
    status      TEXT    NOT NULL CHECK (status IN ('open', 'resolved', 'dismissed')),
    found_at    REAL    NOT NULL,
    resolved_at REAL,
    resolved_by TEXT,
    resolution  TEXT,
    UNIQUE (a_id, b_id, a_hash, b_hash)
);
CREATE INDEX ix_contradictions_status ON contradictions (status, score);
CREATE INDEX ix_contradictions_b ON contradictions (b_id, status);

-- The optional local-model judge's verdicts, keyed by the pair's content hashes.
CREATE TABLE judge_cache (
    pair_hash TEXT    PRIMARY KEY,
    conflict  INTEGER NOT NULL CHECK (conflict IN (0, 1)),
    score     REAL    NOT NULL,
    reason    TEXT    NOT NULL DEFAULT '',
    model     TEXT    NOT NULL,
    at        REAL    NOT NULL
);
