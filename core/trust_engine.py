"""One trust pass: find contradictions among what changed, score every item, apply the quarantine policy.

A pass has three steps so the writer lock is held only for writing:
1. scan (read): each changed item's nearest neighbours in the vector index (within and across
   collections), the items about the subjects it names and the items that name its subject (key
   subjects such as ``sparrow`` in ``project.sparrow.scope``), the current state of the people and
   things it names, and its previous version go through the deterministic checks of
   ``core.contradictions`` (and optionally the model judge); agreeing close neighbours corroborate it.
2. record (write): new contradictions are stored and alerted; open ones whose texts changed are
   closed as superseded.
3. score (read, then write): every active or quarantined item gets its components and score; policy
   quarantines low-trust items and the less trusted side of a strong contradiction, and lets go of
   items it quarantined once the reason is gone. History, collection trends and alerts are appended.

``core.trust`` holds the maths and ``core.trust_store`` the SQL; this module only decides what to
compute and when. See docs/design-trust.md.
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core import audit, store, trust
from core import contradictions as checks
from core import trust_store as ts
from core.facade_ask import set_meta
from core.rag import expand

if TYPE_CHECKING:
    from core.memdeck import Memdeck
    from core.workers import Job

log = logging.getLogger(__name__)

ALERTS_PER_PASS = 20  # beyond this, one summary alert: a first scan must not bury the audit log
META_SEQ = "trust.seq"
META_FULL = "trust.full_at"
META_MODEL = "trust.model"
META_LAST = "trust.last_pass"


@dataclass
class PassResult:
    scored: int = 0
    changed_items: int = 0
    scanned: int = 0
    contradictions_new: int = 0
    contradictions_open: int = 0
    superseded: int = 0
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    restored: list[dict[str, Any]] = field(default_factory=list)
    method: str = "formula"
    model: dict[str, Any] = field(default_factory=dict)
    full: bool = False
    judged: int = 0
    duration_ms: float = 0.0
    at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Candidate:
    """A pair the checks found disagreeing, ready to be stored."""

    a: ts.ItemRow
    b: ts.ItemRow
    findings: list[checks.Finding]
    score: float
    method: str = "rules"
    a_version: tuple[int, str] | None = None  # (version, hash) of an older text, for version conflicts


# --------------------------------------------------------------------------- helpers
def meta_get(conn: Any, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _iso_day(value: Any) -> float | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return datetime.strptime(value[:10], "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def written_at(item: ts.ItemRow, since: dict[int, float]) -> float:
    """When the item's statement was made: the earlier of when its text was stored and the date its
    metadata gives (``updated`` or ``date``), so minutes loaded today from a March meeting are March's."""
    stored = since.get(item.id, item.updated_at)
    dated = [d for d in (_iso_day(item.metadata.get("updated")), _iso_day(item.metadata.get("date"))) if d]
    return min([stored, *dated])


def skip_collections(md: Memdeck) -> set[str]:
    return {c.strip() for c in str(md.config.get("contradictions.skip_same_collection")).split(",") if c.strip()}


def finding_dict(f: checks.Finding) -> dict[str, Any]:
    return {"kind": f.kind, "evidence": f.evidence, "score": round(f.score, 4), "a_span": f.a_span,
            "b_span": f.b_span}


def main_kind(findings: list[checks.Finding]) -> str:
    return max(findings, key=lambda f: f.score).kind if findings else "semantic"


# --------------------------------------------------------------------------- the learned model
def load_model(conn: Any) -> tuple[trust.LogisticTrustModel | None, dict[str, Any]]:
    raw = meta_get(conn, META_MODEL)
    if not raw:
        return None, {}
    try:
        info = json.loads(raw)
        model = trust.LogisticTrustModel.from_dict(info["model"]) if info.get("model") else None
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("stored trust model unreadable (%s); using the formula", exc)
        return None, {}
    return model, info


def training_rows(conn: Any) -> tuple[list[list[float]], list[int]]:
    """The latest decision per item, with the components the admin saw when deciding."""
    x, y = [], []
    for review in ts.latest_reviews(conn).values():
        comps = review.features.get("components")
        if isinstance(comps, dict) and all(c in comps for c in trust.MODEL_FEATURES):
            x.append(trust.feature_vector(comps))
            y.append(1 if review.verdict == "approved" else 0)
    return x, y


