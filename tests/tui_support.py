"""Deterministic wrappers for TUI tests: frozen clocks, fixed system stats, a core that records calls."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from core.memdeck import Memdeck

FROZEN_NOW = 1_790_000_000.0  # 2026-09-21 14:13 UTC


def fixed_system_stats(_core: Any) -> dict[str, Any]:
    return {"cpu_percent": 12.0, "rss": 150 * 2**20, "disk_free": 40 * 2**30, "load": "0.50, 0.40, 0.30",
            "at": FROZEN_NOW}


class FrozenCore:
    """Delegates to a real Memdeck but pins the values that change run to run (paths, sizes, timings)."""

    def __init__(self, md: Memdeck) -> None:
        self._md = md

    def __getattr__(self, name: str) -> Any:
        return getattr(self._md, name)

    def stats(self, with_drift: bool = True) -> dict[str, Any]:
        s = self._md.stats(with_drift)
        s["data_dir"] = "/srv/memdeck"
        s["database"].update(path="/srv/memdeck/memdeck.db", bytes=1_843_200)
        s["index"]["file_bytes"] = 561_000
        if s["last_heartbeat"]:
            s["last_heartbeat"].update(started_at=FROZEN_NOW - 120, duration_ms=2.5)
        return s

    def heartbeats(self, limit: int = 50) -> list[dict[str, Any]]:
        beats = self._md.heartbeats(limit)
        for n, b in enumerate(beats):
            b.update(started_at=FROZEN_NOW - 120 - 300 * n, duration_ms=2.0 + (n % 4) * 0.5)
        return beats

    def search(self, *args: Any, **kwargs: Any) -> Any:
        result = self._md.search(*args, **kwargs)
        result.timings_ms = {"total": 12.0}
        return result


    def audit_verify(self, job: Any = None, threads: int = 1) -> Any:
        report = self._md.audit_verify(job, threads)
        report.seconds, report.checked_at = 0.05, FROZEN_NOW
        return report


    def backups(self) -> list[Any]:
        out = self._md.backups()
        for n, b in enumerate(out):
            b.bytes, b.sha256 = 1_234_567 + n * 1000, f"{n:02d}" * 32
            if b.verified_at is not None:
                b.verified_at = FROZEN_NOW - 60
        return out

    def backup_schedule(self) -> dict[str, Any]:
        s = self._md.backup_schedule()
        s.update(last_run=None, next_run=FROZEN_NOW + 3600 if s["schedule"] != "off" else None)
        return s


class SlowRecordingCore(FrozenCore):
    """Every public call sleeps and records the thread it ran on, to prove none runs on the event loop."""

    def __init__(self, md: Memdeck, delay: float = 0.15) -> None:
        super().__init__(md)
        self.delay = delay
        self.calls: list[tuple[str, bool]] = []
        self._lock = threading.Lock()

    def __getattribute__(self, name: str) -> Any:
        try:
            attr = object.__getattribute__(self, name)
        except AttributeError:
            attr = getattr(object.__getattribute__(self, "_md"), name)
        if name.startswith("_") or name in {"delay", "calls", "bus", "workers", "index", "layout", "config",
                                            "notices", "start_heartbeat"} or not callable(attr):
            return attr

        def slow(*args: Any, **kwargs: Any) -> Any:
            on_main = threading.current_thread() is threading.main_thread()
            with object.__getattribute__(self, "_lock"):
                object.__getattribute__(self, "calls").append((name, on_main))
            time.sleep(object.__getattribute__(self, "delay"))
            return attr(*args, **kwargs)

        return slow


# ---------------------------------------------------------------------- Ask and Episodes (issue 6)
FIXED_TIMINGS = {"embed": 4.2, "retrieve": 6.8, "prompt": 0.4, "generate": 812.5, "total": 824.0}
DEMO_SESSION = "s20260921T141300Z-demo"


class FrozenAskCore(FrozenCore):
    """Pins what an answer measures (stage timings) and names the first session, for snapshots."""

    def ask(self, question: str, session: str | None = None, **kwargs: Any) -> Any:
        result = self._md.ask(question, session or DEMO_SESSION, **kwargs)
        result.timings = dict(FIXED_TIMINGS)
        return result


def _retrieved(md: Memdeck, keys: list[tuple[str, str]], cited: int) -> list[dict[str, Any]]:
    out = []
    for n, (collection, key) in enumerate(keys, start=1):
        item = md.get(collection, key)
        out.append({"n": n, "id": item["id"], "collection": collection, "key": key, "version": item["version"],
                    "score": round(0.033 - n * 0.001, 6), "trust": None, "via": "hit", "cited": n <= cited})
    return out


def seed_episodes(md: Memdeck) -> dict[str, int]:
    """Deterministic episodes in three sessions over ten days, with ratings, a fallback, a model-only
    answer, and a cited memory that changed afterwards. Returns episode ids by a short name."""
    from core.rag import AskResult

    day = 86_400.0
    plan: list[tuple[str, str, float, str, str, str, list[tuple[str, str]], int, str | None]] = [
        ("old", "s20260911T100000Z-0a1b", FROZEN_NOW - 10 * day, "Where is the Porto office?",
         "The Porto office is on Rua de Cedofeita 410 [1].", "memory", [("facts", "office.porto.address")], 1, None),
        ("dock", "s20260919T161500Z-77c0", FROZEN_NOW - 2 * day - 3600, "How do I reset a Dock 2 after a fault?",
         "Pause the dock in Fleet Manager, let it cool for 20 minutes if the code is E23, then press and hold "
         "reset [1]. Escalate if it faults three times in 24 hours [2].", "memory",
         [("docs", "runbook/charging-dock-fault#2"), ("docs", "runbook/charging-dock-fault#4"),
          ("docs", "runbook/charging-dock-fault#1")], 2, None),
        ("france", "s20260919T161500Z-77c0", FROZEN_NOW - 2 * day - 3000, "What is the capital of France?",
         "Memory has nothing on this; from general knowledge, it is Paris.", "model-only", [], 0, None),
        ("lead", "s20260921T090000Z-a1f3", FROZEN_NOW - 5 * 3600, "Who leads the Porto site?",
         "Daniel Costa is the Porto Site Lead [1].", "memory", [("facts", "office.porto.site-lead")], 1, None),
        ("move", "s20260921T090000Z-a1f3", FROZEN_NOW - 5 * 3600 + 120, "When does the Porto team move?",
         "No model answer (no model selected). The best memories:\n[1] facts/office.porto.new-address: "
         "\u201cFrom 2026-06-15 the Porto team works from a new unit at Armazém 5.\u201d", "retrieval-only",
         [("facts", "office.porto.new-address"), ("facts", "office.porto.lease-end")], 2,
         "no model selected; `memdeck models load NAME` picks one"),
        ("lease", "s20260921T090000Z-a1f3", FROZEN_NOW - 5 * 3600 + 300, "When does the Cedofeita lease end?",
         "The lease ends on 2026-06-30 [1].", "memory", [("facts", "office.porto.lease-end")], 1, None),
    ]
    ids: dict[str, int] = {}
    for n, (name, session, at, question, answer, mode, keys, cited, fallback) in enumerate(plan):
        retrieved = _retrieved(md, keys, cited)
        timings = {**FIXED_TIMINGS, "total": 600.0 + 150.0 * n, "generate": 580.0 + 150.0 * n}
        model = None if fallback else "smollm2-135m-instruct"
        result = AskResult(0, session, question, answer, mode, [r for r in retrieved if r["cited"]], retrieved,
                           timings, model, None, 120 + n, 20 + n, False, fallback, None, at, at + 0.8)
        ids[name] = md._record_episode(result)
    md.episode_feedback(ids["old"], 1)
    md.episode_feedback(ids["dock"], 1)
    md.episode_feedback(ids["france"], -1)
    md.episode_feedback(ids["lead"], 1)
    # memory moved on after "Who leads the Porto site?" was answered
    md.put("facts", "office.porto.site-lead", "Ines Carvalho is the Porto Site Lead since September 2026; "
           "Daniel Costa moved to the Leeds test floor.")
    return ids


# ---------------------------------------------------------------------- Trust Dashboard (issue 7)
LEEDS_A = ("The Leeds office is open from 07:00 to 19:00, Monday to Friday. Access outside those hours must be "
           "arranged with the office manager.")
LEEDS_B = ("The Leeds office is open from 08:00 to 18:00, Monday to Friday, and is closed on bank holidays. "
           "Access outside those hours must be arranged with Amy Greenwood.")
HERON_A = "Project Heron is owned by Priya Nair; the weekly review is on Tuesdays."
HERON_B = "Heron review, 24 March: Tomasz Kowalski now owns Project Heron; the weekly review moves to Thursdays."
LEAD_V1 = "Daniel Costa is the Porto Site Lead and the escalation point for anything about the Porto office."
LEAD_V2 = ("Ines Carvalho is the Porto Site Lead since September 2026 and the escalation point for anything about "
           "the Porto office.")


def _side(item_id: int, collection: str, key: str, version: int, status: str, trust: float,
          content: str) -> dict[str, Any]:
    return {"id": item_id, "collection": collection, "key": key, "version": version, "status": status,
            "trust": trust, "content": content}


def trust_fixtures() -> dict[str, Any]:
    """The dashboard's world, shaped as docs/design-trust.md says: four collections, ten bins, three open
    contradictions (one a version conflict, a.id == b.id), two quarantined items and five alerts."""
    contradictions = [
        {"id": 26, "kind": "number", "score": 1.0, "status": "open", "method": "rules", "found_at": FROZEN_NOW - 600,
         "evidence": "time '07:00 to 19:00' vs '08:00 to 18:00'",
         "suggestion": "keep B: the more trusted side (0.70 vs 0.68 before this conflict)", "version_conflict": False,
         "a": _side(52, "facts", "office.leeds.opening-hours", 2, "quarantined", 0.485, LEEDS_A),
         "b": _side(226, "docs", "handbook/office-leeds#1", 1, "active", 0.705, LEEDS_B),
         "findings": [{"kind": "number", "evidence": "time '07:00 to 19:00' vs '08:00 to 18:00'", "score": 1.0,
                       "a_span": "07:00 to 19:00", "b_span": "08:00 to 18:00"}]},
        {"id": 31, "kind": "version", "score": 0.9, "status": "open", "method": "rules", "found_at": FROZEN_NOW - 300,
         "evidence": "owner: 'Daniel Costa' vs 'Ines Carvalho'",
         "suggestion": "keep B: the newer version (keep A puts the older text back)", "version_conflict": True,
         "a": _side(61, "facts", "office.porto.site-lead", 1, "active", 0.612, LEAD_V1),
         "b": _side(61, "facts", "office.porto.site-lead", 2, "active", 0.612, LEAD_V2),
         "findings": [{"kind": "version", "evidence": "owner: 'Daniel Costa' vs 'Ines Carvalho'", "score": 0.9,
                       "a_span": "Daniel Costa", "b_span": "Ines Carvalho"}]},
        {"id": 40, "kind": "owner", "score": 0.82, "status": "open", "method": "rules", "found_at": FROZEN_NOW - 900,
         "evidence": "owner 'Priya Nair' vs 'Tomasz Kowalski'",
         "suggestion": "merge: both are equally trusted; write the correct statement once", "version_conflict": False,
         "a": _side(140, "projects", "project.heron.owner", 1, "active", 0.551, HERON_A),
         "b": _side(181, "meetings", "2026-03-24-heron-review", 1, "quarantined", 0.328, HERON_B),
         "findings": [{"kind": "owner", "evidence": "owner 'Priya Nair' vs 'Tomasz Kowalski'", "score": 0.82,
                       "a_span": "Priya Nair", "b_span": "Tomasz Kowalski"},
                      {"kind": "date", "evidence": "weekday 'Tuesdays' vs 'Thursdays'", "score": 0.6,
                       "a_span": "Tuesdays", "b_span": "Thursdays"}]},
    ]
    items = {
        ("meetings", "2026-03-05-beacon-design-review"): {
            "id": 168, "version": 2, "status": "quarantined", "source": "meeting-notes", "score": 0.3249,
            "reason": "score 0.32 below 0.35 (freshness 0.13)",
            "components": {"consistency": 0.4, "corroboration": 0.0, "freshness": 0.1325, "review": 0.5,
                           "source": 0.65, "usage": 0.5}},
        ("meetings", "2026-03-24-heron-review"): {
            "id": 181, "version": 1, "status": "quarantined", "source": "meeting-notes", "score": 0.328,
            "reason": "open contradiction scoring 0.82 (threshold 0.70); the less trusted side of #40 with "
                      "projects/project.heron.owner",
            "components": {"consistency": 0.0, "corroboration": 0.0, "freshness": 0.21, "review": 0.5,
                           "source": 0.65, "usage": 0.5}},
        ("facts", "office.leeds.opening-hours"): {
            "id": 52, "version": 2, "status": "quarantined", "source": "wiki", "score": 0.485,
            "reason": "open contradiction scoring 1.00 (threshold 0.70); the less trusted side of #26 with "
                      "docs/handbook/office-leeds#1",
            "components": {"consistency": 0.0, "corroboration": 0.5, "freshness": 0.62, "review": 0.5,
                           "source": 0.7, "usage": 0.55}},
    }
    weights = {"consistency": 0.2, "freshness": 0.15, "corroboration": 0.1, "source": 0.2, "usage": 0.15,
               "review": 0.2}
    return {
        "summary": {
            "computed_at": FROZEN_NOW - 600, "method": "formula",
            "model": {"method": "formula", "reviews": 12, "approved": 8, "rejected": 4, "cv_accuracy": None,
                      "trained_at": None, "reason": "12 review(s), the learned model needs 30; using the formula"},
            "collections": [
                {"collection": "docs", "n": 80, "avg": 0.6392, "low": 0, "high": 6, "quarantined": 1,
                 "trend": [0.61, 0.62, 0.62, 0.63, 0.64, 0.6392]},
                {"collection": "facts", "n": 127, "avg": 0.6634, "low": 2, "high": 9, "quarantined": 3,
                 "trend": [0.70, 0.69, 0.68, 0.67, 0.66, 0.6634]},
                {"collection": "meetings", "n": 70, "avg": 0.4665, "low": 12, "high": 0, "quarantined": 5,
                 "trend": [0.55, 0.52, 0.50, 0.48, 0.47, 0.4665]},
                {"collection": "projects", "n": 51, "avg": 0.5328, "low": 0, "high": 1, "quarantined": 0,
                 "trend": [0.53, 0.53, 0.53, 0.53, 0.53, 0.5328]}],
            "histogram": [0, 2, 6, 27, 28, 96, 102, 59, 8, 0], "low_threshold": 0.35, "high_threshold": 0.75,
            "alerts": [
                {"at": FROZEN_NOW - 300, "target": "facts/office.porto.site-lead v1→v2", "kind": "contradiction",
                 "message": "contradiction #31 (version, 0.90): facts/office.porto.site-lead v1→v2"},
                {"at": FROZEN_NOW - 600, "target": "facts/office.leeds.opening-hours", "kind": "quarantine",
                 "message": "quarantined facts/office.leeds.opening-hours: open contradiction scoring 1.00"},
                {"at": FROZEN_NOW - 600, "target": "facts/office.leeds.opening-hours ↔ docs/handbook/office-leeds#1",
                 "kind": "contradiction",
                 "message": "contradiction #26 (number, 1.00): facts/office.leeds.opening-hours ↔ "
                            "docs/handbook/office-leeds#1"},
                {"at": FROZEN_NOW - 900, "target": "meetings/2026-03-24-heron-review", "kind": "quarantine",
                 "message": "quarantined meetings/2026-03-24-heron-review: open contradiction scoring 0.82"},
                {"at": FROZEN_NOW - 3600, "target": "meetings/2026-03-05-beacon-design-review", "kind": "low_trust",
                 "message": "meetings/2026-03-05-beacon-design-review scores 0.32, below 0.35"}]},
        "contradictions": contradictions, "items": items, "weights": weights,
    }


class FrozenTrustCore(FrozenCore):
    """A real Memdeck underneath, with the trust methods answered from ``trust_fixtures()`` held in memory.

    Mutations change that state the way the contract says (a review takes the item out of the queue, a
    resolution closes the contradiction) and are recorded in ``calls`` so tests can check what a key
    sent. ``fail[name] = exc`` makes the next call of ``name`` raise. ``empty=True`` starts unscored:
    nothing until ``trust_recompute`` runs, which also publishes ``trust.alert`` and ``trust.changed``."""

    def __init__(self, md: Memdeck, empty: bool = False) -> None:
        super().__init__(md)
        self.world = trust_fixtures()
        self.empty = empty
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.reads: dict[str, int] = {}
        self.fail: dict[str, BaseException] = {}
        self._lock = threading.Lock()

    def _enter(self, name: str, *args: Any, mutating: bool = False) -> None:
        with self._lock:
            if mutating:
                self.calls.append((name, args))
            else:
                self.reads[name] = self.reads.get(name, 0) + 1
            exc = self.fail.pop(name, None)
        if exc is not None:
            raise exc

    def _open(self) -> list[dict[str, Any]]:
        return [] if self.empty else [c for c in self.world["contradictions"] if c["status"] == "open"]

    def _items(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {} if self.empty else self.world["items"]

    @staticmethod
    def _summary_of(c: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in c.items() if k not in ("findings",)}
        out["a"] = {k: v for k, v in c["a"].items() if k != "content"}
        out["b"] = {k: v for k, v in c["b"].items() if k != "content"}
        return out

    def trust_summary(self) -> dict[str, Any]:
        self._enter("trust_summary")
        if self.empty:
            model = dict(self.world["summary"]["model"], reviews=0, approved=0, rejected=0,
                         reason="0 review(s), the learned model needs 30; using the formula")
            return {"computed_at": None, "method": "formula", "model": model, "collections": [],
                    "histogram": [0] * 10, "low_threshold": 0.35, "high_threshold": 0.75, "alerts": []}
        return copy.deepcopy(self.world["summary"])

    def review_queue(self) -> list[dict[str, Any]]:
        self._enter("review_queue")
        out: list[dict[str, Any]] = []
        # a rejected item stays quarantined but needs nobody any more: it leaves the queue
        items = sorted(((k, v) for k, v in self._items().items() if v["status"] == "quarantined"
                        and (v.get("review") or {}).get("verdict") != "rejected"), key=lambda kv: kv[1]["score"])
        for (collection, key), it in items:
            out.append({"type": "item", "id": it["id"], "collection": collection, "key": key,
                        "title": f"{collection}/{key}", "reason": it["reason"], "score": it["score"],
                        "suggestion": "approve to restore it, or reject to keep it out"})
        for c in sorted(self._open(), key=lambda c: -c["score"]):
            a, b = c["a"], c["b"]
            title = (f"{b['collection']}/{b['key']} v{a['version']}→v{b['version']}" if c["version_conflict"]
                     else f"{a['collection']}/{a['key']} ↔ {b['collection']}/{b['key']}")
            out.append({"type": "contradiction", "id": c["id"], "collection": a["collection"], "key": a["key"],
                        "title": title, "reason": f"{c['kind']}: {c['evidence']}", "score": c["score"],
                        "suggestion": c["suggestion"]})
        return out

    def contradictions(self, status: str | None = "open", limit: int = 200) -> list[dict[str, Any]]:
        self._enter("contradictions")
        rows = self.world["contradictions"] if not self.empty else []
        rows = [c for c in rows if status is None or c["status"] == status]
        return [self._summary_of(c) for c in sorted(rows, key=lambda c: -c["score"])[:limit]]

    def contradiction(self, cid: int) -> dict[str, Any]:
        self._enter("contradiction")
        from core.errors import NotFound

        for c in self.world["contradictions"]:
            if c["id"] == cid and not self.empty:
                return copy.deepcopy(c) | {"resolution": c.get("resolution"), "resolved_by": None,
                                           "resolved_at": None}
        raise NotFound(f"no contradiction #{cid}", hint="`memdeck contradictions list` shows them")

    def trust_show(self, collection: str, key: str) -> dict[str, Any]:
        self._enter("trust_show")
        from core.errors import NotFound

        it = self._items().get((collection, key))
        if it is None:
            raise NotFound(f"no item {collection}/{key}", hint=f"`memdeck list {collection}` shows its keys")
        weights = self.world["weights"]
        explanation = [{"component": name, "value": round(v, 4), "weight": weights[name],
                        "contribution": round(v * weights[name], 4)} for name, v in it["components"].items()]
        explanation.sort(key=lambda e: e["value"])
        conflicts = [self._summary_of(c) for c in self.world["contradictions"]
                     if it["id"] in (c["a"]["id"], c["b"]["id"])]
        quarantined = it["status"] == "quarantined"
        return {"id": it["id"], "collection": collection, "key": key, "version": it["version"],
                "status": it["status"], "source": it["source"], "score": it["score"], "method": "formula",
                "computed_at": FROZEN_NOW - 600, "components": dict(it["components"]), "explanation": explanation,
                "inputs": {"age_days": 262.4, "source": it["source"], "collection": collection},
                "quarantine": {"reason": it["reason"], "by_policy": True} if quarantined else None,
                "review": it.get("review"),
                "history": [{"at": FROZEN_NOW - 86_400 * (5 - n), "score": round(it["score"] + 0.04 * (5 - n), 4)}
                            for n in range(6)],
                "contradictions": conflicts}

    def trust_list(self, order: str = "asc", limit: int = 20, collection: str | None = None,
                   status: str | None = None) -> list[dict[str, Any]]:
        self._enter("trust_list")
        rows = [{"id": it["id"], "collection": c, "key": k, "status": it["status"], "score": it["score"],
                 "method": "formula", "reason": "freshness 0.13"} for (c, k), it in self._items().items()
                if (collection is None or c == collection) and (status is None or it["status"] == status)]
        rows.sort(key=lambda r: r["score"], reverse=order == "desc")
        return rows[:limit]

    def trust_review(self, collection: str, key: str, verdict: str, note: str = "") -> dict[str, Any]:
        self._enter("trust_review", collection, key, verdict, mutating=True)
        it = self._items()[(collection, key)]
        it["status"] = "quarantined" if verdict == "rejected" else "active"
        if verdict != "restore":
            it["review"] = {"verdict": verdict, "actor": "alice", "at": FROZEN_NOW, "note": note}
        return {"id": it["id"], "collection": collection, "key": key, "verdict": verdict,
                "status": "quarantined" if verdict == "rejected" else "active", "version": it["version"]}

    def contradiction_resolve(self, cid: int, keep: str, text: str | None = None, note: str = "") -> dict[str, Any]:
        self._enter("contradiction_resolve", cid, keep, text, mutating=True)
        c = next(c for c in self.world["contradictions"] if c["id"] == cid)
        c["status"] = "dismissed" if keep == "both" else "resolved"
        c["resolution"] = {"A": "kept A", "B": "kept B", "both": "kept both: not a contradiction",
                           "merge": f"merged into {c['a']['collection']}/{c['a']['key']}"}[keep]
        return {"id": cid, "status": c["status"], "resolution": c["resolution"], "keep": keep,
                "written_version": c["a"]["version"] + 1 if keep == "merge" else None}

    def trust_recompute(self, full: bool = False, job: Any = None) -> dict[str, Any]:
        self._enter("trust_recompute", full, mutating=True)
        if job is not None:
            job.progress(164, 328, "checking facts/office.leeds.opening-hours")
        self.empty = False
        self._md.bus.publish("trust.alert", target="facts/office.porto.site-lead v1→v2", alert="contradiction",
                             message="contradiction #31 (version, 0.90): facts/office.porto.site-lead v1→v2")
        self._md.bus.publish("trust.changed", scored=328, quarantined=2, restored=0, contradictions_new=3)
        return {"full": full, "scored": 328, "changed_items": 328, "contradictions_new": 3, "contradictions_open": 3,
                "quarantined": [{"id": 52, "collection": "facts", "key": "office.leeds.opening-hours"},
                                {"id": 181, "collection": "meetings", "key": "2026-03-24-heron-review"}],
                "restored": [], "method": "formula", "model": self.world["summary"]["model"], "duration_ms": 812.0}


async def wait_for(pilot: Any, predicate: Any, timeout: float = 8.0) -> None:
    """Let the app run until ``predicate()`` holds (workers and messages are asynchronous)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)
