-- Episodes (issue 6): every ask and every imported chat turn, the memories it used (and which
-- version of each), and the user's ratings. See docs/design-ask.md.
CREATE TABLE episodes (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    session           TEXT    NOT NULL,
    kind              TEXT    NOT NULL CHECK (kind IN ('ask', 'import')),
    started_at        REAL    NOT NULL,
    finished_at       REAL    NOT NULL,
    question          TEXT    NOT NULL,
    answer            TEXT    NOT NULL DEFAULT '',
    answer_mode       TEXT    NOT NULL CHECK (answer_mode IN ('memory', 'model-only', 'retrieval-only', 'error')),
    model             TEXT,
    adapter           TEXT,
    timings           TEXT    NOT NULL DEFAULT '{}',
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cache_hit         INTEGER NOT NULL DEFAULT 0 CHECK (cache_hit IN (0, 1)),
    fallback          TEXT,
    error             TEXT,
    actor             TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX ix_episodes_started ON episodes (started_at);
CREATE INDEX ix_episodes_session ON episodes (session, started_at);
CREATE INDEX ix_episodes_kind_started ON episodes (kind, started_at);

-- Which memories an episode retrieved, at which version. No foreign key to items: a purge erases the
-- item but the episode still records that something was used (get() shows it as gone).
CREATE TABLE episode_items (
    episode_id INTEGER NOT NULL REFERENCES episodes (id),
    item_id    INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    rank       INTEGER NOT NULL,
    score      REAL    NOT NULL DEFAULT 0,
    cited      INTEGER NOT NULL DEFAULT 0 CHECK (cited IN (0, 1)),
    PRIMARY KEY (episode_id, item_id)
) WITHOUT ROWID;
CREATE INDEX ix_episode_items_item ON episode_items (item_id, episode_id);

-- Every rating is kept (who changed their mind is history too); the latest per episode counts.
CREATE TABLE feedback (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    episode_id INTEGER NOT NULL REFERENCES episodes (id),
    rating     INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    comment    TEXT    NOT NULL DEFAULT '',
    actor      TEXT    NOT NULL DEFAULT '',
    at         REAL    NOT NULL
);
CREATE INDEX ix_feedback_episode ON feedback (episode_id, id);
