"""The trust engine end to end on a real Memdeck (fake embedder, fake LLM): passes and scores, stored
contradictions and the quarantine policy, version conflicts, resolving and reviewing, the learned model,
freshness decay, the dashboard summary, purge, the model judge, typed errors and the background worker.

Contract: docs/design-trust.md. The maths alone is tests/test_trust.py, the checks tests/test_contradictions.py.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers import WordHashEmbedder, fake_loader

from core import contradiction_judge as judge
from core import trust_engine as engine
from core import trust_store as ts
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.events import Event
from core.memdeck import Memdeck
from core.roles import Identity

DAY = 86_400.0
WINNER = ("facts", "office.leeds.desks")  # hr-handbook: reliability 0.9
LOSER = ("facts", "leeds.desk.count")  # slack-import: reliability 0.5
HANDBOOK = "The Leeds office has 40 desks."
SLACK = "The Leeds office has 25 desks."
UNRELATED = [
    ("facts", "picker.battery", "Picker 3 battery lasts ten hours on a full charge.", "wiki"),
    ("docs", "runbook.dock", "To reset a charging dock hold the service button for ten seconds.", "jira-export"),
]
JUDGE_A = "The Leeds office is closed to visitors on Fridays after lunch."  # no rule fires on this pair,
JUDGE_B = "The Leeds office welcomes visitors on Fridays after lunch."  # cosine 0.80 with the fake embedder


# ----------------------------------------------------------------------------- helpers
@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MEMDECK__ settings from the environment leak into these decks."""
    for name in list(os.environ):
        if name.startswith("MEMDECK__"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("MEMDECK_HOME", raising=False)


def open_deck(data_dir: Path, identity: Identity | None = None, **fake: Any) -> Memdeck:
    """A Memdeck with the word-hash embedder and a fake LLM runtime (``md._test_loader`` keeps it)."""
    loader = fake_loader(**(fake or {"reply": "The Leeds office has 40 desks [1]."}))
    md = Memdeck.open(data_dir, embedder=WordHashEmbedder(), llm_loader=loader, identity=identity)
    md._test_loader = loader  # type: ignore[attr-defined]
    return md


@pytest.fixture
def md(data_dir: Path) -> Iterator[Memdeck]:
    """A deck on a fresh data dir (overrides conftest's: this one has the fake LLM too)."""
    with open_deck(data_dir) as m:
        yield m


def put_pair(md: Memdeck) -> tuple[int, int]:
    """The handbook fact and the contradicting chat import; returns (winner id, loser id)."""
    w = md.put(*WINNER, HANDBOOK, source="hr-handbook")
    lo = md.put(*LOSER, SLACK, source="slack-import")
    return w.item_id, lo.item_id


@pytest.fixture
def conflicted(md: Memdeck) -> Memdeck:
    """Two unrelated facts plus the handbook/slack conflict, after one recompute."""
    for coll, key, text, source in UNRELATED:
        md.put(coll, key, text, source=source)
    put_pair(md)
    md.trust_recompute()
    return md


def sql(md: Memdeck, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of a read-only query on the deck's database."""
    with md.db.read() as conn:
        return [tuple(r) for r in conn.execute(query, args).fetchall()]


def events(md: Memdeck, action: str) -> list[dict[str, Any]]:
    """Audit events of one action, oldest first, details parsed."""
    return [{"actor": a, "target": t, "outcome": o, "details": json.loads(d)} for a, t, o, d in sql(
        md, "SELECT actor, target, outcome, details FROM audit_events WHERE action = ? ORDER BY seq", action)]


def stored(md: Memdeck, item_id: int) -> ts.StoredScore:
    """The item's row in trust_scores."""
    with md.db.read() as conn:
        return ts.stored_scores(conn, [item_id])[item_id]


def status(md: Memdeck, ref: tuple[str, str]) -> str:
    """The item's current status."""
    return str(md.get(*ref)["status"])


def only_open(md: Memdeck) -> dict[str, Any]:
    """The one open contradiction (fails if there are none or several)."""
    (c,) = md.contradictions("open")
    return c


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


# ============================================================================= 1. scores
def test_recompute_scores_every_active_item_and_explains_it(md: Memdeck) -> None:
    """Every item gets a score in [0, 1] with six components; show explains it exactly."""
    ids = [md.put(c, k, t, source=s).item_id for c, k, t, s in UNRELATED]
    ids.append(md.put(*WINNER, HANDBOOK, source="hr-handbook").item_id)
    out = md.trust_recompute()
    assert out["scored"] == 3 and out["full"] is True and out["method"] == "formula"
    assert out["contradictions_new"] == 0 and out["quarantined"] == [] and out["duration_ms"] >= 0
    rows = dict(sql(md, "SELECT item_id, score FROM trust_scores"))
    assert sorted(rows) == sorted(ids) and all(0.0 <= s <= 1.0 for s in rows.values())
    policy = md.trust_policy()
    weights = policy.normalised_weights()
    show = md.trust_show(*WINNER)
    assert show["id"] == ids[-1] and show["source"] == "hr-handbook" and show["method"] == "formula"
    assert set(show["components"]) == {"source", "freshness", "usage", "corroboration", "consistency", "review"}
    assert show["components"]["source"] == pytest.approx(0.9)  # hr-handbook in data/policies/trust.toml
    assert show["components"]["review"] == 0.5 and show["components"]["consistency"] == 1.0
    assert show["components"]["freshness"] == pytest.approx(1.0, abs=1e-6)
    formula = sum(weights[c] * v for c, v in show["components"].items())
    assert show["score"] == pytest.approx(formula, abs=1e-4)
    assert sum(r["contribution"] for r in show["explanation"]) == pytest.approx(show["score"], abs=1e-3)
    for row in show["explanation"]:
        assert row["weight"] == pytest.approx(weights[row["component"]], abs=1e-4)
        assert row["contribution"] == pytest.approx(row["value"] * row["weight"], abs=1e-3)
    assert show["inputs"]["source"] == "hr-handbook" and show["inputs"]["open_contradictions"] == 0
    assert show["quarantine"] is None and show["review"] is None and show["contradictions"] == []
    assert [h["score"] for h in show["history"]] == [pytest.approx(show["score"], abs=1e-6)]
    assert sql(md, "SELECT count(*) FROM trust_history")[0][0] == 3  # one first point per item
    md.trust_recompute()
    assert sql(md, "SELECT count(*) FROM trust_history")[0][0] == 3  # unchanged scores add no point
    assert events(md, "trust.recompute")[-1]["details"]["scored"] == 3


def test_trust_list_orders_and_names_the_reason(conflicted: Memdeck) -> None:
    """asc is lowest first, desc highest first, both with the component that moved the score most."""
    asc = conflicted.trust_list("asc")
    desc = conflicted.trust_list("desc")
    assert [r["score"] for r in asc] == sorted(r["score"] for r in asc) and len(asc) == 4
    assert [r["id"] for r in desc] == [r["id"] for r in reversed(asc)]
    assert [r["key"] for r in asc] == [LOSER[1], WINNER[1], "runbook.dock", "picker.battery"]
    # asc names what pulls an item down (value below 0.5), desc what lifts it (above 0.5)
    assert [r["reason"] for r in asc] == ["consistency 0.00", "consistency 0.00", "corroboration 0.00",
                                          "corroboration 0.00"]
    assert [r["reason"] for r in desc] == ["consistency 1.00", "consistency 1.00", "source 0.90", "freshness 1.00"]
    assert asc[0]["status"] == "quarantined" and asc[0]["method"] == "formula"
    assert conflicted.trust_list("asc", limit=1) == asc[:1]
    assert [r["key"] for r in conflicted.trust_list(collection="docs")] == ["runbook.dock"]
    assert [r["key"] for r in conflicted.trust_list(status="quarantined")] == [LOSER[1]]
    of = conflicted.trust_of([r["id"] for r in asc] + [9999])
    assert of == {r["id"]: r["score"] for r in asc}  # unscored ids are left out


# ============================================================================= 2. contradictions and policy
def test_a_contradiction_is_stored_once_alerted_and_lowers_consistency(md: Memdeck) -> None:
    """One row however often it is found, one audited and published alert, both sides' consistency down."""
    bus: list[Event] = []
    md.bus.subscribe(bus.append)
    w = md.put(*WINNER, HANDBOOK, source="hr-handbook").item_id
    md.trust_recompute()
    assert stored(md, w).components["consistency"] == 1.0
    lo = md.put(*LOSER, SLACK, source="slack-import").item_id
    first = md.trust_recompute()
    assert first["contradictions_new"] == 1 and first["contradictions_open"] == 1
    again = md.trust_recompute(full=True)
    assert again["contradictions_new"] == 0 and again["contradictions_open"] == 1
    rows = sql(md, "SELECT a_id, b_id, kind, score, method, status FROM contradictions")
    assert rows == [(w, lo, "number", 1.0, "rules", "open")]
    c = only_open(md)
    assert c["evidence"] == "desk '40' vs '25'" and c["suggestion"].startswith("keep A")
    alerts = [e for e in events(md, "trust.alert") if e["details"]["kind"] == "contradiction"]
    assert len(alerts) == 1 and alerts[0]["details"]["contradiction"] == c["id"]
    assert alerts[0]["target"] == f"{WINNER[0]}/{WINNER[1]} ↔ {LOSER[0]}/{LOSER[1]}"
    published = [e.payload for e in bus if e.kind == "trust.alert"]
    assert {p["alert"] for p in published} == {"contradiction", "quarantine"}
    assert any(f"contradiction #{c['id']}" in p["message"] for p in published)
    for item_id in (w, lo):  # both sides: 1 - score with one open contradiction
        assert stored(md, item_id).components["consistency"] == 0.0
        assert stored(md, item_id).inputs["open_contradictions"] == 1


def test_the_less_trusted_side_is_quarantined_out_of_search_and_ask(md: Memdeck) -> None:
    """The slack import loses to the handbook: quarantined by policy, out of search and Ask, still readable."""
    w, lo = put_pair(md)
    out = md.trust_recompute()
    assert [q["key"] for q in out["quarantined"]] == [LOSER[1]]
    assert "the less trusted side of #" in out["quarantined"][0]["reason"]
    assert status(md, LOSER) == "quarantined" and status(md, WINNER) == "active"
    assert md.get(*LOSER)["content"] == SLACK  # kept, never deleted
    show = md.trust_show(*LOSER)
    assert show["quarantine"]["by_policy"] is True and "contradiction scoring 1.00" in show["quarantine"]["reason"]
    assert stored(md, lo).policy_quarantined and not stored(md, w).policy_quarantined
    assert stored(md, lo).score < stored(md, w).score
    q = events(md, "memory.quarantine")
    assert [e["target"] for e in q] == ["facts/leeds.desk.count"]
    assert q[0]["details"]["reason"].startswith("trust policy: open contradiction")
    keys = [h.key for h in md.search("Leeds office desks").hits]
    assert WINNER[1] in keys and LOSER[1] not in keys
    answer = md.ask("How many desks does the Leeds office have?")
    retrieved = [r["key"] for r in answer.retrieved]
    assert WINNER[1] in retrieved and LOSER[1] not in retrieved
    prompt = md._test_loader.runtimes[-1].last_messages[-1]["content"]  # type: ignore[attr-defined]
    assert HANDBOOK in prompt and "25 desks" not in prompt


def test_key_subject_candidates_find_a_conflict_the_vectors_miss(md: Memdeck) -> None:
    """``office.leeds.desks`` is about "leeds": a long note naming Leeds is checked even when not close."""
    md.config_set("contradictions.min_similarity", "0.95")
    note = ("Board meeting notes: the budget was approved, hiring is paused for the third quarter, the"
            " refurbished Leeds office now has 25 desks, the coffee machine was repaired and parking permits"
            " were renewed.")
    md.put("meetings", "2026-03-board", note, source="meeting-notes")
    md.put(*WINNER, HANDBOOK, source="hr-handbook")
    assert engine.key_subject(WINNER[1]) == "leeds" and engine.key_subject("leeds-desks") is None
    out = md.trust_recompute()
    assert out["contradictions_new"] == 1
    c = only_open(md)
    assert {c["a"]["key"], c["b"]["key"]} == {WINNER[1], "2026-03-board"} and c["kind"] == "number"


SPARROW_SIBLINGS = [("owner", "Hannah Reyes leads the Sparrow pilot delivery."),
                    ("status", "Sparrow is on track for its go-live."),
                    ("team", "The Sparrow team is Hannah Reyes, Liam Doherty and Ben Ashworth."),
                    ("go-live", "Sparrow goes live at the Wakefield site in May."),
                    ("budget", "Sparrow has its own budget line for the pilot."),
                    ("risks", "The main Sparrow risk is the chilled area survey.")]
SPARROW_MEETING = ("Attendees: Chloe Abbott, Owen Fletcher and Hannah Reyes. Sales pipeline review. The customer asked"
                   " to widen the Wakefield trial so it covers the chilled area, and the pilot is now planned at {n}"
                   " robots. The Coimbra wholesaler booked a demo for 2026-04-22. Action items: Hannah Reyes to update"
                   " the Sparrow plan by 2026-03-27.")


def test_a_note_naming_a_codename_once_reaches_that_project_whichever_side_changes(md: Memdeck) -> None:
    """The demo's cg-11 shape: the project's own items name "Sparrow" too (and match the key in full-text
    search), so they must not crowd the meeting out; and a changed meeting reaches the project's items
    through the subjects it names, a changed project entry reaches the meeting through mentioning()."""
    md.config_set("contradictions.min_similarity", "0.95")  # vectors find nothing here
    for field, text in SPARROW_SIBLINGS:
        md.put("projects", f"project.sparrow.{field}", text, source="jira-export")
    md.put("projects", "project.sparrow.scope", "The Sparrow pilot at Wakefield uses 12 robots for eight weeks.",
           source="jira-export")
    meeting = md.put("meetings", "2026-03-17-sales-pipeline", SPARROW_MEETING.format(n=18), source="meeting-notes")
    md.trust_recompute(full=True)
    c = only_open(md)
    assert {c["a"]["key"], c["b"]["key"]} == {"project.sparrow.scope", "2026-03-17-sales-pipeline"}
    with md.db.read() as conn:
        scope = ts.items_by_id(conn, [c["a"]["id"] if c["a"]["key"].startswith("project") else c["b"]["id"]])
        (item,) = scope.values()
        own = set(engine.SubjectIndex(ts.scored_keys(conn)).items["sparrow"])
        assert len(own) == len(SPARROW_SIBLINGS) + 1
        assert engine.mentioning(conn, item, 1, own) == [meeting.item_id]  # the project's own items do not crowd it out
    # the meeting changes (an incremental pass scans only it): the subjects it names reach the project
    md.put("meetings", "2026-03-17-sales-pipeline", SPARROW_MEETING.format(n=20), source="meeting-notes")
    out = md.trust_recompute()
    assert out["full"] is False and out["superseded"] == 1
    assert cross_pairs(md) == [("project.sparrow.scope", "2026-03-17-sales-pipeline", "robot '12' vs '20'")]
    # the project entry changes: mentioning() finds the meeting that names its subject
    md.put("projects", "project.sparrow.scope", "The Sparrow pilot at Wakefield uses 14 robots for eight weeks.",
           source="jira-export")
    out = md.trust_recompute()
    assert out["full"] is False and out["superseded"] >= 1
    assert cross_pairs(md) == [("project.sparrow.scope", "2026-03-17-sales-pipeline", "robot '14' vs '20'")]


def cross_pairs(md: Memdeck) -> list[tuple[str, str, str]]:
    """Open contradictions between two items (not version conflicts): keys and evidence."""
    return [(c["a"]["key"], c["b"]["key"], c["evidence"]) for c in md.contradictions("open")
            if c["a"]["id"] != c["b"]["id"]]


def test_named_subjects_are_names_not_common_words() -> None:
    known = {"sparrow", "picker 3", "lidar", "security", "owen fletcher"}
    text = ("Security keys are mandatory. Owen Fletcher will update the Sparrow plan; the lidar on each"
            " Picker 3 is checked. Sparrow. 3 is a number.")
    assert engine.named_subjects(text, known, 2) == ["owen fletcher", "sparrow", "picker 3"]
    assert engine.named_subjects("Sparrow goes live in May.", known, 2) == []  # a capital that only starts a sentence
    assert engine.named_subjects("The Picker. 3 robots", known, 2) == []
    index = engine.SubjectIndex([(1, "project.sparrow.scope"), (2, "project.sparrow.owner"), (3, "company.name"),
                                 (4, "people.owen-fletcher.role")])
    assert index.longest == 2 and index.named_in("Ask Owen Fletcher about the Sparrow pilot.") == [4, 1, 2]


# ============================================================================= 3. version conflicts
def test_a_new_version_changing_a_number_is_a_version_conflict_not_quarantined(md: Memdeck) -> None:
    """12 -> 18 spaces on one key: a = b = the item, kind version, weighted by version_weight, no quarantine."""
    item = md.put("docs", "porto.parking", "The Porto site has 12 parking spaces for visitors.", source="wiki")
    md.trust_recompute()
    md.put("docs", "porto.parking", "The Porto site has 18 parking spaces for visitors.", source="wiki")
    out = md.trust_recompute()
    assert out["contradictions_new"] == 1 and out["quarantined"] == []
    (row,) = sql(md, "SELECT a_id, a_version, b_id, b_version, kind, status FROM contradictions")
    assert row == (item.item_id, 1, item.item_id, 2, "version", "open")
    c = only_open(md)
    assert c["version_conflict"] is True and c["suggestion"].startswith("keep B")
    detail = md.contradiction(c["id"])
    assert "12 parking" in detail["a"]["content"] and "18 parking" in detail["b"]["content"]
    assert status(md, ("docs", "porto.parking")) == "active"
    weight = float(md.config.get("contradictions.version_weight"))
    assert weight == 0.5
    assert stored(md, item.item_id).components["consistency"] == pytest.approx(1 - weight * c["score"])


# ============================================================================= 4. superseded
def test_an_edit_that_ends_the_conflict_supersedes_it_and_policy_restores(md: Memdeck) -> None:
    """The handbook is corrected to 25: the old pair closes as superseded, the chat import comes back."""
    w, lo = put_pair(md)
    md.trust_recompute()
    old = only_open(md)["id"]
    assert status(md, LOSER) == "quarantined"
    md.put(*WINNER, SLACK, source="hr-handbook")  # now agrees with the quarantined text
    out = md.trust_recompute()
    assert out["superseded"] == 1 and [r["key"] for r in out["restored"]] == [LOSER[1]]
    closed = md.contradiction(old)
    assert closed["status"] == "resolved" and closed["resolution"].startswith("superseded")
    assert status(md, LOSER) == "active" and not stored(md, lo).policy_quarantined
    restore = events(md, "memory.restore")
    assert [e["target"] for e in restore] == ["facts/leeds.desk.count"]
    assert restore[0]["details"]["reason"].startswith("trust policy")
    left = md.contradictions("open")  # only the handbook's own 40 -> 25 edit, which policy never acts on
    assert [(c["kind"], c["a"]["id"], c["b"]["id"]) for c in left] == [("version", w, w)]
    assert md.trust_recompute()["quarantined"] == []


# ============================================================================= 5. resolving
def test_keep_a_rejects_b_and_approves_a(conflicted: Memdeck) -> None:
    """Reviews both sides, quarantines B by decision (not policy), audited once; a second resolve is refused."""
    c = only_open(conflicted)
    out = conflicted.contradiction_resolve(c["id"], "A", note="the handbook is right")
    assert out["status"] == "resolved" and out["written_version"] is None
    assert out["resolution"].startswith("kept A (facts/office.leeds.desks)")
    assert status(conflicted, WINNER) == "active" and status(conflicted, LOSER) == "quarantined"
    verdicts = dict(sql(conflicted, "SELECT item_id, verdict FROM trust_reviews"))
    assert verdicts == {c["a"]["id"]: "approved", c["b"]["id"]: "rejected"}
    assert not stored(conflicted, c["b"]["id"]).policy_quarantined  # an admin's decision now, not policy's
    (ev,) = events(conflicted, "contradiction.resolve")
    assert ev["target"] == f"contradiction/{c['id']}" and ev["details"]["keep"] == "A"
    assert ev["details"]["note"] == "the handbook is right"
    with pytest.raises(InvalidInput, match="already resolved"):
        conflicted.contradiction_resolve(c["id"], "B")
    assert len(events(conflicted, "contradiction.resolve")) == 1


def test_keep_b_quarantines_a_and_approves_b(conflicted: Memdeck) -> None:
    """The mirror of keep A; a later pass leaves both decisions alone."""
    c = only_open(conflicted)
    conflicted.contradiction_resolve(c["id"], "B")
    assert status(conflicted, WINNER) == "quarantined" and status(conflicted, LOSER) == "active"
    verdicts = dict(sql(conflicted, "SELECT item_id, verdict FROM trust_reviews"))
    assert verdicts == {c["a"]["id"]: "rejected", c["b"]["id"]: "approved"}
    assert events(conflicted, "contradiction.resolve")[0]["details"]["keep"] == "B"
    assert conflicted.contradiction(c["id"])["status"] == "resolved"
    out = conflicted.trust_recompute(full=True)  # policy leaves both decisions alone
    assert out["quarantined"] == [] and out["restored"] == []
    assert status(conflicted, WINNER) == "quarantined" and status(conflicted, LOSER) == "active"


def test_both_dismisses_restores_and_is_not_raised_again(conflicted: Memdeck) -> None:
    """A false alarm: dismissed, the quarantined side restored, the same texts never raised again."""
    c = only_open(conflicted)
    out = conflicted.contradiction_resolve(c["id"], "both", note="different floors")
    assert out["status"] == "dismissed" and status(conflicted, LOSER) == "active"
    assert conflicted.contradictions("dismissed")[0]["id"] == c["id"]
    again = conflicted.trust_recompute(full=True)
    assert again["contradictions_new"] == 0 and again["contradictions_open"] == 0
    assert again["quarantined"] == [] and status(conflicted, LOSER) == "active"
    assert sql(conflicted, "SELECT count(*) FROM contradictions")[0][0] == 1
    assert events(conflicted, "contradiction.resolve")[0]["details"]["keep"] == "both"


def test_merge_needs_text_then_writes_a_and_deletes_b(conflicted: Memdeck) -> None:
    """Merge text becomes A's next version; B is soft-deleted with its history kept."""
    c = only_open(conflicted)
    for bad in (None, "", "   "):
        with pytest.raises(InvalidInput, match="merge needs the merged text"):
            conflicted.contradiction_resolve(c["id"], "merge", text=bad)
    assert events(conflicted, "contradiction.resolve") == []
    merged = "The Leeds office has 40 desks, 25 of them bookable."
    out = conflicted.contradiction_resolve(c["id"], "merge", text=merged)
    assert out["status"] == "resolved" and out["written_version"] == 2
    a = conflicted.get(*WINNER)
    assert a["content"] == merged and a["version"] == 2 and a["status"] == "active"
    assert status(conflicted, LOSER) == "deleted"
    assert [v["content"] for v in conflicted.history(*LOSER)][:1] == [SLACK]  # history kept
    assert conflicted.contradiction(c["id"])["resolution"] == "merged into facts/office.leeds.desks"
    assert events(conflicted, "contradiction.resolve")[0]["details"]["keep"] == "merge"
    assert [e["target"] for e in events(conflicted, "memory.delete")] == ["facts/leeds.desk.count"]


def test_merge_is_one_transaction(conflicted: Memdeck, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while closing the contradiction rolls back the new version of A and the delete of B."""
    c = only_open(conflicted)
    before = sql(conflicted, "SELECT count(*) FROM audit_events")[0][0]

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ts, "close_contradiction", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        conflicted.contradiction_resolve(c["id"], "merge", text="The Leeds office has 33 desks.")
    assert conflicted.get(*WINNER)["content"] == HANDBOOK and conflicted.get(*WINNER)["version"] == 1
    assert status(conflicted, LOSER) == "quarantined"
    assert conflicted.contradiction(c["id"])["status"] == "open"
    assert sql(conflicted, "SELECT count(*) FROM audit_events")[0][0] == before


def test_keep_a_on_a_version_conflict_puts_the_old_text_back_once(md: Memdeck) -> None:
    """Reverting to the older text does not raise the same two texts again, reversed."""
    md.put("docs", "porto.parking", "The Porto site has 12 parking spaces for visitors.", source="wiki")
    md.trust_recompute()
    md.put("docs", "porto.parking", "The Porto site has 18 parking spaces for visitors.", source="wiki")
    md.trust_recompute()
    out = md.contradiction_resolve(only_open(md)["id"], "A")
    assert out["written_version"] == 3
    assert md.get("docs", "porto.parking")["content"] == "The Porto site has 12 parking spaces for visitors."
    after = md.trust_recompute()  # the same two texts the other way round are not a new alarm
    assert after["contradictions_new"] == 0 and after["contradictions_open"] == 0


# ============================================================================= 6. review
def test_approve_restores_and_policy_does_not_quarantine_again(conflicted: Memdeck) -> None:
    """An approval restores the policy-quarantined item and exempts its text from policy."""
    out = conflicted.trust_review(*LOSER, "approved", note="checked the floor plan")
    assert out["status"] == "active" and status(conflicted, LOSER) == "active"
    again = conflicted.trust_recompute(full=True)
    assert LOSER[1] not in [q["key"] for q in again["quarantined"]] and status(conflicted, LOSER) == "active"
    # The contradiction is still open and the approval lifted B's base score above A's, so by the
    # documented rule A is now the less trusted side (docs/design-trust.md, Policy).
    assert [q["key"] for q in again["quarantined"]] == [WINNER[1]]
    assert conflicted.trust_recompute(full=True)["quarantined"] == [] and status(conflicted, LOSER) == "active"
    show = conflicted.trust_show(*LOSER)
    assert show["review"]["verdict"] == "approved" and show["components"]["review"] == 1.0
    (ev,) = events(conflicted, "trust.review")
    assert ev["target"] == "facts/leeds.desk.count"
    assert ev["details"] == {"verdict": "approved", "note": "checked the floor plan", "from": "quarantined",
                             "version": out["version"]}


def test_reject_quarantines_and_restore_holds_until_the_item_changes(conflicted: Memdeck) -> None:
    """Reject quarantines for good; restore holds that version only, a new text is fair game again."""
    conflicted.trust_review("facts", "picker.battery", "rejected")
    assert status(conflicted, ("facts", "picker.battery")) == "quarantined"
    assert conflicted.trust_recompute()["restored"] == []  # policy never lets out what an admin put in
    assert status(conflicted, ("facts", "picker.battery")) == "quarantined"
    assert conflicted.trust_show("facts", "picker.battery")["components"]["review"] == 0.0
    lo = conflicted.get(*LOSER)["id"]
    out = conflicted.trust_review(*LOSER, "restore")
    assert stored(conflicted, lo).hold_version == out["version"] == conflicted.get(*LOSER)["version"]
    assert conflicted.trust_recompute(full=True)["quarantined"] == []
    assert status(conflicted, LOSER) == "active"
    assert dict(sql(conflicted, "SELECT item_id, verdict FROM trust_reviews")).get(lo) is None  # no verdict
    conflicted.put(*LOSER, "The Leeds office has 30 desks.", source="slack-import")  # a new text: hold ends
    assert [q["key"] for q in conflicted.trust_recompute()["quarantined"]] == [LOSER[1]]
    assert [e["details"]["verdict"] for e in events(conflicted, "trust.review")] == ["rejected", "restore"]


def test_a_viewer_may_look_but_not_review_or_resolve(data_dir: Path) -> None:
    """Viewer: show, summary and list allowed; review, resolve and recompute refused and audited."""
    with open_deck(data_dir, identity=Identity("alice")) as alice:
        put_pair(alice)
        alice.trust_recompute()
        alice.role_grant("dave", "viewer")
        cid = only_open(alice)["id"]
    with open_deck(data_dir, identity=Identity("dave")) as dave:
        assert dave.trust_show(*WINNER)["key"] == WINNER[1]
        assert dave.trust_summary()["collections"][0]["n"] == 2 and dave.contradictions()
        with pytest.raises(PermissionDenied, match="viewer"):
            dave.trust_review(*LOSER, "approved")
        with pytest.raises(PermissionDenied, match="viewer"):
            dave.contradiction_resolve(cid, "A")
        with pytest.raises(PermissionDenied):
            dave.trust_recompute()
        denied = [(a, o) for a, o in sql(dave, "SELECT action, outcome FROM audit_events WHERE actor = 'dave'")]
        assert {("trust.review", "denied"), ("contradiction.resolve", "denied")} <= set(denied)
        assert status(dave, LOSER) == "quarantined" and dave.contradiction(cid)["status"] == "open"


# ============================================================================= 7. learned model
def test_the_formula_rules_until_enough_reviews_then_the_model_learns(md: Memdeck, data_dir: Path) -> None:
    """Below model.min_reviews the formula rules (and says why); at 4 with both verdicts the model learns."""
    items = [("facts", f"fact.{i}", text, src) for i, (text, src) in enumerate([
        ("Picker 3 battery lasts ten hours on a full charge.", "wiki"),
        ("The canteen serves lunch from noon until two.", "slack-import"),
        ("Visitors sign in at the front desk on arrival.", "hr-handbook"),
        ("Dock firmware updates ship every second Tuesday.", "jira-export"),
        ("The car park closes at nine in the evening.", "meeting-notes"),
    ])]
    for coll, key, text, src in items:
        md.put(coll, key, text, source=src)
    md.trust_recompute()
    summary = md.trust_summary()["model"]
    assert summary["method"] == "formula" and summary["reason"].startswith("0 review(s), the learned model needs 30")
    (data_dir / "trust.toml").write_text("[model]\nmin_reviews = 4\n", encoding="utf-8")
    for (coll, key, _t, _s), verdict in zip(items, ["approved", "rejected", "approved"], strict=False):
        md.trust_review(coll, key, verdict)
    few = md.trust_retrain()
    assert few["method"] == "formula" and few["reviews"] == 3 and few["cv_accuracy"] is None
    assert few["reason"] == "3 review(s), the learned model needs 4; using the formula"
    assert md.trust_summary()["model"]["reason"] == few["reason"]
    md.trust_review(items[3][0], items[3][1], "rejected")
    info = md.trust_retrain()
    assert info["method"] == "learned" and info["reviews"] == 4
    assert (info["approved"], info["rejected"]) == (2, 2)
    cv = info["cv_accuracy"]
    assert isinstance(cv, int | float) and not isinstance(cv, bool) and 0.0 <= cv <= 1.0
    retrains = events(md, "trust.retrain")
    assert [e["details"]["method"] for e in retrains] == ["formula", "learned"]
    assert retrains[-1]["details"]["cv_accuracy"] == cv and retrains[-1]["details"]["reviews"] == 4
    assert set(retrains[-1]["details"]["coefficients"]) == {"intercept", "source", "freshness", "usage",
                                                           "corroboration", "consistency"}
    out = md.trust_recompute()
    assert out["method"] == "learned" and out["model"]["method"] == "learned"
    assert md.trust_show(*items[4][:2])["method"] == "learned"
    assert md.trust_summary()["method"] == "learned"
    assert {r["method"] for r in md.trust_list(limit=100)} == {"learned"}


# ============================================================================= 8. freshness
def test_freshness_decays_by_the_collection_half_life(md: Memdeck) -> None:
    """A pass a year ahead: freshness = 2 ** (-age / half-life) per collection, the score drops by its weight."""
    fact = md.put("facts", "picker.battery", "Picker 3 battery lasts ten hours on a full charge.", source="wiki")
    note = md.put("meetings", "standup", "The standup moved to the small room upstairs.", source="meeting-notes")
    now_pass = engine.run_pass(md)
    assert now_pass.scored == 2
    before = {i: stored(md, i) for i in (fact.item_id, note.item_id)}
    t = time.time() + 365 * DAY
    later = engine.run_pass(md, now=lambda: t)
    assert later.at == t
    policy = md.trust_policy()
    weight = policy.normalised_weights()["freshness"]
    for item_id, ref, half_life in ((fact.item_id, ("facts", "picker.battery"), 730.0),
                                    (note.item_id, ("meetings", "standup"), 90.0)):
        assert policy.half_life(ref[0]) == half_life
        s = stored(md, item_id)
        age = s.inputs["age_days"]
        assert age == pytest.approx((t - md.get(*ref)["updated_at"]) / DAY, abs=1e-6)
        assert s.components["freshness"] == pytest.approx(2.0 ** (-age / half_life), abs=1e-6)
        drop = before[item_id].components["freshness"] - s.components["freshness"]
        assert before[item_id].score - s.score == pytest.approx(weight * drop, abs=1e-5)
        assert s.computed_at == t
    assert stored(md, fact.item_id).components["freshness"] == pytest.approx(2 ** -0.5, abs=1e-4)
    assert stored(md, note.item_id).components["freshness"] < 0.07  # four half-lives and more


# ============================================================================= 9. summary
def test_summary_collections_histogram_trend_and_alerts(conflicted: Memdeck) -> None:
    """Per-collection n/avg/low/high/quarantined/trend, a histogram of every scored item, alerts newest first."""
    conflicted.trust_recompute()
    s = conflicted.trust_summary()
    assert s["method"] == "formula" and s["computed_at"] is not None
    assert (s["low_threshold"], s["high_threshold"]) == (0.35, 0.75)
    by = {c["collection"]: c for c in s["collections"]}
    assert sorted(by) == ["docs", "facts"]
    facts = conflicted.trust_list(collection="facts", limit=100)
    assert by["facts"]["n"] == 3 == len(facts) and by["docs"]["n"] == 1
    assert by["facts"]["avg"] == pytest.approx(sum(r["score"] for r in facts) / 3, abs=1e-4)
    assert by["facts"]["quarantined"] == 1 and by["docs"]["quarantined"] == 0
    assert by["facts"]["low"] == sum(r["score"] < 0.35 for r in facts)
    assert by["facts"]["high"] == sum(r["score"] >= 0.75 for r in facts)
    assert len(by["facts"]["trend"]) == 2 and len(by["docs"]["trend"]) == 2  # one point per manual pass
    assert by["facts"]["trend"][-1] == pytest.approx(by["facts"]["avg"], abs=1e-4)
    assert len(s["histogram"]) == 10 and sum(s["histogram"]) == 4
    scored = sql(conflicted, "SELECT score FROM trust_scores")
    for score, in scored:
        assert s["histogram"][min(9, int(score * 10))] >= 1
    alerts = s["alerts"]
    assert [a["at"] for a in alerts] == sorted((a["at"] for a in alerts), reverse=True)
    assert [a["kind"] for a in alerts] == ["quarantine", "contradiction"]  # newest first
    assert alerts[0]["target"] == "facts/leeds.desk.count" and alerts[0]["message"].startswith("quarantined")


# ============================================================================= 10. purge
def test_purge_erases_trust_rows_and_the_contradictions_quoting_it(conflicted: Memdeck) -> None:
    """Purge takes scores, history and contradictions with it and blanks review notes."""
    w, lo = conflicted.get(*WINNER)["id"], conflicted.get(*LOSER)["id"]
    conflicted.trust_review(*LOSER, "approved", note="secret text")
    conflicted.purge(*LOSER, reason="erasure request")
    for table in ("trust_scores", "trust_history"):
        assert sql(conflicted, f"SELECT count(*) FROM {table} WHERE item_id = ?", lo) == [(0,)]
    assert sql(conflicted, "SELECT count(*) FROM contradictions WHERE a_id = ? OR b_id = ?", lo, lo) == [(0,)]
    assert sql(conflicted, "SELECT note FROM trust_reviews WHERE item_id = ?", lo) == [("",)]
    assert sql(conflicted, "SELECT count(*) FROM trust_scores WHERE item_id = ?", w) == [(1,)]
    out = conflicted.trust_recompute(full=True)
    assert out["contradictions_open"] == 0 and out["scored"] == 3
    assert stored(conflicted, w).components["consistency"] == 1.0
    with pytest.raises(NotFound):
        conflicted.trust_show(*LOSER)


# ============================================================================= 11. model judge
def judged_deck(data_dir: Path, **fake: Any) -> Memdeck:
    """A deck with the judge on and a close pair the deterministic checks pass."""
    md = open_deck(data_dir, **fake)
    md.config_set("contradictions.judge", "true")
    md.put("facts", "office.fridays", JUDGE_A, source="hr-handbook")
    md.put("facts", "visitors.fridays", JUDGE_B, source="slack-import")
    return md


def test_the_judge_adds_what_the_rules_miss_and_caches_its_verdict(data_dir: Path) -> None:
    """A yes from the model on a close pair the rules passed is a 'judge' contradiction; asked once."""
    with judged_deck(data_dir, reply="Yes, different numbers.") as md:
        first = md.trust_recompute()
        runtime = md._test_loader.runtimes[-1]  # type: ignore[attr-defined]
        assert first["judged"] == 1 and first["contradictions_new"] == 1 and runtime.calls == 1
        assert JUDGE_A in runtime.last_messages[-1]["content"] and JUDGE_B in runtime.last_messages[-1]["content"]
        c = only_open(md)
        assert c["method"] == "judge" and c["kind"] == "semantic" and c["score"] == judge.JUDGE_SCORE
        assert c["evidence"] == "the model judge: different numbers."
        (row,) = sql(md, "SELECT pair_hash, conflict, score, reason, model FROM judge_cache")
        a, b = md.get("facts", "office.fridays"), md.get("facts", "visitors.fridays")
        assert row == (judge.pair_hash(b["content_hash"], a["content_hash"]), 1, judge.JUDGE_SCORE,
                       "different numbers.", "smollm2-135m-instruct")
        second = md.trust_recompute(full=True)
        assert second["judged"] == 1 and second["contradictions_new"] == 0
        assert runtime.calls == 1  # the cached verdict, no second question


def test_a_no_from_the_judge_is_cached_and_adds_nothing(data_dir: Path) -> None:
    """A no is cached too, so the pair is not asked again."""
    with judged_deck(data_dir, reply="No. They agree.") as md:
        out = md.trust_recompute()
        assert out["judged"] == 0 and out["contradictions_new"] == 0
        assert sql(md, "SELECT conflict, score, reason FROM judge_cache") == [(0, 0.0, "They agree.")]
        md.trust_recompute(full=True)
        assert md._test_loader.runtimes[-1].calls == 1  # type: ignore[attr-defined]


def test_a_failing_judge_is_retried_then_skipped(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A raising runtime: three attempts with backoff, then the pass goes on without a verdict."""
    naps: list[float] = []
    monkeypatch.setattr(judge, "time", SimpleNamespace(sleep=naps.append))
    with judged_deck(data_dir, fail_times=100) as md:
        out = md.trust_recompute()
        assert out["scored"] == 2 and out["judged"] == 0 and out["contradictions_new"] == 0
        assert md._test_loader.runtimes[-1].calls == judge.RETRIES + 1  # type: ignore[attr-defined]
        assert naps == [0.2, 0.4]  # backoff between attempts, none after the last
        assert sql(md, "SELECT count(*) FROM judge_cache") == [(0,)]  # asked again next pass


def test_a_judge_answering_neither_yes_nor_no_is_skipped(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unparseable answer counts as a failure: retried, then skipped."""
    monkeypatch.setattr(judge, "time", SimpleNamespace(sleep=lambda _s: None))
    with judged_deck(data_dir, reply="Perhaps, it depends.") as md:
        assert md.trust_recompute()["contradictions_new"] == 0
        assert md._test_loader.runtimes[-1].calls == judge.RETRIES + 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(("text", "expected"), [
    ("yes, different numbers", (True, "different numbers")),
    ("Yes. They disagree on the owner.", (True, "They disagree on the owner.")),
    ("  NO: both say 40", (False, "both say 40")),
    ("no", (False, "")),
    ("**Yes** - the dates differ", (True, "the dates differ")),
    ("yes\n\n  spread   over\nlines", (True, "spread over lines")),
    ("yesterday it changed", None),
    ("nobody knows", None),
    ("maybe", None),
    ("", None),
])
def test_parse_verdict(text: str, expected: tuple[bool, str] | None) -> None:
    """Yes/no first (any case, after punctuation or markdown), the rest is the reason."""
    assert judge.parse_verdict(text) == expected


def test_parse_verdict_truncates_the_reason() -> None:
    """The reason is capped at 200 characters."""
    verdict = judge.parse_verdict("yes " + "x" * 500)
    assert verdict is not None and verdict[0] is True and len(verdict[1]) == 200


def test_pair_hash_is_order_free() -> None:
    """The cache key ignores which side is A."""
    assert judge.pair_hash("aa", "bb") == judge.pair_hash("bb", "aa") != judge.pair_hash("aa", "cc")


# ============================================================================= 12. bad input
def test_bad_input_gets_typed_errors_with_clear_messages(conflicted: Memdeck) -> None:
    """InvalidInput / NotFound with messages naming the bad value; nothing is reviewed or resolved."""
    cid = only_open(conflicted)["id"]
    with pytest.raises(InvalidInput, match="keep must be one of A, B, both, merge, got 'C'"):
        conflicted.contradiction_resolve(cid, "C")
    with pytest.raises(InvalidInput, match="verdict must be one of approved, rejected, restore, got 'ok'"):
        conflicted.trust_review(*WINNER, "ok")
    with pytest.raises(InvalidInput, match="order must be asc or desc, got 'up'"):
        conflicted.trust_list("up")
    with pytest.raises(InvalidInput, match="limit must be between 1 and 10000"):
        conflicted.trust_list(limit=0)
    with pytest.raises(InvalidInput, match="status must be active or quarantined"):
        conflicted.trust_list(status="deleted")
    with pytest.raises(InvalidInput, match="status must be open, resolved or dismissed"):
        conflicted.contradictions("closed")
    with pytest.raises(NotFound, match="no contradiction #999") as err:
        conflicted.contradiction_resolve(999, "A")
    assert "contradictions list" in (err.value.hint or "")
    with pytest.raises(NotFound, match="no contradiction #999"):
        conflicted.contradiction(999)
    with pytest.raises(InvalidInput, match="contradiction id must be a number"):
        conflicted.contradiction_resolve("1", "A")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="no item facts/nope"):
        conflicted.trust_show("facts", "nope")
    with pytest.raises(NotFound, match="no item facts/nope"):
        conflicted.trust_review("facts", "nope", "approved")
    conflicted.delete("docs", "runbook.dock")
    with pytest.raises(InvalidInput, match=r"docs/runbook\.dock is deleted"):
        conflicted.trust_review("docs", "runbook.dock", "approved")
    assert only_open(conflicted)["id"] == cid and events(conflicted, "trust.review") == []


# ============================================================================= 13. the worker
def test_the_worker_finds_a_new_conflict_and_stops_on_close(data_dir: Path) -> None:
    """A put wakes the worker (no waiting for trust.interval_s); close() stops it even while it idles."""
    md = open_deck(data_dir)
    passes: list[dict[str, Any]] = []
    md.bus.subscribe(lambda ev: passes.append(ev.payload) if ev.kind == "trust.changed" else None)
    try:
        md.config_set("trust.interval_s", "5")
        md.put(*WINNER, HANDBOOK, source="hr-handbook")
        md.start_trust_worker()
        thread = md._trust_thread
        assert thread is not None and thread.is_alive()
        wait_for(lambda: passes)  # the first pass, soon after starting
        assert passes[0]["scored"] == 1
        md.put(*LOSER, SLACK, source="slack-import")
        c = wait_for(lambda: md.contradictions("open"))
        assert {c[0]["a"]["key"], c[0]["b"]["key"]} == {WINNER[1], LOSER[1]}
        wait_for(lambda: any(p["quarantined"] for p in passes))
        assert status(md, LOSER) == "quarantined"
        seen = len(passes)
        wait_for(lambda: len(passes) > seen)  # the quarantine's own change, rescanned; then it idles
        time.sleep(0.1)
    finally:
        start = time.monotonic()
        md.close()
    assert time.monotonic() - start < 1.5  # not the rest of trust.interval_s
    assert not thread.is_alive()


def test_the_worker_is_off_when_configured_so(md: Memdeck) -> None:
    """``trust.worker = false``: no thread; scores then change only by an explicit recompute."""
    md.config_set("trust.worker", "false")
    md.start_trust_worker()
    assert md._trust_thread is None