def retrain(md: Memdeck, conn: Any, policy: trust.TrustPolicy, at: float) -> dict[str, Any]:
    """Fit the model on the reviews (or record why the formula still rules), store it and audit it."""
    x, y = training_rows(conn)
    model, reason = trust.train_if_enough(x, y, policy)
    info = {"model": model.to_dict() if model else None, "reviews": len(y), "approved": sum(y),
            "rejected": len(y) - sum(y), "cv_accuracy": None if model is None else round(model.cv_accuracy or 0, 4),
            "trained_at": at, "reason": reason}
    set_meta(conn, META_MODEL, json.dumps(info))
    md.auditor.one(conn, "trust.retrain", "trust.model", {k: v for k, v in info.items() if k != "model"}
                   | {"method": "learned" if model else "formula",
                      "coefficients": model.coefficients() if model else None})
    return model_info(info, model)


def model_info(info: dict[str, Any], model: trust.LogisticTrustModel | None) -> dict[str, Any]:
    return {"method": "learned" if model is not None and model.fitted else "formula",
            "reviews": info.get("reviews", 0), "approved": info.get("approved", 0),
            "rejected": info.get("rejected", 0), "cv_accuracy": info.get("cv_accuracy"),
            "trained_at": info.get("trained_at"),
            "reason": info.get("reason") or "no reviews yet; using the configured formula"}


# --------------------------------------------------------------------------- 1. scan
def scan(md: Memdeck, conn: Any, items: list[ts.ItemRow], job: Job | None = None
         ) -> tuple[list[Candidate], dict[int, int], list[tuple[ts.ItemRow, ts.ItemRow, float]]]:
    """Contradiction candidates, corroboration counts, and close pairs the rules passed (for the judge)."""
    k = int(md.config.get("contradictions.neighbours"))
    min_sim = float(md.config.get("contradictions.min_similarity"))
    corro_sim = float(md.config.get("contradictions.corroborate_similarity"))
    judge_sim = float(md.config.get("contradictions.judge_similarity"))
    skip = skip_collections(md)
    fp = md.model_fp
    found: dict[tuple[int, int], Candidate] = {}
    corroborations: dict[int, int] = {}
    passed: list[tuple[ts.ItemRow, ts.ItemRow, float]] = []
    seen_pairs: set[tuple[int, int]] = set()
    subjects = SubjectIndex(ts.scored_keys(conn))
    for n, item in enumerate(items):
        if job is not None:
            job.check_cancelled()
            if n % 200 == 0:
                job.progress(n, len(items), f"checking {item.name}")
        prev = ts.previous_content(conn, item)
        if prev is not None:
            hits = checks.version_conflict(prev[1], item.content)
            if hits:
                found[(item.id, item.id)] = Candidate(item, item, hits, checks.score(hits),
                                                      a_version=(prev[0], prev[2]))
        vec = ts.vector_of(conn, item, fp)
        pairs = [] if vec is None else [
            (label, sim) for label, sim in md.index.query(vec, k + 1) if label != item.id and sim >= min_sim]
        # What the item names and what names it (``project.sparrow.scope`` for a meeting that names
        # Sparrow, and the other way round): a long minute and a one-line fact about the same thing are
        # rarely close as whole texts. Both directions, so a pair is found whichever side changed.
        near = {label for label, _ in pairs}
        named = [e["id"] for e in expand(conn, [item.content], {item.id, *near}, k)]
        known = {item.id, *near, *named}
        own = set(subjects.items.get(key_subject(item.key) or "", []))
        for i in [*subjects.named_in(item.content), *mentioning(conn, item, MENTION_LIMIT, own)]:
            if i not in known:
                known.add(i)
                named.append(i)
        pairs += [(label, 0.0) for label in named]
        others = ts.items_by_id(conn, [label for label, _ in pairs])
        count = 0
        for label, sim in pairs:
            other = others.get(label)
            if other is None or other.status not in ts.SCORED_STATUSES:
                continue
            if other.collection == item.collection and item.collection in skip:
                continue
            if other.content_hash == item.content_hash:
                count += 1  # a copy agrees with itself
                continue
            a, b = (item, other) if item.id < other.id else (other, item)
            hits = checks.compare(a.content, b.content, a_key=a.key, b_key=b.key)
            if hits:
                found[(a.id, b.id)] = Candidate(a, b, hits, checks.score(hits))
                continue
            if sim >= corro_sim and checks.subject_overlap(a.content, b.content, a_key=a.key, b_key=b.key) >= 0.25:
                count += 1
            if sim >= judge_sim and (a.id, b.id) not in seen_pairs:
                passed.append((a, b, sim))
            seen_pairs.add((a.id, b.id))
        corroborations[item.id] = count
    return list(found.values()), corroborations, passed


