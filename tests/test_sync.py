"""Drift audit per id, repair of exactly what was found, heartbeat records, model change handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import WordHashEmbedder

from core.memdeck import Memdeck


def _seed(md: Memdeck, n: int = 30) -> None:
    md.put_many([{"collection": "c", "key": f"k{i}", "content": f"item number {i} word{i}"} for i in range(n)])


def test_clean_store_has_no_drift(md: Memdeck) -> None:
    _seed(md)
    report = md.sync_check()
    assert report.clean and report.counts() == {"missing": 0, "orphaned": 0, "stale": 0}
    assert report.active_items == 30 and report.index_live == 30


def test_each_kind_of_drift_is_found_by_id_and_repaired(md: Memdeck) -> None:
    _seed(md)
    ids = {r["key"]: r["id"] for r in md.list_items("c", limit=100)}
    md.index.remove([ids["k1"], ids["k2"]])                                   # missing
    md.index.add([424242], np.eye(1, 384, dtype=np.float32), ["f" * 16])      # orphaned
    vec = md.index.get_vectors([ids["k3"]])
    md.index.add([ids["k3"]], vec, ["0" * 16])                                # stale (hash differs)
    report = md.sync_check()
    assert sorted(report.missing) == sorted([ids["k1"], ids["k2"]])
    assert report.orphaned == [424242]
    assert report.stale == [ids["k3"]]

    dry = md.sync_repair(dry_run=True)
    assert dry["found"] == {"missing": 2, "orphaned": 1, "stale": 1}
    assert md.sync_check().counts() == {"missing": 2, "orphaned": 1, "stale": 1}, "dry run changed nothing"

    result = md.sync_repair()
    assert result["fixed"] == {"removed": 1, "added": 3, "reembedded": 0}
    assert result["after"] == {"missing": 0, "orphaned": 0, "stale": 0}
    assert md.search("word3", k=1).hits[0].key == "k3"
    with md.db.read() as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_events WHERE action LIKE 'sync.%'")]
    assert actions == ["sync.repair"]


def test_embedding_for_other_text_is_stale_and_repair_reembeds(md: Memdeck) -> None:
    _seed(md, 5)
    with md.db.write() as conn:  # simulate an embedding row left behind by a bug or an old version
        conn.execute("UPDATE embeddings SET content_hash = 'deadbeef' WHERE item_id = 1")
    report = md.sync_check()
    assert report.stale == [1]
    result = md.sync_repair()
    assert result["fixed"]["reembedded"] == 1
    assert md.sync_check().clean


def test_writes_after_the_watermark_are_not_reported_as_drift(md: Memdeck) -> None:
    _seed(md, 5)
    # Commit a change the index has not applied yet (as if another process just wrote it).
    with md.db.write() as conn:
        conn.execute("UPDATE items SET status = 'deleted' WHERE id = 2")
        conn.execute("INSERT INTO changes (item_id, op, version, at) VALUES (2, 'deleted', 2, 0)")
    from core.sync import audit_drift

    report = audit_drift(md.db, md.index, md.model_fp)
    assert report.clean and report.skipped_in_flight == 1


def test_heartbeat_records_each_beat_and_repairs_when_allowed(md: Memdeck) -> None:
    _seed(md, 10)
    md.index.remove([1])
    beat = md.heartbeat_once("manual")
    assert (beat["missing"], beat["repaired"], beat["error"]) == (1, 1, None)
    assert md.sync_check().clean
    md.config_set("sync.auto_repair", "false")
    md.index.remove([2])
    beat2 = md.heartbeat_once("cron")
    assert (beat2["missing"], beat2["repaired"]) == (1, 0)
    rows = md.heartbeats()
    assert [r["trigger"] for r in rows] == ["cron", "manual"]
    assert rows[0]["missing"] == 1 and rows[1]["repaired"] == 1


def test_heartbeat_thread_runs_and_stops_on_close(data_dir: Path) -> None:
    md = Memdeck.open(data_dir, embedder=WordHashEmbedder())
    md.config_set("sync.heartbeat_interval_s", "5")
    md.config._overrides["sync.heartbeat_interval_s"] = 0.05  # the minimum is for humans; tests go faster
    events: list[str] = []
    md.bus.subscribe(lambda e: events.append(e.kind))
    md.start_heartbeat()
    import time

    deadline = time.time() + 5
    while "heartbeat.done" not in events and time.time() < deadline:
        time.sleep(0.02)
    md.close()
    assert "heartbeat.done" in events
    assert md._heartbeat_thread is not None and not md._heartbeat_thread.is_alive()


def test_model_change_is_detected_and_reembedded_not_served_wrong(data_dir: Path) -> None:
    with Memdeck.open(data_dir, embedder=WordHashEmbedder(name="old")) as md:
        _seed(md, 12)
    new = WordHashEmbedder(name="new")
    with Memdeck.open(data_dir, embedder=new) as md:
        assert any("embedding model changed" in n for n in md.notices)
        assert md.index.live_count == 0, "vectors of the old model must not be queried with the new one"
        hits = md.search("word5").hits
        assert hits[0].key == "k5" and hits[0].vector_score is None  # keyword still answers
        result = md.sync_repair()
        assert result["fixed"]["reembedded"] == 12
        assert md.index.live_count == 12 and md.sync_check().clean
        assert md.search("word5").hits[0].vector_score is not None


def test_rebuild_index_matches_sqlite(md: Memdeck) -> None:
    _seed(md, 40)
    md.delete("c", "k0")
    result = md.rebuild_index()
    assert result["vectors"] == 39
    assert md.sync_check().clean
    with md.db.read() as conn:
        assert conn.execute("SELECT count(*) FROM audit_events WHERE action='index.rebuild'").fetchone()[0] == 1


def test_stats_report(md: Memdeck) -> None:
    _seed(md, 3)
    md.heartbeat_once()
    s = md.stats()
    assert s["items"] == {"active": 3, "quarantined": 0, "deleted": 0}
    assert s["vectors"] == 3 and s["drift_clean"] is True
    assert s["last_heartbeat"]["trigger"] == "manual"
    assert s["index"]["dim"] == 384 and s["index"]["latest_seq"] == 3
    assert s["database"]["schema_version"] == 7 and s["database"]["bytes"] > 0
    assert s["embedding"]["fingerprint"] == "wordhash:384:test"


@pytest.mark.parametrize("n", [0, 1, 3])
def test_search_k_larger_than_live_count(md: Memdeck, n: int) -> None:
    _seed(md, n)
    result = md.search("item number", k=50)
    assert len(result.hits) == n


def test_model_change_triggers_a_background_reembed_in_long_running_processes(data_dir: Path) -> None:
    with Memdeck.open(data_dir, embedder=WordHashEmbedder(name="old")) as md:
        _seed(md, 8)
    with Memdeck.open(data_dir, embedder=WordHashEmbedder(name="new")) as md:
        finished: list[str] = []
        md.bus.subscribe(lambda e: finished.append(e.payload.get("name", "")) if e.kind == "job.finished" else None)
        md.start_heartbeat()
        import time

        deadline = time.time() + 10
        while "reembed" not in finished and time.time() < deadline:
            time.sleep(0.02)
        assert "reembed" in finished
        assert md.index.live_count == 8 and md.sync_check().clean


def test_corrupt_non_ascii_hash_is_still_reported_as_stale(md: Memdeck) -> None:
    _seed(md, 4)
    with md.db.write() as conn:
        conn.execute("UPDATE embeddings SET content_hash = 'ünïcødé-garbage-ß' WHERE item_id = 2")
    assert md.sync_check().stale == [2]


def test_fts_query_drops_stop_words_but_never_everything() -> None:
    from core.search import fts_query

    assert fts_query("Who is the owner of the lidar contract?") == '"owner" OR "lidar" OR "contract"'
    assert fts_query("who is it") == '"who" OR "is" OR "it"'
    assert fts_query("  ?!  ") is None


def test_stats_reuses_the_last_audit_until_something_changes(md: Memdeck, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.memdeck as facade

    _seed(md, 5)
    calls: list[int] = []
    real = facade.audit_drift

    def counting(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(facade, "audit_drift", counting)
    md.stats()
    md.stats()
    assert len(calls) == 1, "an unchanged store must not be re-audited for a dashboard refresh"
    md.put("c", "new", "a new item")
    assert md.stats()["vectors"] == 6 and len(calls) == 2
    md.index.remove([1])
    assert md.stats()["drift"]["missing"] == 1 and len(calls) == 3
    md.sync_check()
    assert len(calls) == 4, "sync_check always audits afresh"
