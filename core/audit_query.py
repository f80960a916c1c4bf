"""Reading the audit log: filters, pages for a virtual table, live tail, and redacted exports.

One ``AuditFilter`` serves the CLI flags, the Audit Log screen's filter line and exports, so the
same question gives the same rows everywhere.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from core.audit import OUTCOMES
from core.db import Database
from core.errors import InvalidInput
from core.privacy import PrivacyRules

COLUMNS = ("seq", "at", "actor", "action", "target", "outcome", "details", "prev_hash", "hash")
_REL = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, now: float | None = None) -> float:
    """``2h``/``7d`` (ago), an ISO date or datetime (UTC unless it has an offset), or epoch seconds."""
    raw = str(text).strip()
    m = _REL.match(raw.lower())
    if m:
        return (now if now is not None else time.time()) - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise InvalidInput(f"cannot read time {text!r}: not a finite number")
        return value
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"cannot read time {text!r}",
                           hint="use 30m, 2h, 7d, an ISO date like 2026-11-01 or 2026-11-01T09:30") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@dataclass(frozen=True)
class AuditFilter:
    """Which events: each field narrows; ``action`` and ``target`` accept ``*`` wildcards."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None
    after_seq: int | None = None

    def __post_init__(self) -> None:
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}, got {self.outcome!r}")

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if self.actor:
            if "*" in self.actor:
                clauses.append("actor GLOB ?")
                args.append(self.actor)
            else:
                # "alice" matches alice and alice@10.0.0.5 (SSH sessions)
                clauses.append("(actor = ? OR actor GLOB ?)")
                args.extend([self.actor, _glob_escape(self.actor) + "@*"])
        if self.action:
            if "*" in self.action:
                clauses.append("action GLOB ?")
            else:
                clauses.append("action = ?")
            args.append(self.action)
        if self.target:
            clauses.append("target GLOB ?" if "*" in self.target else "target = ?")
            args.append(self.target)
        if self.outcome:
            clauses.append("outcome = ?")
            args.append(self.outcome)
        if self.since is not None:
            clauses.append("at >= ?")
            args.append(self.since)
        if self.until is not None:
            clauses.append("at < ?")
            args.append(self.until)
        if self.text:
            # SQLite's lower() folds ASCII only; fold the needle the same way so "Über" finds "Über".
            clauses.append("instr(lower(details), ?) > 0")
            args.append("".join(c.lower() if c.isascii() else c for c in self.text))
        if self.after_seq is not None:
            clauses.append("seq > ?")
            args.append(self.after_seq)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def describe(self) -> str:
        parts = [f"{k}:{v}" for k, v in (("actor", self.actor), ("action", self.action), ("target", self.target),
                                          ("outcome", self.outcome)) if v]
        if self.since is not None:
            parts.append("since:" + datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%dT%H:%M"))
        if self.until is not None:
            parts.append("until:" + datetime.fromtimestamp(self.until, UTC).strftime("%Y-%m-%dT%H:%M"))
        if self.text:
            parts.append(shlex.quote(self.text))
        return " ".join(parts)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


FILTER_KEYS = ("actor", "action", "target", "outcome", "since", "until")


def parse_filter(text: str, now: float | None = None) -> AuditFilter:
    """The Audit Log screen's filter line: ``actor:alice action:memory.* since:2h "free text"``.

    Words without a ``key:`` prefix are searched for in event details."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InvalidInput(f"cannot read filter: {exc}", hint='close the quote, e.g. "free text"') from None
    values: dict[str, Any] = {}
    free: list[str] = []
    for word in words:
        key, sep, value = word.partition(":")
        if sep and key.lower() in FILTER_KEYS and value:
            k = key.lower()
            values[k] = parse_time(value, now) if k in ("since", "until") else value
        else:
            free.append(word)
    if free:
        values["text"] = " ".join(free)
    return AuditFilter(**values)


class AuditReader:
    """Queries over the live audit table."""

    def __init__(self, db: Database, rules: PrivacyRules) -> None:
        self.db = db
        self.rules = rules

    def matching_seqs(self, flt: AuditFilter, limit: int | None = None) -> list[int]:
        """Every matching seq, newest first: 8 bytes per event, so a virtual table can jump anywhere."""
        where, args = flt.where()
        sql = f"SELECT seq FROM audit_events{where} ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args = [*args, limit]
        with self.db.read() as conn:
            return [r[0] for r in conn.execute(sql, args)]

    def rows(self, seqs: list[int], redacted: bool = True) -> list[dict[str, Any]]:
        """Full events for ``seqs`` (in that order)."""
        if not seqs:
            return []
        out: dict[int, dict[str, Any]] = {}
        with self.db.read() as conn:
            for i in range(0, len(seqs), 500):
                chunk = seqs[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for r in conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_events WHERE seq IN ({marks})", chunk):
                    out[r[0]] = self._row(r, redacted)
        return [out[s] for s in seqs if s in out]

    def _row(self, r: tuple[Any, ...], redacted: bool) -> dict[str, Any]:
        ev = dict(zip(COLUMNS, r, strict=True))
        try:
            details = json.loads(ev["details"])
        except ValueError:
            details = {"unparseable": ev["details"]}
        if redacted:
            details = self.rules.redact(details)
            ev["actor"] = self.rules.redact_text(ev["actor"])
            ev["target"] = self.rules.redact_text(ev["target"])
        ev["details"] = details
        return ev

    def query(self, flt: AuditFilter, limit: int = 100, redacted: bool = True) -> list[dict[str, Any]]:
        """The newest ``limit`` matching events, newest first."""
        return self.rows(self.matching_seqs(flt, limit), redacted)

    def head_seq(self) -> int:
        with self.db.read() as conn:
            row = conn.execute("SELECT max(seq) FROM audit_events").fetchone()
        return int(row[0] or 0)

    def follow(self, flt: AuditFilter, after_seq: int, redacted: bool = True) -> list[dict[str, Any]]:
        """Events newer than ``after_seq`` matching ``flt``, oldest first (for a live tail)."""
        seqs = self.matching_seqs(replace(flt, after_seq=after_seq))
        return self.rows(list(reversed(seqs)), redacted)

    def counts(self) -> dict[str, Any]:
        with self.db.read() as conn:
            total, lo, hi = conn.execute("SELECT count(*), min(seq), max(seq) FROM audit_events").fetchone()
            by_outcome = dict(conn.execute("SELECT outcome, count(*) FROM audit_events GROUP BY outcome").fetchall())
            seg = conn.execute("SELECT count(*), coalesce(sum(events), 0) FROM audit_segments").fetchone()
        return {"live": int(total), "first_seq": lo, "last_seq": hi, "by_outcome": by_outcome,
                "segments": int(seg[0]), "archived": int(seg[1])}

    def export_lines(self, flt: AuditFilter, fmt: str, redacted: bool = True) -> Iterator[str]:
        """Matching events oldest first, as JSON lines or CSV (header first), in pages."""
        if fmt not in ("jsonl", "csv"):
            raise InvalidInput(f"export format must be jsonl or csv, got {fmt!r}")
        seqs = list(reversed(self.matching_seqs(flt)))
        if fmt == "csv":
            yield _csv_line([*COLUMNS, "at_utc"])
        for i in range(0, len(seqs), 2000):
            for ev in self.rows(seqs[i:i + 2000], redacted):
                ev["at_utc"] = datetime.fromtimestamp(ev["at"], UTC).isoformat(timespec="microseconds")
                if fmt == "jsonl":
                    yield json.dumps(ev, ensure_ascii=False, sort_keys=True) + "\n"
                else:
                    ev["details"] = json.dumps(ev["details"], ensure_ascii=False, sort_keys=True)
                    yield _csv_line([ev[c] for c in (*COLUMNS, "at_utc")])


def _csv_line(values: list[Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    # Spreadsheet formula injection: a leading = + - @ would run as a formula when opened.
    writer.writerow([("'" + v) if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in values])
    return buf.getvalue()
