"""SQLModel mirrors of the tables created by ``core/migrations``.

The SQL files are the schema's single authority (they can express FTS5, triggers and WITHOUT ROWID);
these classes give typed rows to read paths. ``tests/test_db.py`` checks that both agree column by column.
Hot write paths use plain SQL on the same connection for speed (see ``core.store``).
"""

from __future__ import annotations

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel


class Item(SQLModel, table=True):
    __tablename__ = "items"

    id: int | None = Field(default=None, primary_key=True)
    collection: str
    key: str
    content: str
    meta: str = Field(default="{}", sa_column=Column("metadata", Text, nullable=False))
    source: str = ""
    content_hash: str
    version: int
    status: str
    created_at: float
    updated_at: float


class ItemVersion(SQLModel, table=True):
    __tablename__ = "item_versions"

    item_id: int = Field(primary_key=True)
    version: int = Field(primary_key=True)
    content: str
    meta: str = Field(sa_column=Column("metadata", Text, nullable=False))
    source: str
    content_hash: str
    status: str
    valid_from: float
    change_seq: int
    actor: str = ""


class Embedding(SQLModel, table=True):
    __tablename__ = "embeddings"

    item_id: int = Field(primary_key=True)
    content_hash: str
    model_fp: str
    dim: int
    vector: bytes


class Change(SQLModel, table=True):
    __tablename__ = "changes"

    seq: int | None = Field(default=None, primary_key=True)
    item_id: int
    op: str
    version: int
    at: float


class Heartbeat(SQLModel, table=True):
    __tablename__ = "heartbeats"

    id: int | None = Field(default=None, primary_key=True)
    started_at: float
    duration_ms: float
    missing: int
    orphaned: int
    stale: int
    repaired: int
    trigger: str
    error: str | None = None
    details: str = "{}"


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    seq: int | None = Field(default=None, primary_key=True)
    at: float
    actor: str
    action: str
    target: str
    outcome: str
    details: str
    prev_hash: str
    hash: str
    hv: int = 1


class AuditSegment(SQLModel, table=True):
    __tablename__ = "audit_segments"

    id: int | None = Field(default=None, primary_key=True)
    file: str
    first_seq: int
    last_seq: int
    first_prev_hash: str
    last_hash: str
    events: int
    sha256: str
    archived_at: float
    archived_by: str


class Approval(SQLModel, table=True):
    __tablename__ = "approvals"

    id: int | None = Field(default=None, primary_key=True)
    action: str
    target: str
    params: str
    requested_by: str
    requested_at: float
    expires_at: float
    status: str = "pending"
    decided_by: str | None = None
    decided_at: float | None = None
    note: str = ""
    result: str = ""


class Meta(SQLModel, table=True):
    __tablename__ = "meta"

    key: str = Field(primary_key=True)
    value: str


class Episode(SQLModel, table=True):
    __tablename__ = "episodes"

    id: int | None = Field(default=None, primary_key=True)
    session: str
    kind: str
    started_at: float
    finished_at: float
    question: str
    answer: str = ""
    answer_mode: str
    model: str | None = None
    adapter: str | None = None
    timings: str = "{}"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hit: int = 0
    fallback: str | None = None
    error: str | None = None
    actor: str = ""


class EpisodeItemRow(SQLModel, table=True):
    __tablename__ = "episode_items"

    episode_id: int = Field(primary_key=True)
    item_id: int = Field(primary_key=True)
    version: int
    rank: int
    score: float = 0.0
    cited: int = 0


class Feedback(SQLModel, table=True):
    __tablename__ = "feedback"

    id: int | None = Field(default=None, primary_key=True)
    episode_id: int
    rating: int
    comment: str = ""
    actor: str = ""
    at: float


TABLES = (Item, ItemVersion, Embedding, Change, Heartbeat, AuditEvent, AuditSegment, Approval, Meta,
          Episode, EpisodeItemRow, Feedback)
