"""Tests for the ``memdeck`` command line, run in-process through ``tui.cli.main``.

Every command opens ``Memdeck`` on a temporary ``--data-dir``; the real embedder is replaced with the
deterministic WordHashEmbedder so no model is loaded.
"""

from __future__ import annotations

import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers import WordHashEmbedder

from core.memdeck import Memdeck
from core.paths import resource_dir
from tui.cli import main

FP = WordHashEmbedder().fingerprint
DEMO = resource_dir() / "demo" / "items.jsonl"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs ``memdeck ARGS --data-dir <tmp>`` in-process and captures what it printed."""

    def __init__(self, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.data_dir = data_dir
        self._capsys = capsys

    def __call__(self, *argv: str) -> Run:
        self._capsys.readouterr()
        code = main([*argv, "--data-dir", str(self.data_dir)])
        out, err = self._capsys.readouterr()
        return Run(code, out, err)

    def open(self) -> Memdeck:
        return Memdeck.open(self.data_dir, embedder=WordHashEmbedder())


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MEMDECK__"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("MEMDECK_HOME", raising=False)
    monkeypatch.setattr("core.memdeck.Embedder", lambda *a, **k: WordHashEmbedder())


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path / "data", capsys)


@pytest.fixture
def stocked(cli: Cli) -> Cli:
    """Three notes and one recipe, written through the CLI."""
    for coll, key, text in [("notes", "alpha", "the aardvark digs tunnels at night"),
                            ("notes", "beta", "a beaver builds dams across rivers"),
                            ("notes", "gamma", "the gecko climbs glass walls"),
                            ("recipes", "soup", "tomato soup with basil and garlic")]:
        assert cli("put", coll, key, text).code == 0
    return cli


def no_tty_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes = b"") -> None:
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(data), isatty=lambda: False))


# ----------------------------------------------------------------------------- parser
def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: memdeck")
    for command in ("tui", "config", "put", "get", "delete", "list", "history", "collections", "search",
                    "ingest", "sync", "index", "heartbeat", "stats", "demo"):
        assert f"\n    {command} " in out or f"\n    {command}\n" in out, command
    assert "--data-dir" in out and "--json" in out


def test_subcommand_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["put", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: memdeck put" in out and "--meta" in out and "--source" in out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_group_without_action_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["sync"])
    assert info.value.code == 2
    assert "required: ACTION" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--json", "stats"], ["stats", "--json"]])
def test_global_json_before_or_after_the_subcommand(stocked: Cli, argv: list[str]) -> None:
    run = stocked(*argv)
    assert run.code == 0
    data = run.json()
    assert data["items"] == {"active": 4, "quarantined": 0, "deleted": 0}
    assert data["vectors"] == 4


def test_data_dir_before_the_subcommand(stocked: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--data-dir", str(stocked.data_dir), "--json", "collections"]) == 0
    names = [c["collection"] for c in json.loads(capsys.readouterr().out)]
    assert names == ["notes", "recipes"]


def test_without_json_output_is_human_text(stocked: Cli) -> None:
    run = stocked("get", "notes", "alpha")
    assert run.code == 0
    assert run.out.startswith("notes/alpha  v1  active  updated ")
    assert "the aardvark digs tunnels at night" in run.out
    assert f"embedding: {FP}   in index: yes" in run.out
    with pytest.raises(ValueError):
        json.loads(run.out)


# ----------------------------------------------------------------------------- round trip
def test_put_get_list_history_collections_search_delete_round_trip(cli: Cli,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    run = cli("put", "notes", "cat", "the cat sleeps on the warm windowsill", "--meta",
              '{"topic": "pets", "n": 1}', "--json")
    assert run.code == 0
    put1 = run.json()
    assert put1 == {"collection": "notes", "key": "cat", "id": put1["id"], "version": 1,
                    "result": "created", "seq": 1}
    assert isinstance(put1["id"], int)

    run = cli("put", "notes", "dog", "the dog chases the red ball", "--source", "import:test", "--json")
    assert run.json()["result"] == "created" and run.json()["seq"] == 2

    # identical content and metadata: a no-op
    run = cli("put", "notes", "cat", "the cat sleeps on the warm windowsill", "--meta",
              '{"n": 1, "topic": "pets"}', "--json")
    assert run.json() == {"collection": "notes", "key": "cat", "id": put1["id"], "version": 1,
                          "result": "unchanged", "seq": None}

    run = cli("put", "notes", "cat", "the cat now sleeps on the sofa", "--meta", '{"topic": "pets"}',
              "--json")
    assert run.json() == {"collection": "notes", "key": "cat", "id": put1["id"], "version": 2,
                          "result": "updated", "seq": 3}

    got = cli("get", "notes", "cat", "--json").json()
    assert got["id"] == put1["id"]
    assert (got["collection"], got["key"]) == ("notes", "cat")
    assert got["content"] == "the cat now sleeps on the sofa"
    assert got["metadata"] == {"topic": "pets"}
    assert got["source"] == "cli"
    assert got["version"] == 2
    assert got["status"] == "active"
    assert len(got["content_hash"]) == 64
    assert got["embedding"] == {"model_fp": FP, "dim": 384, "current": True}
    assert got["in_index"] is True
    assert got["created_at"] <= got["updated_at"]
    assert cli("get", "notes", "dog", "--json").json()["source"] == "import:test"

    listed = cli("list", "notes", "--json").json()
    assert [r["key"] for r in listed] == ["cat", "dog"]
    assert listed[0]["preview"] == "the cat now sleeps on the sofa"
    assert (listed[0]["status"], listed[0]["version"], listed[0]["source"]) == ("active", 2, "cli")
    assert listed[1]["source"] == "import:test"

    hist = cli("history", "notes", "cat", "--json").json()
    assert [(h["version"], h["status"], h["change_seq"]) for h in hist] == [
        (1, "active", 1), (2, "active", 3)]
    assert hist[0]["content"] == "the cat sleeps on the warm windowsill"
    assert hist[0]["metadata"] == {"n": 1, "topic": "pets"}
    assert hist[1]["content"] == "the cat now sleeps on the sofa"

    assert cli("collections", "--json").json() == [
        {"collection": "notes", "active": 2, "quarantined": 0, "deleted": 0, "total": 2}]

    res = cli("search", "sofa cat", "--json").json()
    assert res["query"] == "sofa cat"
    assert res["mode"] == "hybrid"
    assert res["warnings"] == []
    top = res["hits"][0]
    assert (top["collection"], top["key"], top["id"]) == ("notes", "cat", put1["id"])
    assert top["content"] == "the cat now sleeps on the sofa"
    assert top["keyword_rank"] == 1 and top["vector_rank"] == 1
    assert top["fused"] > 0
    assert json.loads(top["metadata"]) == {"topic": "pets"}

    no_tty_stdin(monkeypatch)
    run = cli("delete", "notes", "cat", "--yes", "--json")
    assert run.code == 0
    assert run.json() == {"collection": "notes", "key": "cat", "id": put1["id"], "version": 3,
                          "result": "deleted", "seq": 4}
    hits = cli("search", "sofa cat", "--json").json()["hits"]
    assert "cat" not in [h["key"] for h in hits]
    deleted_hits = cli("search", "sofa cat", "--status", "deleted", "--json").json()["hits"]
    assert [h["key"] for h in deleted_hits] == ["cat"]
    hist = cli("history", "notes", "cat", "--json").json()
    assert [(h["version"], h["status"]) for h in hist] == [(1, "active"), (2, "active"), (3, "deleted")]
    got = cli("get", "notes", "cat", "--json").json()
    assert (got["status"], got["in_index"]) == ("deleted", False)
    assert cli("collections", "--json").json()[0] == {"collection": "notes", "active": 1, "quarantined": 0,
                                                       "deleted": 1, "total": 2}
    # deleting again is reported, not an error
    run = cli("delete", "notes", "cat", "--yes")
    assert run.code == 0 and run.out.strip() == "notes/cat was already deleted"


def test_put_human_output(cli: Cli) -> None:
    assert cli("put", "notes", "k1", "hello world").out.strip() == "created: notes/k1 v1 (seq 1)"
    assert cli("put", "notes", "k1", "hello world").out.strip() == "unchanged: notes/k1 v1"


def test_list_paging_and_status_filter(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("a1", "a2", "a3", "a4"):
        cli("put", "notes", key, f"note {key}")
    assert [r["key"] for r in cli("list", "notes", "--limit", "2", "--json").json()] == ["a1", "a2"]
    assert [r["key"] for r in cli("list", "notes", "--limit", "2", "--after", "a2", "--json").json()] == [
        "a3", "a4"]
    cli("delete", "notes", "a3", "--yes")
    assert [r["key"] for r in cli("list", "notes", "--status", "deleted", "--json").json()] == ["a3"]
    assert cli("list", "empty", "--json").json() == []
    assert cli("list", "empty").out.strip() == "(no items)"


def test_search_filters(stocked: Cli) -> None:
    res = stocked("search", "the", "-k", "2", "--json").json()
    assert len(res["hits"]) == 2
    res = stocked("search", "soup garlic", "--collection", "notes", "--json").json()
    assert all(h["collection"] == "notes" for h in res["hits"])
    assert "soup" not in [h["key"] for h in res["hits"]]
    res = stocked("search", "soup garlic", "--collection", "recipes", "--json").json()
    assert [h["key"] for h in res["hits"]] == ["soup"]
    res = stocked("search", "gecko", "--until", "2000-01-01", "--json").json()
    assert res["hits"] == []
    run = stocked("search", "gecko", "--since", "yesterday-ish")
    assert run.code == 2
    assert "cannot read time 'yesterday-ish'" in run.err


def test_search_k_zero_is_refused(stocked: Cli) -> None:
    run = stocked("search", "the", "-k", "0")
    assert run.code == 2
    assert "k must be between 1 and 1000, got 0" in run.err


def test_search_k_out_of_range_is_refused(stocked: Cli) -> None:
    run = stocked("search", "the", "-k", "1001", "--json")
    assert run.code == 2
    assert run.json()["message"] == "k must be between 1 and 1000, got 1001"


# ----------------------------------------------------------------------------- put input handling
def test_put_dash_reads_stdin(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "line one from a pipe\nline two, with ünïcödé\n"
    no_tty_stdin(monkeypatch, text.encode("utf-8"))
    run = cli("put", "notes", "piped", "-", "--json")
    assert run.code == 0
    assert run.json()["result"] == "created"
    assert cli("get", "notes", "piped", "--json").json()["content"] == text


def test_put_stdin_invalid_utf8_exits_2(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    no_tty_stdin(monkeypatch, b"good start \xff\xfe bad")
    run = cli("put", "notes", "piped", "-")
    assert run.code == 2
    assert "error: stdin is not valid UTF-8 (byte 11)" in run.err
    assert run.out == ""
    assert cli("get", "notes", "piped").code == 3


def test_put_invalid_meta_json_exits_2(cli: Cli) -> None:
    run = cli("put", "notes", "k", "text", "--meta", "{topic: pets}")
    assert run.code == 2
    assert "error: --meta is not valid JSON:" in run.err
    assert "hint: e.g. --meta" in run.err
    run = cli("put", "notes", "k", "text", "--meta", "[1, 2]", "--json")
    assert run.code == 2
    assert run.json()["message"] == "metadata must be a JSON object, got list"
    assert cli("get", "notes", "k").code == 3


@pytest.mark.parametrize("name", ["Bad Name", "1notes", "no/slash", "x" * 65])
def test_put_invalid_collection_exits_2(cli: Cli, name: str) -> None:
    run = cli("put", name, "k", "some text")
    assert run.code == 2
    assert f"invalid collection name {name!r}" in run.err
    assert "hint: use 1-64 characters" in run.err


def test_put_invalid_key_and_empty_text_exit_2(cli: Cli) -> None:
    run = cli("put", "notes", "has space", "some text")
    assert run.code == 2 and "invalid key 'has space'" in run.err
    run = cli("put", "notes", "k", "   ")
    assert run.code == 2 and "content of notes/k is empty" in run.err


# ----------------------------------------------------------------------------- missing and delete
def test_get_missing_exits_3(cli: Cli) -> None:
    run = cli("get", "notes", "nope")
    assert run.code == 3
    assert "error: no item notes/nope" in run.err
    assert "`memdeck list notes` shows its keys" in run.err
    assert cli("history", "notes", "nope").code == 3
    assert cli("delete", "notes", "nope", "--yes").code == 3


def test_errors_with_json_print_a_json_object(cli: Cli) -> None:
    run = cli("get", "notes", "nope", "--json")
    assert run.code == 3
    err = run.json()
    assert err == {"error": "NotFound", "message": "no item notes/nope",
                   "hint": "`memdeck list notes` shows its keys"}
    run = cli("--json", "put", "Bad", "k", "text")
    assert run.code == 2
    err = run.json()
    assert err["error"] == "InvalidInput"
    assert err["message"] == "invalid collection name 'Bad'"
    assert set(err) == {"error", "message", "hint"}


def test_delete_without_yes_on_non_tty_refuses(stocked: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    no_tty_stdin(monkeypatch)
    run = stocked("delete", "notes", "alpha")
    assert run.code == 2
    assert "refusing to delete notes/alpha without confirmation" in run.err
    assert "pass --yes" in run.err
    got = stocked("get", "notes", "alpha", "--json").json()
    assert (got["status"], got["version"], got["in_index"]) == ("active", 1, True)
    assert "alpha" in [h["key"] for h in stocked("search", "aardvark", "--json").json()["hits"]]


def test_delete_on_tty_asks_and_no_keeps_it(stocked: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(isatty=lambda: True))
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    run = stocked("delete", "notes", "alpha", "--json")
    assert run.code == 0 and run.json() == {"deleted": False}
    assert stocked("get", "notes", "alpha", "--json").json()["status"] == "active"
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert stocked("delete", "notes", "alpha").out.strip() == "deleted notes/alpha (v2)"
    assert stocked("get", "notes", "alpha", "--json").json()["status"] == "deleted"


def test_delete_yes_removes_from_search_keeps_history(stocked: Cli) -> None:
    before = [h["key"] for h in stocked("search", "beaver dams", "--json").json()["hits"]]
    assert before[0] == "beta"
    run = stocked("delete", "notes", "beta", "--yes")
    assert run.code == 0 and run.out.strip() == "deleted notes/beta (v2)"
    after = [h["key"] for h in stocked("search", "beaver dams", "--json").json()["hits"]]
    assert "beta" not in after
    hist = stocked("history", "notes", "beta", "--json").json()
    assert [(h["version"], h["status"]) for h in hist] == [(1, "active"), (2, "deleted")]
    assert hist[1]["content"] == "a beaver builds dams across rivers"
    assert stocked("sync", "check").code == 0


# ----------------------------------------------------------------------------- sync, heartbeat, index
def _drop_from_index(cli: Cli, keys: list[tuple[str, str]]) -> list[int]:
    with cli.open() as md:
        ids = sorted(md.get(c, k)["id"] for c, k in keys)
        assert md.index.remove(ids) == len(ids)
        md.checkpoint()
    return ids


def test_sync_check_clean(stocked: Cli) -> None:
    run = stocked("sync", "check", "--json")
    assert run.code == 0
    data = run.json()
    assert (data["missing"], data["orphaned"], data["stale"], data["clean"]) == (0, 0, 0, True)
    assert data["ids"] == {"missing": [], "orphaned": [], "stale": []}
    assert (data["active_items"], data["index_live"]) == (4, 4)
    human = stocked("sync", "check")
    assert human.code == 0 and human.out.rstrip().endswith("in sync")


def test_sync_check_reports_drift(stocked: Cli) -> None:
    ids = _drop_from_index(stocked, [("notes", "alpha"), ("recipes", "soup")])
    run = stocked("sync", "check", "--json")
    assert run.code == 1
    data = run.json()
    assert data["clean"] is False
    assert (data["missing"], data["orphaned"], data["stale"]) == (2, 0, 0)
    assert data["ids"]["missing"] == ids
    assert (data["active_items"], data["index_live"]) == (4, 2)
    human = stocked("sync", "check")
    assert human.code == 1 and "OUT OF SYNC: run `memdeck sync repair`" in human.out


def test_sync_repair_dry_run_changes_nothing(stocked: Cli) -> None:
    ids = _drop_from_index(stocked, [("notes", "gamma")])
    run = stocked("sync", "repair", "--dry-run", "--json")
    assert run.code == 0
    data = run.json()
    assert data["dry_run"] is True
    assert data["found"] == {"missing": 1, "orphaned": 0, "stale": 0}
    assert data["ids"]["missing"] == ids
    assert data["fixed"] == {"removed": 0, "added": 0, "reembedded": 0}
    check = stocked("sync", "check", "--json")
    assert check.code == 1 and check.json()["ids"]["missing"] == ids
    with stocked.open() as md, md.db.read() as conn:
        sql = "SELECT count(*) FROM audit_events WHERE action = 'sync.repair'"
        assert conn.execute(sql).fetchone()[0] == 0


def test_sync_repair_fixes(stocked: Cli) -> None:
    ids = _drop_from_index(stocked, [("notes", "alpha"), ("notes", "beta")])
    run = stocked("sync", "repair", "--json")
    assert run.code == 0
    data = run.json()
    assert data["dry_run"] is False
    assert data["found"] == {"missing": 2, "orphaned": 0, "stale": 0}
    assert data["ids"]["missing"] == ids
    assert data["fixed"] == {"removed": 0, "added": 2, "reembedded": 0}
    assert data["after"] == {"missing": 0, "orphaned": 0, "stale": 0}
    with stocked.open() as md, md.db.read() as conn:
        sql = "SELECT action, target FROM audit_events WHERE action = 'sync.repair'"
        assert conn.execute(sql).fetchall() == [("sync.repair", "index")]


def test_sync_repair_persists_for_the_next_process(stocked: Cli) -> None:
    _drop_from_index(stocked, [("notes", "alpha"), ("notes", "beta")])
    assert stocked("sync", "repair").code == 0
    check = stocked("sync", "check", "--json")
    assert check.json()["ids"]["missing"] == []
    assert check.code == 0


def test_heartbeat_once_records_a_cron_beat(stocked: Cli) -> None:
    run = stocked("heartbeat", "--once", "--json")
    assert run.code == 0
    beat = run.json()
    assert beat["trigger"] == "cron"
    assert (beat["missing"], beat["orphaned"], beat["stale"], beat["repaired"]) == (0, 0, 0, 0)
    assert beat["error"] is None
    assert beat["details"]["active_items"] == 4
    with stocked.open() as md:
        rows = md.heartbeats()
    assert len(rows) == 1
    assert rows[0]["id"] == beat["id"]
    assert (rows[0]["trigger"], rows[0]["error"], rows[0]["missing"]) == ("cron", None, 0)
    assert rows[0]["started_at"] == pytest.approx(beat["started_at"])
    assert stocked("heartbeat", "--json").json()["trigger"] == "manual"
    stats = stocked("stats", "--json").json()
    assert stats["last_heartbeat"]["trigger"] == "manual"


def test_heartbeat_repairs_drift(stocked: Cli) -> None:
    _drop_from_index(stocked, [("notes", "gamma")])
    beat = stocked("heartbeat", "--once", "--json").json()
    assert (beat["missing"], beat["repaired"]) == (1, 1)
    assert beat["details"]["after"] == {"missing": 0, "orphaned": 0, "stale": 0}


def test_heartbeat_repair_persists_for_the_next_process(stocked: Cli) -> None:
    _drop_from_index(stocked, [("notes", "gamma")])
    assert stocked("heartbeat", "--once", "--json").json()["repaired"] == 1
    second = stocked("heartbeat", "--once", "--json").json()
    assert (second["missing"], second["repaired"]) == (0, 0)


def test_heartbeat_reports_only_when_auto_repair_is_off(stocked: Cli) -> None:
    assert stocked("config", "set", "sync.auto_repair", "false").code == 0
    _drop_from_index(stocked, [("notes", "gamma")])
    beat = stocked("heartbeat", "--once", "--json").json()
    assert (beat["missing"], beat["repaired"]) == (1, 0)
    assert stocked("sync", "check").code == 1


def test_index_rebuild(stocked: Cli) -> None:
    _drop_from_index(stocked, [("notes", "alpha")])
    stocked("delete", "notes", "gamma", "--yes")
    run = stocked("index", "rebuild", "--json")
    assert run.code == 0
    data = run.json()
    assert data["vectors"] == 3
    assert data["watermark"] == 5
    assert data["seconds"] >= 0
    check = stocked("sync", "check", "--json")
    assert check.code == 0 and check.json()["index_live"] == 3
    human = stocked("index", "rebuild")
    assert human.out.startswith("rebuilt index: 3 vectors in ")


def test_stats_json(stocked: Cli) -> None:
    stocked("delete", "notes", "gamma", "--yes")
    run = stocked("stats", "--json")
    assert run.code == 0
    s = run.json()
    assert {"items", "vectors", "drift", "index", "database", "embedding"} <= set(s)
    assert s["data_dir"] == str(stocked.data_dir.resolve())
    assert s["items"] == {"active": 3, "quarantined": 0, "deleted": 1}
    assert s["vectors"] == 3
    assert s["drift"] == {"missing": 0, "orphaned": 0, "stale": 0}
    assert s["drift_clean"] is True
    assert s["last_heartbeat"] is None
    assert s["embedding"]["fingerprint"] == FP and s["embedding"]["dim"] == 384
    idx = s["index"]
    assert (idx["space"], idx["dim"], idx["M"], idx["ef_search"]) == ("cosine", 384, 16, 100)
    assert idx["latest_seq"] == 5
    assert idx["watermark"] == 5
    assert s["database"]["path"] == str((stocked.data_dir / "memdeck.db").resolve())
    assert s["database"]["schema_version"] == 7
    assert s["database"]["bytes"] > 0
    assert [c["collection"] for c in s["collections"]] == ["notes", "recipes"]
    human = stocked("stats")
    assert "items: active 3, quarantined 0, deleted 1" in human.out


def test_stats_on_empty_data_dir(cli: Cli) -> None:
    s = cli("stats", "--json").json()
    assert s["items"] == {"active": 0, "quarantined": 0, "deleted": 0}
    assert s["vectors"] == 0 and s["collections"] == []


# ----------------------------------------------------------------------------- ingest
def test_ingest_command(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("xylophone practice notes", encoding="utf-8")
    (docs / "b.json").write_text("{broken", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    run = cli("ingest", "docs", "--collection", "papers", "--json")
    assert run.code == 1
    data = run.json()
    assert (data["files_ok"], data["files_failed"], data["created"]) == (1, 1, 1)
    failed = next(f for f in data["files"] if not f["ok"])
    assert failed["path"] == "docs/b.json" and "invalid JSON" in failed["error"]
    assert cli("get", "papers", "docs/a.txt#1", "--json").json()["source"] == "file:docs/a.txt"
    (docs / "b.json").unlink()
    run = cli("ingest", "docs", "--collection", "papers")
    assert run.code == 0
    assert "ok   docs/a.txt: 1 chunks (0 new, 0 changed, 1 unchanged, 0 removed)" in run.out
    assert "1 file(s) ingested, 0 failed" in run.out


# ----------------------------------------------------------------------------- demo
def test_demo_loads_into_an_empty_dir(cli: Cli) -> None:
    if not DEMO.exists():
        pytest.skip(f"{DEMO} does not exist yet (demo corpus not written)")
    lines = [json.loads(x) for x in DEMO.read_text(encoding="utf-8").splitlines() if x.strip()]
    run = cli("demo", "--json")
    assert run.code == 0
    data = run.json()
    assert data["loaded"] == len(lines) and data["unchanged"] == 0
    assert data["path"] == str(DEMO)
    stats = cli("stats", "--json").json()
    # The demo is scored at once: policy quarantines the less trusted side of strong contradictions.
    assert stats["items"]["active"] + stats["items"]["quarantined"] == len(lines)
    assert stats["items"]["quarantined"] == data["trust"]["quarantined"] > 0
    assert data["trust"]["scored"] == len(lines) and data["trust"]["contradictions_open"] > 0
    assert stats["drift_clean"] is True
    assert {c["collection"] for c in stats["collections"]} == {r["collection"] for r in lines}


def test_demo_refuses_a_non_empty_dir_without_force(stocked: Cli) -> None:
    run = stocked("demo")
    assert run.code == 7
    assert "already holds 4 item(s)" in run.err
    assert "--force" in run.err
    run = stocked("demo", "--json")
    assert run.code == 7 and run.json()["error"] == "NotEmpty"
    assert stocked("stats", "--json").json()["items"]["active"] == 4


def test_demo_if_empty_on_non_empty_dir_does_nothing(stocked: Cli) -> None:
    run = stocked("demo", "--if-empty", "--json")
    assert run.code == 0
    assert run.json() == {"loaded": 0, "skipped": "data dir not empty"}
    assert stocked("demo", "--if-empty").out.strip() == "demo: data dir already has memory"
    assert stocked("stats", "--json").json()["items"] == {"active": 4, "quarantined": 0, "deleted": 0}