_KEY_SPLIT = re.compile(r"[./#:@]")
_TOKEN = re.compile(r"[a-z0-9]+")


def key_subject(key: str) -> str | None:
    """The thing a structured key is about: ``heron`` in ``project.heron.owner``, ``maya okafor`` in
    ``people.maya-okafor.role``. Only keys of three or more parts have one (the first part is a
    namespace, the last the attribute)."""
    parts = [p for p in _KEY_SPLIT.split(key.lower()) if p]
    if len(parts) < 3:
        return None
    words = _TOKEN.findall(" ".join(parts[1:-1]))
    return " ".join(words) if words and len("".join(words)) >= 3 else None


_NAME_TOKEN = re.compile(r"[^\W_]+")
_JOIN = re.compile(r"[\s-]+")


def _fold(token: str) -> str:
    """'João' -> 'joao': how names look inside keys."""
    return unicodedata.normalize("NFKD", token).encode("ascii", "ignore").decode().lower()


def named_subjects(text: str, known: set[str] | dict[str, Any], longest: int) -> list[str]:
    """The known key subjects ``text`` names, in order of first mention. A subject counts when it is
    written as a name: some word of it capitalised or a model number ("Sparrow", "Picker 3",
    "Owen Fletcher"), so the common noun "lidar" or "security" does not pull in every item about it.
    A single capitalised word that only starts a sentence does not count either."""
    toks = list(_NAME_TOKEN.finditer(text))
    low = [_fold(t.group()) for t in toks]
    out: list[str] = []
    for i in range(len(toks)):
        for n in range(min(longest, len(toks) - i), 0, -1):
            phrase = " ".join(low[i:i + n])
            if phrase not in known or phrase in out:
                continue
            if any(not _JOIN.fullmatch(text[toks[j].end():toks[j + 1].start()]) for j in range(i, i + n - 1)):
                continue  # "Picker. 3" is not "Picker 3"
            words = [t.group() for t in toks[i:i + n]]
            if any(any(c.isdigit() for c in w) for w in words) or any(w[:1].isupper() for w in words[1:]) or (
                    words[0][:1].isupper() and not re.search(r"(?:^|[.!?:]\s*)$", text[:toks[i].start()])):
                out.append(phrase)
                break
    return out


class SubjectIndex:
    """Key subjects of the scored items (``sparrow`` -> the ``project.sparrow.*`` items), to find the
    items about what a text names."""

    def __init__(self, keys: list[tuple[int, str]]) -> None:
        self.items: dict[str, list[int]] = {}
        for item_id, key in keys:
            subject = key_subject(key)
            if subject is not None:
                self.items.setdefault(subject, []).append(item_id)
        self.longest = max((len(s.split()) for s in self.items), default=0)

    def named_in(self, text: str) -> list[int]:
        return [i for s in named_subjects(text, self.items, self.longest) for i in self.items[s]]


MENTION_LIMIT = 32  # items naming one subject, best full-text match first (a full pass also goes the other way)


