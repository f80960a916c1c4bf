-- Training runs (issue 8): the nightly LoRA loop's runs, what each promoted run learned from, and the
-- morning validation per day. See docs/design-training.md.
CREATE TABLE training_runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    status           TEXT    NOT NULL CHECK (status IN ('running', 'promoted', 'rolled_back', 'failed',
                                                        'cancelled', 'empty')),
    trigger          TEXT    NOT NULL CHECK (trigger IN ('manual', 'schedule')),
    started_at       REAL    NOT NULL,
    finished_at      REAL,
    pid              INTEGER NOT NULL DEFAULT 0,
    actor            TEXT    NOT NULL DEFAULT '',
    settings         TEXT    NOT NULL DEFAULT '{}',
    samples          INTEGER NOT NULL DEFAULT 0,
    replay           INTEGER NOT NULL DEFAULT 0,
    probes           INTEGER NOT NULL DEFAULT 0,
    steps            INTEGER NOT NULL DEFAULT 0,
    losses           TEXT    NOT NULL DEFAULT '[]',
    base_model       TEXT    NOT NULL DEFAULT '',
    previous_adapter TEXT,
    previous_sha     TEXT,
    adapter          TEXT,
    adapter_sha      TEXT,
    gate             TEXT    NOT NULL DEFAULT '{}',
    reasons          TEXT    NOT NULL DEFAULT '[]',
    error            TEXT,
    buffer_path      TEXT,
    log              TEXT    NOT NULL DEFAULT '[]',
    rolled_back_at   REAL
);
CREATE INDEX ix_training_runs_status ON training_runs (status, id);

-- What a promoted run trained on: an item version or an episode is used once, then it is history.
CREATE TABLE training_marks (
    kind    TEXT    NOT NULL CHECK (kind IN ('item', 'episode')),
    ref_id  INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    run_id  INTEGER NOT NULL REFERENCES training_runs (id),
    PRIMARY KEY (kind, ref_id, version)
) WITHOUT ROWID;
CREATE INDEX ix_training_marks_run ON training_marks (run_id);

-- Morning validation: the challenge set through the live model, one row per check.
CREATE TABLE training_validations (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       REAL    NOT NULL,
    day      TEXT    NOT NULL,
    model    TEXT    NOT NULL DEFAULT '',
    adapter  TEXT,
    run_id   INTEGER,
    passed   INTEGER NOT NULL,
    total    INTEGER NOT NULL,
    rate     REAL    NOT NULL,
    details  TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_training_validations_day ON training_validations (day, id);
