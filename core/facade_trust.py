"""The facade's trust, contradiction and review methods: ``Memdeck`` inherits these.

Like ``core/facade_ask.py`` they live apart from ``core/memdeck.py`` to keep it readable and follow the
facade's rules: role check first, every change in the audit trail (in the same transaction as the
change), typed errors with a hint. The maths is ``core.trust``, the SQL ``core.trust_store``, the pass
``core.trust_engine``; contracts in docs/design-trust.md.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from core import store, trust
from core import trust_engine as engine
from core import trust_store as ts
from core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import sqlite3

    import numpy as np

    from core.audit import Auditor
    from core.config import Config
    from core.db import Database
    from core.events import EventBus
    from core.paths import DataLayout
    from core.store import NewItem, PutOutcome
    from core.workers import Job, Workers

log = logging.getLogger(__name__)

KEEPS = ("A", "B", "both", "merge")
VERDICTS = ("approved", "rejected", "restore")
HIST_BINS = 10


def _now() -> float:
    return time.time()


class TrustFacade:
    """Trust scores, contradictions, review and the trust worker, mixed into ``Memdeck``."""

    if TYPE_CHECKING:
        db: Database
        config: Config
        layout: DataLayout
        auditor: Auditor
        actor: str
        bus: EventBus
        workers: Workers
        _closed: bool

        def require(self, permission: str, target: str = "") -> None: ...
        def record_event(self, action: str, target: str, details: dict[str, Any], outcome: str = "ok") -> None: ...
        def sync_index(self) -> int: ...
        def _write(self, items: Sequence[NewItem], deletes: Sequence[tuple[str, str]] = (),
                   vectors: dict[str, np.ndarray] | None = None, audit_each: bool = True,
                   also: Callable[[sqlite3.Connection], None] | None = None
                   ) -> tuple[list[PutOutcome], list[PutOutcome]]: ...

    _trust_thread: threading.Thread | None = None

    # ------------------------------------------------------------------ policy and passes
    def trust_policy(self) -> trust.TrustPolicy:
        """The data dir's trust.toml, else the shipped defaults; read every time so an edit applies."""
        return trust.load_policy(trust.policy_path(self.layout.root))

    def trust_recompute(self, full: bool = False, job: Job | None = None) -> dict[str, Any]:
        """Rescan what changed (everything with ``full``), rescore every item, apply the policy; audited."""
        self.require("trust.recompute", "trust")
        result = engine.run_pass(self, full=full, manual=True, job=job)  # type: ignore[arg-type]
        summary = result.as_dict()
        self.record_event("trust.recompute", "trust", {
            k: summary[k] for k in ("full", "scored", "scanned", "contradictions_new", "contradictions_open",
                                    "superseded", "method", "duration_ms")}
            | {"quarantined": len(result.quarantined), "restored": len(result.restored)})
        return summary

    def start_trust_worker(self) -> None:
        """Keep scores current while the app runs: a pass a few seconds after memory changes, and one
        every ``trust.interval_s`` so freshness decays even when nothing changes."""
        if self._trust_thread is not None or not self.config.get("trust.worker"):
            return
        self._trust_thread = threading.Thread(target=self._trust_loop, name="memdeck-trust", daemon=True)
        self._trust_thread.start()

    def _trust_loop(self) -> None:
        stop = self.workers.stopping
        wake = threading.Event()
        unsubscribe = self.bus.subscribe(lambda ev: wake.set() if ev.kind == "memory.changed" else None)
        try:
            wake.set()  # a first pass soon after opening
            while not stop.is_set():
                _wait_either(wake, stop, float(self.config.get("trust.interval_s")))
                if stop.wait(2.0):  # let a burst of writes finish first
                    break
                wake.clear()
                try:
                    engine.run_pass(self)  # type: ignore[arg-type]
                except Exception as exc:  # a failed pass is reported, and the next one tries again
                    log.exception("trust pass failed")
                    self.bus.publish("notice", message=f"trust pass failed: {exc}")
        finally:
            unsubscribe()

    # ------------------------------------------------------------------ reads
    def _item(self, conn: sqlite3.Connection, collection: str, key: str) -> ts.ItemRow:
        store.validate_collection(collection)
        store.validate_key(key)
        row = conn.execute("SELECT id FROM items WHERE collection = ? AND key = ?", (collection, key)).fetchone()
        if row is None:
            raise NotFound(f"no item {collection}/{key}", hint=f"`memdeck list {collection}` shows its keys")
        return ts.items_by_id(conn, [int(row[0])])[int(row[0])]

    def _explain(self, comps: dict[str, float], method: str, policy: trust.TrustPolicy,
                 model: trust.LogisticTrustModel | None) -> list[dict[str, Any]]:
        rows = model.explain(comps) if method == "learned" and model is not None else trust.explain(comps, policy)
        return [{"component": r.component, "value": round(r.value, 4), "weight": round(r.weight, 4),
                 "contribution": round(r.contribution, 4)} for r in rows]

    def trust_show(self, collection: str, key: str) -> dict[str, Any]:
        """One item's score with its components, explanation, inputs, review, history and conflicts.
        An item changed since the last pass is scored on the spot (shown, not stored)."""
        self.require("memory.read", f"{collection}/{key}")
        policy = self.trust_policy()
        with self.db.read() as conn:
            item = self._item(conn, collection, key)
            stored = ts.stored_scores(conn, [item.id]).get(item.id)
            model, _info = engine.load_model(conn)
            review = ts.latest_reviews(conn).get(item.id)
            history = ts.item_history(conn, item.id)
            conflicts = ts.contradictions(conn, None, limit=50, item_id=item.id)
            fresh = None
            if item.status in ts.SCORED_STATUSES and (stored is None or stored.item_version != item.version):
                scored, _ = engine.gather(self, conn, policy, model, {}, _now())  # type: ignore[arg-type]
                fresh = next((s for s in scored if s.item.id == item.id), None)
            sides = self._sides(conn, conflicts)
        if fresh is not None:
            score, method, comps = fresh.result.score, fresh.result.method, fresh.result.components
            inputs, computed_at = dict(fresh.inputs.__dict__), None
        elif stored is not None:
            score, method, comps, inputs, computed_at = (stored.score, stored.method, stored.components,
                                                         stored.inputs, stored.computed_at)
        else:
            raise NotFound(f"{collection}/{key} is {item.status} and has no trust score",
                           hint="deleted items are not scored")
        quarantine = None
        if item.status == "quarantined":
            by_policy = bool(stored and stored.policy_quarantined)
            quarantine = {"reason": (stored.quarantine_reason if stored else None) or
                          ("quarantined by policy" if by_policy else "quarantined by hand"), "by_policy": by_policy}
        return {"id": item.id, "collection": item.collection, "key": item.key, "version": item.version,
                "status": item.status, "source": item.source, "score": round(score, 4), "method": method,
                "computed_at": computed_at, "components": comps,
                "explanation": self._explain(comps, method, policy, model), "inputs": inputs,
                "quarantine": quarantine, "review": review.as_dict() if review else None,
                "history": history, "contradictions": [self._summary(c, sides) for c in conflicts]}

    def trust_list(self, order: str = "asc", limit: int = 20, collection: str | None = None,
                   status: str | None = None) -> list[dict[str, Any]]:
        """Lowest (``asc``) or highest (``desc``) scored items, each with the component that moved it most."""
        if order not in ("asc", "desc"):
            raise InvalidInput(f"order must be asc or desc, got {order!r}")
        if not 1 <= int(limit) <= 10_000:
            raise InvalidInput(f"limit must be between 1 and 10000, got {limit}")
        if status is not None and status not in ts.SCORED_STATUSES:
            raise InvalidInput(f"status must be active or quarantined, got {status!r}")
        self.require("memory.read", collection or "*")
        where, args = ["i.status IN ('active', 'quarantined')"], []
        if collection:
            store.validate_collection(collection)
            where.append("i.collection = ?")
            args.append(collection)
        if status:
            where.append("i.status = ?")
            args.append(status)
        policy = self.trust_policy()
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT i.id, i.collection, i.key, i.status, t.score, t.method, t.components FROM trust_scores t"
                f" JOIN items i ON i.id = t.item_id WHERE {' AND '.join(where)}"
                f" ORDER BY t.score {order.upper()}, i.id LIMIT ?", (*args, int(limit))).fetchall()
        out = []
        for item_id, coll, key, st, score, method, comps_raw in rows:
            comps = json.loads(comps_raw)
            lines = trust.explain(comps, policy)
            pick = [r for r in lines if (r.value < 0.5 if order == "asc" else r.value > 0.5)] or lines
            out.append({"id": item_id, "collection": coll, "key": key, "status": st, "score": round(score, 4),
                        "method": method, "reason": f"{pick[0].component} {pick[0].value:.2f}"})
        return out

    def trust_of(self, item_ids: Iterable[int]) -> dict[int, float]:
        """Stored scores of these items (for Ask citations); unscored ones are left out."""
        with self.db.read() as conn:
            return {i: round(s.score, 4) for i, s in ts.stored_scores(conn, list(item_ids)).items()}

    def trust_summary(self) -> dict[str, Any]:
        """What the dashboard shows: per collection, the distribution, trends, model and alerts."""
        self.require("memory.read", "*")
        policy = self.trust_policy()
        with self.db.read() as conn:
            rows = conn.execute("SELECT i.collection, i.status, t.score FROM trust_scores t JOIN items i"
                                " ON i.id = t.item_id WHERE i.status IN ('active', 'quarantined')").fetchall()
            trends = ts.collection_trends(conn)
            model, info = engine.load_model(conn)
            last = engine.meta_get(conn, engine.META_LAST)
            alerts = conn.execute("SELECT at, target, details FROM audit_events WHERE action = 'trust.alert'"
                                  " ORDER BY seq DESC LIMIT 20").fetchall()
            n_reviews = len(engine.training_rows(conn)[1])
        groups: dict[str, list[tuple[str, float]]] = {}
        hist = [0] * HIST_BINS
        for coll, st, score in rows:
            groups.setdefault(coll, []).append((st, float(score)))
            hist[min(HIST_BINS - 1, int(float(score) * HIST_BINS))] += 1
        collections = [{
            "collection": name, "n": len(g), "avg": round(sum(s for _, s in g) / len(g), 4),
            "low": sum(1 for _, s in g if s < policy.quarantine_below),
            "high": sum(1 for _, s in g if s >= policy.high_above),
            "quarantined": sum(1 for st, _ in g if st == "quarantined"), "trend": trends.get(name, [])}
            for name, g in sorted(groups.items())]
        minfo = engine.model_info(info, model)
        if not info:
            minfo["reviews"] = n_reviews
            minfo["reason"] = (f"{n_reviews} review(s), the learned model needs {policy.min_reviews};"
                               " using the formula")
        return {"computed_at": json.loads(last)["at"] if last else None, "method": minfo["method"], "model": minfo,
                "collections": collections, "histogram": hist, "low_threshold": policy.quarantine_below,
                "high_threshold": policy.high_above,
                "alerts": [{"at": at, "target": target, **_alert(details)} for at, target, details in alerts]}

    # ------------------------------------------------------------------ contradictions
    def _sides(self, conn: sqlite3.Connection, rows: Sequence[ts.Contradiction]) -> dict[int, dict[str, Any]]:
        ids = {i for c in rows for i in (c.a_id, c.b_id)}
        items = ts.items_by_id(conn, ids)
        scores = ts.stored_scores(conn, ids)
        policy = self.trust_policy()
        out = {}
        for i in ids:
            it, sc = items.get(i), scores.get(i)
            out[i] = {"id": i, "collection": it.collection if it else "?", "key": it.key if it else "(erased)",
                      "version": it.version if it else None, "status": it.status if it else "erased",
                      "trust": round(sc.score, 4) if sc else None,
                      "base": trust.weighted_score(sc.components | {"consistency": 1.0}, policy) if sc else None,
                      "content": it.content if it else ""}
        return out

    def _summary(self, c: ts.Contradiction, sides: dict[int, dict[str, Any]]) -> dict[str, Any]:
        a = {k: v for k, v in sides[c.a_id].items() if k not in ("content", "base")}
        b = {k: v for k, v in sides[c.b_id].items() if k not in ("content", "base")}
        if c.is_version:
            a["version"] = c.a_version
        evidence = "; ".join(f["evidence"] for f in c.findings[:3])
        return {"id": c.id, "kind": c.kind, "score": round(c.score, 4), "status": c.status, "method": c.method,
                "found_at": c.found_at, "evidence": evidence, "suggestion": self._suggest(c, sides),
                "version_conflict": c.is_version, "a": a, "b": b}

    def _suggest(self, c: ts.Contradiction, sides: dict[int, dict[str, Any]]) -> str:
        if c.status != "open":
            return ""
        if c.is_version:
            return "keep B: the newer version (keep A puts the older text back)"
        a, b = sides[c.a_id], sides[c.b_id]
        if c.score < 0.5:
            return "both: a weak finding, probably a false alarm"
        if a["base"] is None or b["base"] is None or abs(a["base"] - b["base"]) < 0.01:
            return "merge: both are equally trusted; write the correct statement once"
        keep = "A" if a["base"] > b["base"] else "B"
        hi, lo = max(a["base"], b["base"]), min(a["base"], b["base"])
        return f"keep {keep}: the more trusted side ({hi:.2f} vs {lo:.2f} before this conflict)"

    def contradictions(self, status: str | None = "open", limit: int = 200) -> list[dict[str, Any]]:
        if status is not None and status not in ("open", "resolved", "dismissed"):
            raise InvalidInput(f"status must be open, resolved or dismissed, got {status!r}")
        self.require("memory.read", "*")
        with self.db.read() as conn:
            rows = ts.contradictions(conn, status, limit=max(1, min(int(limit), 10_000)))
            sides = self._sides(conn, rows)
        return [self._summary(c, sides) for c in rows]

    def _contradiction_row(self, conn: sqlite3.Connection, cid: int) -> ts.Contradiction:
        if isinstance(cid, bool) or not isinstance(cid, int):
            raise InvalidInput(f"contradiction id must be a number, got {cid!r}")
        c = ts.contradiction(conn, cid)
        if c is None:
            raise NotFound(f"no contradiction #{cid}", hint="`memdeck contradictions list` shows them")
        return c

    def contradiction(self, cid: int) -> dict[str, Any]:
        """One contradiction with both texts side by side (A is the older text for a version conflict)."""
        self.require("memory.read", f"contradiction/{cid}")
        with self.db.read() as conn:
            c = self._contradiction_row(conn, cid)
            sides = self._sides(conn, [c])
            a_content = sides[c.a_id]["content"]
            if c.is_version:
                row = conn.execute("SELECT content FROM item_versions WHERE item_id = ? AND version = ?",
                                   (c.a_id, c.a_version)).fetchone()
                a_content = row[0] if row else ""
        out = self._summary(c, sides)
        out["a"]["content"], out["b"]["content"] = a_content, sides[c.b_id]["content"]
        out.update(findings=c.findings, resolution=c.resolution, resolved_by=c.resolved_by,
                   resolved_at=c.resolved_at)
        return out

    def _review_row(self, conn: sqlite3.Connection, item: ts.ItemRow, verdict: str, note: str, at: float) -> None:
        stored = ts.stored_scores(conn, [item.id]).get(item.id)
        comps = stored.components if stored else None
        ts.add_review(conn, item.id, item.version, verdict, note, self.actor, at,
                      {"components": comps, "hash": item.content_hash, "score": stored.score if stored else None})

    def _set_item_status(self, conn: sqlite3.Connection, item: ts.ItemRow, status: str, reason: str) -> int:
        """Quarantine or restore by an admin's decision; policy then leaves the new version alone."""
        if item.status == status:
            new_version = item.version
        else:
            action = "memory.quarantine" if status == "quarantined" else "memory.restore"
            new_version = store.write_status(conn, item.collection, item.key, status, self.auditor, action,
                                             reason).version
        if status == "active":
            ts.set_hold(conn, item.id, new_version, False)
        else:
            conn.execute("UPDATE trust_scores SET policy_quarantined = 0, quarantine_reason = ?, hold_version = NULL"
                         " WHERE item_id = ?", (reason, item.id))
        return new_version

    def contradiction_resolve(self, cid: int, keep: str, text: str | None = None, note: str = "") -> dict[str, Any]:
        """Settle a contradiction: keep A, keep B, keep both (a false alarm) or merge into one text.
        One audited transaction; the reviews it writes teach the learned model."""
        if keep not in KEEPS:
            raise InvalidInput(f"keep must be one of {', '.join(KEEPS)}, got {keep!r}")
        self.require("contradiction.resolve", f"contradiction/{cid}")
        at = _now()
        with self.db.read() as conn:
            c = self._contradiction_row(conn, cid)
            if c.status != "open":
                raise InvalidInput(f"contradiction #{cid} is already {c.status} ({c.resolution})")
            items = ts.items_by_id(conn, {c.a_id, c.b_id})
            old_text = None
            if c.is_version:
                row = conn.execute("SELECT content FROM item_versions WHERE item_id = ? AND version = ?",
                                   (c.a_id, c.a_version)).fetchone()
                old_text = row[0] if row else None
        a, b = items.get(c.a_id), items.get(c.b_id)
        if a is None or b is None:
            raise InvalidInput(f"contradiction #{cid} refers to an erased item; it closes on the next trust pass")
        if keep == "merge" and (not isinstance(text, str) or not text.strip()):
            raise InvalidInput("merge needs the merged text", hint="pass --text \"...\" (the new version of A)")
        resolution = {"A": f"kept A ({a.name})", "B": f"kept B ({b.name})", "both": "kept both: not a contradiction",
                      "merge": f"merged into {a.name}"}[keep]
        if note:
            resolution += f" — {note[:300]}"
        status = "dismissed" if keep == "both" else "resolved"
        details = {"contradiction": cid, "keep": keep, "a": a.name, "b": b.name, "kind": c.kind, "note": note[:300]}

        def settle(conn: sqlite3.Connection) -> None:
            fresh = ts.items_by_id(conn, {a.id, b.id})
            fa, fb = fresh[a.id], fresh[b.id]
            if keep in ("A", "B") and not c.is_version:
                win, lose = (fa, fb) if keep == "A" else (fb, fa)
                self._review_row(conn, win, "approved", note, at)
                self._review_row(conn, lose, "rejected", note, at)
                self._set_item_status(conn, win, "active", f"contradiction #{cid}: {resolution}")
                self._set_item_status(conn, lose, "quarantined", f"contradiction #{cid}: {resolution}")
            elif keep == "B" and c.is_version:
                self._review_row(conn, fb, "approved", note, at)
            elif keep == "both":
                for side in ({fa.id: fa, fb.id: fb}).values():
                    self._review_row(conn, side, "approved", note, at)
                    stored = ts.stored_scores(conn, [side.id]).get(side.id)
                    if side.status == "quarantined" and stored is not None and stored.policy_quarantined:
                        self._set_item_status(conn, side, "active", f"contradiction #{cid}: {resolution}")
            ts.close_contradiction(conn, cid, status, resolution, self.actor, at)
            self.auditor.one(conn, "contradiction.resolve", f"contradiction/{cid}", details)

        if keep == "merge" or (keep == "A" and c.is_version):
            if keep == "A" and old_text is None:
                raise InvalidInput(f"the older text of {a.name} is gone (purged?); keep B or merge instead")
            new_text = str(text).strip() if keep == "merge" else str(old_text)
            max_chars = self.config.get("content.max_chars")
            item = store.NewItem.build(a.collection, a.key, new_text, a.metadata, a.source, max_chars)
            deletes = [(b.collection, b.key)] if keep == "merge" and not c.is_version else []
            self.require("memory.put", a.name)
            puts, _ = self._write([item], deletes=deletes, also=settle)
            written = puts[0].version
        else:
            with self.db.write() as conn:
                settle(conn)
            self.sync_index()
            written = None
        self.bus.publish("memory.changed", puts=1, deletes=0)
        return {"id": cid, "status": status, "resolution": resolution, "keep": keep, "written_version": written}

    # ------------------------------------------------------------------ review
    def review_queue(self) -> list[dict[str, Any]]:
        """What needs a person: quarantined items (lowest trust first), then open contradictions."""
        self.require("memory.read", "*")
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT i.id, i.collection, i.key, t.score, t.quarantine_reason, t.policy_quarantined FROM items i"
                " LEFT JOIN trust_scores t ON t.item_id = i.id WHERE i.status = 'quarantined'"
                " ORDER BY coalesce(t.score, 0), i.id LIMIT 1000").fetchall()
            open_c = ts.contradictions(conn, "open", limit=1000)
            sides = self._sides(conn, open_c)
            reviews = ts.latest_reviews(conn)
            hashes = dict(conn.execute("SELECT id, content_hash FROM items WHERE status = 'quarantined'").fetchall())
        out: list[dict[str, Any]] = []
        for item_id, coll, key, score, reason, by_policy in rows:
            done = reviews.get(item_id)
            if done is not None and done.verdict == "rejected" and done.features.get("hash") == hashes.get(item_id):
                continue  # an admin already kept this text out: nothing left to decide until it changes
            if reason and "#" in reason and "contradiction" in reason:
                suggestion = "resolve the contradiction (keep the right side), or approve to restore"
            elif by_policy:
                suggestion = "approve to restore it, or reject to keep it out"
            else:
                suggestion = "restore, or leave it in quarantine"
            out.append({"type": "item", "id": item_id, "collection": coll, "key": key,
                        "title": f"{coll}/{key}", "reason": reason or ("by policy" if by_policy else "by hand"),
                        "score": None if score is None else round(score, 4), "suggestion": suggestion})
        for c in open_c:
            s = self._summary(c, sides)
            title = (f"{s['b']['collection']}/{s['b']['key']} v{c.a_version}→v{c.b_version}" if c.is_version else
                     f"{s['a']['collection']}/{s['a']['key']} ↔ {s['b']['collection']}/{s['b']['key']}")
            out.append({"type": "contradiction", "id": c.id, "collection": s["a"]["collection"], "key": s["a"]["key"],
                        "title": title, "reason": f"{c.kind}: {s['evidence']}", "score": round(c.score, 4),
                        "suggestion": s["suggestion"]})
        return out

    def trust_review(self, collection: str, key: str, verdict: str, note: str = "") -> dict[str, Any]:
        """An admin's decision on one item: approve (and restore), reject (and quarantine), or restore only."""
        if verdict not in VERDICTS:
            raise InvalidInput(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        self.require("trust.review", f"{collection}/{key}")
        at = _now()
        with self.db.write() as conn:
            item = self._item(conn, collection, key)
            if item.status not in ts.SCORED_STATUSES:
                raise InvalidInput(f"{item.name} is {item.status}; only active or quarantined items are reviewed")
            reason = f"review: {verdict}" + (f" — {note[:300]}" if note else "")
            if verdict != "restore":
                self._review_row(conn, item, verdict, note, at)
            version = self._set_item_status(conn, item, "quarantined" if verdict == "rejected" else "active", reason)
            self.auditor.one(conn, "trust.review", item.name, {"verdict": verdict, "note": note[:300],
                                                               "from": item.status, "version": version})
        self.sync_index()
        self.bus.publish("memory.changed", puts=1, deletes=0)
        return {"id": item.id, "collection": collection, "key": key, "verdict": verdict,
                "status": "quarantined" if verdict == "rejected" else "active", "version": version}

    def trust_retrain(self) -> dict[str, Any]:
        """Fit the learned model on the admin reviews now (it also retrains on its own as reviews arrive)."""
        self.require("trust.retrain", "trust.model")
        policy = self.trust_policy()
        with self.db.write() as conn:
            return engine.retrain(self, conn, policy, _now())  # type: ignore[arg-type]


def _wait_either(wake: threading.Event, stop: threading.Event, timeout: float, tick: float = 0.2) -> None:
    """Return when ``wake`` or ``stop`` is set, or after ``timeout`` seconds. Two events cannot be waited
    on together, so ``wake`` is waited on in short ticks: waiting on it alone for ``trust.interval_s``
    (300 s by default) kept ``close()`` blocked until its join gave up."""
    end = time.monotonic() + timeout
    while not wake.is_set() and not stop.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return
        wake.wait(min(left, tick))


def _alert(details: str) -> dict[str, Any]:
    try:
        d = json.loads(details)
    except ValueError:
        d = {}
    return {"kind": d.get("kind", "?"), "message": d.get("message", "")}