def mentioning(conn: Any, item: ts.ItemRow, limit: int, own: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """Scored items (active or quarantined, like the other candidates) whose text names the item's
    key subject as a name, best full-text match first, at most ``limit``. The match is on the content,
    not the key, and ``own`` (the subject's own items,
    ``project.sparrow.*`` for ``project.sparrow.scope``: short texts that rank first) is left out, so
    they do not crowd out the long note that names the subject once. The own items are reached the
    other way: the item's text names its subject."""
    subject = key_subject(item.key)
    if subject is None:
        return []
    rows = conn.execute(
        "SELECT i.id, i.content FROM items_fts JOIN items i ON i.id = items_fts.rowid WHERE items_fts MATCH ?"
        " AND i.status IN ('active', 'quarantined') AND i.id != ? ORDER BY bm25(items_fts) LIMIT ?",
        (f'content : "{subject}"', item.id, limit + len(own))).fetchall()
    longest = len(subject.split())
    return [int(r[0]) for r in rows if int(r[0]) not in own and named_subjects(r[1], {subject}, longest)][:limit]


# --------------------------------------------------------------------------- 2. record
def record(md: Memdeck, conn: Any, candidates: list[Candidate], at: float, result: PassResult) -> None:
    result.superseded = len(ts.supersede_stale(conn, md.actor, at))
    alerts: list[audit.AuditRecord] = []
    for c in candidates:
        a_side = (c.a.id, *(c.a_version or (c.a.version, c.a.content_hash)))
        cid = ts.insert_contradiction(conn, a_side, (c.b.id, c.b.version, c.b.content_hash), main_kind(c.findings),
                                      c.score, [finding_dict(f) for f in c.findings], c.method, at)
        if cid is None:
            continue
        result.contradictions_new += 1
        what = (f"{c.b.name} v{a_side[1]}→v{c.b.version}" if c.a_version else f"{c.a.name} ↔ {c.b.name}")
        alerts.append(audit.AuditRecord("trust.alert", what, {
            "kind": "contradiction", "contradiction": cid, "type": main_kind(c.findings), "score": round(c.score, 4),
            "message": f"contradiction #{cid} ({main_kind(c.findings)}, {c.score:.2f}): {what}"}))
    emit_alerts(md, conn, alerts, "contradiction")
    result.contradictions_open = int(conn.execute(
        "SELECT count(*) FROM contradictions WHERE status = 'open'").fetchone()[0])


def emit_alerts(md: Memdeck, conn: Any, alerts: list[audit.AuditRecord], kind: str) -> None:
    if len(alerts) > ALERTS_PER_PASS:
        first = alerts[:ALERTS_PER_PASS - 1]
        rest = len(alerts) - len(first)
        alerts = [*first, audit.AuditRecord("trust.alert", "*", {
            "kind": kind, "count": rest, "message": f"{rest} more {kind} alert(s) in this pass"})]
    if alerts:
        md.auditor.append(conn, alerts)
        for a in alerts:
            md.bus.publish("trust.alert", target=a.target, alert=a.details.get("kind"),
                           message=a.details.get("message", ""))


# --------------------------------------------------------------------------- 3. score
@dataclass
class Scored:
    item: ts.ItemRow
    inputs: trust.TrustInputs
    result: trust.TrustResult
    base: float  # the formula score with no contradiction counted: who is believed in a conflict
    written: float
    exempt: bool
    reason: str | None = None


def gather(md: Memdeck, conn: Any, policy: trust.TrustPolicy, model: trust.LogisticTrustModel | None,
           corroborations: dict[int, int], at: float) -> tuple[list[Scored], list[ts.Contradiction]]:
    items = ts.scored_items(conn)
    since = ts.content_since(conn)
    usage = ts.usage_counts(conn)
    reviews = ts.latest_reviews(conn)
    previous = ts.stored_scores(conn)
    open_c = ts.contradictions(conn, "open", limit=10**9)
    vw = float(md.config.get("contradictions.version_weight"))
    by_item: dict[int, list[float]] = {}
    for c in open_c:
        s = c.score * vw if c.is_version else c.score
        by_item.setdefault(c.a_id, []).append(s)
        if not c.is_version:
            by_item.setdefault(c.b_id, []).append(s)
    source_of = {i.id: i.source for i in items}
    current_hash = {i.id: i.content_hash for i in items}
    valid = {r.item_id: r for r in reviews.values() if r.features.get("hash") == current_hash.get(r.item_id)}
    per_source: dict[str, list[int]] = {}
    for r in reviews.values():
        src = source_of.get(r.item_id)
        if src is not None:
            tally = per_source.setdefault(src, [0, 0])
            tally[0 if r.verdict == "approved" else 1] += 1
    out = []
    for item in items:
        prev = previous.get(item.id)
        n_corro = corroborations.get(item.id, int(prev.inputs.get("corroborations", 0)) if prev else 0)
        retrieved, up, down = usage.get(item.id, (0, 0, 0))
        conflicts = by_item.get(item.id, [])
        review = valid.get(item.id)
        approved, rejected = per_source.get(item.source, [0, 0])
        if item.id in reviews:  # the item's own decision is not evidence about its source
            own = reviews[item.id].verdict
            approved -= own == "approved"
            rejected -= own == "rejected"
        written = written_at(item, since)
        inputs = trust.TrustInputs(
            collection=item.collection, source=item.source, age_days=max(0.0, (at - written) / 86_400.0),
            retrieved=retrieved, helpful=up, unhelpful=down, corroborations=n_corro,
            open_contradictions=len(conflicts), max_contradiction=min(1.0, max(conflicts, default=0.0)),
            review=review.verdict if review else None, source_approved=max(0, approved),
            source_rejected=max(0, rejected))
        result = trust.score_item(inputs, policy, model)
        base = trust.weighted_score(result.components | {"consistency": 1.0}, policy)
        exempt = (review is not None and review.verdict == "approved") or (
            prev is not None and prev.hold_version == item.version)
        out.append(Scored(item, inputs, result, base, written, exempt))
    return out, open_c


def decide(scored: list[Scored], open_c: list[ts.Contradiction], policy: trust.TrustPolicy) -> None:
    """Set ``reason`` on every item policy wants in quarantine."""
    by_id = {s.item.id: s for s in scored}
    lost: dict[int, list[tuple[float, str]]] = {}
    for c in open_c:
        if c.is_version or c.score < policy.contradiction_above:
            continue
        a, b = by_id.get(c.a_id), by_id.get(c.b_id)
        if a is None or b is None:
            continue
        loser, winner = (a, b) if (a.base, a.written) < (b.base, b.written) else (b, a)
        lost.setdefault(loser.item.id, []).append(
            (c.score, f"; the less trusted side of #{c.id} with {winner.item.name}"))
    for s in scored:
        if s.exempt:
            continue
        mine = lost.get(s.item.id, [])
        rule_inputs = replace(s.inputs, open_contradictions=len(mine),
                              max_contradiction=max((m[0] for m in mine), default=0.0))
        reason = trust.quarantine_reason(s.result.score, rule_inputs, policy)
        if reason and mine and "contradiction" in reason:
            reason += max(mine)[1]
        s.reason = reason


def apply(md: Memdeck, conn: Any, scored: list[Scored], at: float, result: PassResult, manual: bool) -> None:
    previous = ts.stored_scores(conn)
    history = ts.last_history(conn)
    rows: list[tuple[int, ts.StoredScore]] = []
    hist: list[tuple[int, float, float]] = []
    alerts: list[audit.AuditRecord] = []
    for s in scored:
        prev = previous.get(s.item.id)
        policy_q = bool(prev and prev.policy_quarantined)
        hold = prev.hold_version if prev else None
        version = s.item.version
        if s.item.status == "active" and s.reason:
            out = store.write_status(conn, s.item.collection, s.item.key, "quarantined", md.auditor,
                                     "memory.quarantine", f"trust policy: {s.reason}")
            version, policy_q = out.version, True
            result.quarantined.append(s.item.ref | {"reason": s.reason})
            alerts.append(audit.AuditRecord("trust.alert", s.item.name, {
                "kind": "quarantine", "score": round(s.result.score, 4), "message":
                f"quarantined {s.item.name}: {s.reason}"}))
        elif s.item.status == "quarantined" and policy_q and not s.reason:
            why = "an admin approved it" if s.exempt else "the reason is gone"
            out = store.write_status(conn, s.item.collection, s.item.key, "active", md.auditor, "memory.restore",
                                     f"trust policy: {why}")
            version, policy_q = out.version, False
            result.restored.append(s.item.ref)
            alerts.append(audit.AuditRecord("trust.alert", s.item.name, {
                "kind": "restore", "score": round(s.result.score, 4),
                "message": f"restored {s.item.name}: {why}"}))
        inputs = dict(s.inputs.__dict__)
        reason = s.reason if (policy_q or s.item.status == "active") else None
        rows.append((s.item.id, ts.StoredScore(s.result.score, s.result.method, s.result.components, inputs, version,
                                               at, reason, policy_q, hold)))
        last = history.get(s.item.id)
        if last is None or abs(last - s.result.score) >= 0.01:
            hist.append((s.item.id, at, round(s.result.score, 6)))
    ts.save_scores(conn, rows)
    conn.executemany("INSERT OR REPLACE INTO trust_history (item_id, at, score) VALUES (?,?,?)", hist)
    emit_alerts(md, conn, [a for a in alerts if a.details["kind"] == "quarantine"], "quarantine")
    emit_alerts(md, conn, [a for a in alerts if a.details["kind"] == "restore"], "restore")
    every = float(md.config.get("trust.history_every_s"))
    if manual or at - ts.last_collection_point(conn) >= every:
        add_collection_points(conn, scored, md, at)
    result.scored = len(rows)


def add_collection_points(conn: Any, scored: list[Scored], md: Memdeck, at: float) -> None:
    policy = md.trust_policy()
    groups: dict[str, list[Scored]] = {}
    for s in scored:
        groups.setdefault(s.item.collection, []).append(s)
    conn.executemany(
        "INSERT OR REPLACE INTO trust_collection_history (at, collection, n, avg, low, high, quarantined)"
        " VALUES (?,?,?,?,?,?,?)",
        [(at, name, len(g), sum(s.result.score for s in g) / len(g),
          sum(1 for s in g if s.result.score < policy.quarantine_below),
          sum(1 for s in g if s.result.score >= policy.high_above),
          sum(1 for s in g if s.item.status == "quarantined" or s.reason)) for name, g in groups.items()])


# --------------------------------------------------------------------------- the pass
def run_pass(md: Memdeck, *, full: bool = False, manual: bool = False, job: Job | None = None,
             now: Callable[[], float] = time.time) -> PassResult:
    """Scan what changed (everything when ``full`` or never scanned), record, score, apply policy."""
    t0 = time.perf_counter()
    at = now()
    result = PassResult(full=full, at=at)
    policy = md.trust_policy()
    md.sync_index()
    with md.db.read() as conn:
        watermark = int(meta_get(conn, META_SEQ) or 0)
        full = full or watermark == 0 or at - float(meta_get(conn, META_FULL) or 0) >= float(
            md.config.get("trust.full_every_s"))
        result.full = full
        changed, head = ts.changed_since(conn, head_only=full, seq=watermark)
        if full:
            targets = ts.scored_items(conn)
        else:
            targets = [i for i in ts.items_by_id(conn, changed).values() if i.status in ts.SCORED_STATUSES]
        result.changed_items = len(targets) if full else len(changed)
        candidates, corroborations, passed = scan(md, conn, targets, job)
        result.scanned = len(targets)
    if md.config.get("contradictions.judge") and passed:
        from core.contradiction_judge import judge_pairs

        judged = judge_pairs(md, passed[: int(md.config.get("contradictions.judge_max_pairs"))], at)
        result.judged = len(judged)
        candidates += judged
    with md.db.write() as conn:
        record(md, conn, candidates, at, result)
        model, info = load_model(conn)
        n_reviews = len(training_rows(conn)[1])
        if n_reviews != info.get("reviews", 0) and n_reviews >= policy.min_reviews:
            result.model = retrain(md, conn, policy, at)
            model, info = load_model(conn)
    if job is not None:
        job.progress(len(targets), len(targets), "scoring")
    with md.db.read() as conn:
        scored, open_c = gather(md, conn, policy, model, corroborations, at)
    decide(scored, open_c, policy)
    with md.db.write() as conn:
        apply(md, conn, scored, at, result, manual)
        set_meta(conn, META_SEQ, str(head))
        if full:
            set_meta(conn, META_FULL, repr(at))
        result.method = "learned" if model is not None and model.fitted else "formula"
        result.model = result.model or model_info(info, model)
        result.duration_ms = round((time.perf_counter() - t0) * 1000, 1)
        set_meta(conn, META_LAST, json.dumps({k: v for k, v in result.as_dict().items()
                                              if k not in ("quarantined", "restored")}))
    if result.quarantined or result.restored:
        md.sync_index()
        md.bus.publish("memory.changed", puts=len(result.quarantined) + len(result.restored), deletes=0)
    md.bus.publish("trust.changed", scored=result.scored, quarantined=len(result.quarantined),
                   restored=len(result.restored), contradictions_new=result.contradictions_new)
    return result

