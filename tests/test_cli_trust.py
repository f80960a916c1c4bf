"""The CLI twins of the Trust Dashboard: ``trust ...`` and ``contradictions ...``, in-process, fake embedder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder
from test_cli import Cli

HANDBOOK = "Expenses above £500 need pre-approval from your line manager before you spend."
SLACK = "Expenses above £250 need pre-approval from your line manager before you spend."


def audit_events(cli: Cli, action: str) -> list[dict[str, Any]]:
    """``audit log --json`` prints one event per line."""
    run = cli("audit", "log", "--action", action, "--json")
    return [json.loads(line) for line in run.out.splitlines()]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MEMDECK__"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("MEMDECK_HOME", raising=False)
    monkeypatch.setattr("core.memdeck.Embedder", lambda *a, **k: WordHashEmbedder())


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path / "data", capsys)
    assert c("put", "facts", "policy.expenses.limit", HANDBOOK, "--source", "hr-handbook").code == 0
    assert c("put", "facts", "policy.expenses.threshold", SLACK, "--source", "slack-import").code == 0
    assert c("put", "facts", "office.leeds.desks", "The Leeds office has 40 desks.").code == 0
    return c


def test_recompute_finds_the_conflict_and_quarantines_the_less_trusted_side(cli: Cli) -> None:
    run = cli("trust", "recompute")
    assert run.code == 0, run.err
    assert "scored 3 items" in run.out and "1 new" in run.out
    assert "quarantined facts/policy.expenses.threshold" in run.out
    data = cli("trust", "recompute", "--json").json()
    assert data["contradictions_new"] == 0 and data["contradictions_open"] == 1 and data["scored"] == 3
    listed = cli("contradictions", "list", "--json").json()
    assert len(listed) == 1 and listed[0]["kind"] == "number"
    assert {listed[0]["a"]["key"], listed[0]["b"]["key"]} == {"policy.expenses.limit", "policy.expenses.threshold"}
    assert cli("search", "pre-approval expenses", "--json").json()["hits"][0]["key"] == "policy.expenses.limit"
    keys = [h["key"] for h in cli("search", "pre-approval expenses", "--json").json()["hits"]]
    assert "policy.expenses.threshold" not in keys


def test_show_explains_the_score(cli: Cli) -> None:
    cli("trust", "recompute")
    run = cli("trust", "show", "facts/policy.expenses.threshold")
    assert run.code == 0, run.err
    assert "QUARANTINED" in run.out and "consistency" in run.out and "contradiction #1" in run.out
    data = cli("trust", "show", "facts", "policy.expenses.threshold", "--json").json()
    assert data["status"] == "quarantined" and data["quarantine"]["by_policy"] is True
    assert sum(e["contribution"] for e in data["explanation"]) == pytest.approx(data["score"], abs=1e-3)
    assert data["inputs"]["open_contradictions"] == 1
    missing = cli("trust", "show", "facts/nope")
    assert missing.code != 0 and "no item facts/nope" in missing.err


def test_top_bottom_summary_and_queue(cli: Cli) -> None:
    assert "no trust scores yet" in cli("trust", "bottom").out
    cli("trust", "recompute")
    bottom = cli("trust", "bottom", "--json").json()
    top = cli("trust", "top", "--json").json()
    assert bottom[0]["key"] == "policy.expenses.threshold" and top[-1]["key"] == "policy.expenses.threshold"
    assert [r["score"] for r in bottom] == sorted(r["score"] for r in bottom)
    summary = cli("trust", "summary", "--json").json()
    assert sum(summary["histogram"]) == 3 and summary["collections"][0]["quarantined"] == 1
    assert summary["alerts"] and summary["model"]["method"] == "formula"
    assert "facts" in cli("trust", "summary").out
    queue = cli("trust", "queue", "--json").json()
    assert [q["type"] for q in queue] == ["item", "contradiction"]


def test_resolve_needs_confirmation_and_is_audited(cli: Cli) -> None:
    cli("trust", "recompute")
    refused = cli("contradictions", "resolve", "1", "--keep", "B")
    assert refused.code != 0 and "without confirmation" in refused.err
    show = cli("contradictions", "show", "1")
    assert "£500" in show.out and "£250" in show.out and "suggested: keep A" in show.out
    ok = cli("contradictions", "resolve", "1", "--keep", "A", "--yes", "--note", "handbook rules")
    assert ok.code == 0, ok.err
    assert "resolved" in ok.out
    again = cli("contradictions", "resolve", "1", "--keep", "A", "--yes")
    assert again.code != 0 and "already resolved" in again.err
    merge = cli("contradictions", "resolve", "1", "--keep", "merge", "--yes")
    assert merge.code != 0
    events = audit_events(cli, "contradiction.resolve")
    assert len(events) == 1 and events[0]["details"]["keep"] == "A"
    assert cli("contradictions", "list", "--status", "resolved", "--json").json()[0]["id"] == 1


def test_review_verbs(cli: Cli) -> None:
    cli("trust", "recompute")
    run = cli("trust", "review", "approve", "facts/policy.expenses.threshold", "--note", "checked")
    assert run.code == 0, run.err
    assert "now active" in run.out
    # The admin sided with the Slack figure: the contradiction is still open, so now the handbook's
    # side is the less trusted one, and the approved item is never quarantined again.
    again = cli("trust", "recompute", "--json").json()
    assert [q["key"] for q in again["quarantined"]] == ["policy.expenses.limit"]
    assert cli("trust", "show", "facts/policy.expenses.threshold", "--json").json()["status"] == "active"
    assert cli("trust", "review", "reject", "facts", "office.leeds.desks", "--json").json()["status"] == "quarantined"
    assert "office.leeds.desks" not in {q["key"] for q in cli("trust", "queue", "--json").json()}, "decided"
    assert cli("trust", "review", "restore", "facts/office.leeds.desks", "--json").json()["status"] == "active"
    reviews = audit_events(cli, "trust.review")
    assert {e["details"]["verdict"] for e in reviews} == {"approved", "rejected", "restore"}
    bad = cli("trust", "review", "approve", "nocollectionkey")
    assert bad.code != 0 and "COLLECTION/KEY" in bad.err
