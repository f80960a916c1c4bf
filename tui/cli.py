"""The ``memdeck`` command: the TUI with no subcommand, a CLI twin of every screen otherwise.

Only the standard library is imported at module level, so ``memdeck --help`` stays fast; core (and
with it SQLAlchemy, numpy, hnswlib, and lazily torch or onnxruntime) is imported when a command runs.
Every command takes ``--json`` for machine-readable output and ``--data-dir`` to pick the data dir.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.memdeck import Memdeck

Handler = Callable[[argparse.Namespace], Any]


def _iso(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _parse_time(text: str) -> float:
    from core.errors import InvalidInput

    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"cannot read time {text!r}", hint="use ISO 8601, e.g. 2026-11-22 or "
                           "2026-11-22T09:30:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _open(args: argparse.Namespace, startup_check: bool = True) -> Memdeck:
    from core.memdeck import Memdeck

    md = Memdeck.open(args.data_dir, startup_check=startup_check)
    if not args.json:
        for notice in md.notices:
            print(f"note: {notice}", file=sys.stderr)
    return md


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _emit(args: argparse.Namespace, data: Any, human: Callable[[Any], str] | str | None = None) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str, ensure_ascii=False))
    elif callable(human):
        print(human(data))
    elif human is not None:
        print(human)


# ----------------------------------------------------------------------------- commands
def cmd_config_show(args: argparse.Namespace) -> None:
    from core.config import Config
    from core.paths import DataLayout, resolve_data_dir

    layout = DataLayout(resolve_data_dir(args.data_dir))
    cfg = Config.load(layout.config_path)
    rows = cfg.rows()
    _emit(args, {"path": str(layout.config_path), "settings": rows}, lambda _: "\n".join(
        [f"# {layout.config_path}"] + [f"{r['key']} = {r['value']!r}  ({r['source']})\n    {r['doc']}"
                                       for r in rows]))


def cmd_config_set(args: argparse.Namespace) -> None:
    with _open(args, startup_check=False) as md:
        result = md.config_set(args.key, args.value)
    _emit(args, result, f"{args.key}: {result['old']!r} -> {result['new']!r}")


def cmd_put(args: argparse.Namespace) -> None:
    from core.errors import InvalidInput

    text = args.text
    if text == "-":
        raw = sys.stdin.buffer.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"stdin is not valid UTF-8 (byte {exc.start})") from None
    meta = None
    if args.meta:
        try:
            meta = json.loads(args.meta)
        except ValueError as exc:
            raise InvalidInput(f"--meta is not valid JSON: {exc}", hint='e.g. --meta \'{"topic": "x"}\'') from None
    with _open(args, startup_check=False) as md:
        out = md.put(args.collection, args.key, text, meta, source=args.source)
    _emit(args, out.as_dict(), f"{out.result}: {out.collection}/{out.key} v{out.version}"
          + (f" (seq {out.seq})" if out.seq else ""))


def cmd_get(args: argparse.Namespace) -> None:
    with _open(args, startup_check=False) as md:
        item = md.get(args.collection, args.key,
                      as_of=_parse_time(args.as_of) if getattr(args, "as_of", None) else None)

    def human(i: dict[str, Any]) -> str:
        if "as_of" in i:
            return "\n".join([
                f"{i['collection']}/{i['key']}  v{i['version']} of {i['current_version']}  {i['status']}"
                f"  as of {_iso(i['as_of'])} (this version from {_iso(i['valid_from'])})",
                f"source: {i['source'] or '-'}   metadata: {json.dumps(i['metadata'], ensure_ascii=False)}",
                "", i["content"]])
        emb = i["embedding"]
        return "\n".join([
            f"{i['collection']}/{i['key']}  v{i['version']}  {i['status']}  updated {_iso(i['updated_at'])}",
            f"source: {i['source'] or '-'}   metadata: {json.dumps(i['metadata'], ensure_ascii=False)}",
            f"embedding: {'none' if emb is None else emb['model_fp'] + ('' if emb['current'] else ' (outdated)')}"
            f"   in index: {'yes' if i['in_index'] else 'no'}",
            "", i["content"]])

    _emit(args, item, human)


def cmd_delete(args: argparse.Namespace) -> None:
    from core.errors import InvalidInput

    if not args.yes:
        if not sys.stdin.isatty():
            raise InvalidInput(f"refusing to delete {args.collection}/{args.key} without confirmation",
                               hint="pass --yes (no terminal to ask on)")
        answer = input(f"Delete {args.collection}/{args.key}? It stays in history. [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            _emit(args, {"deleted": False}, "not deleted")
            return
    with _open(args, startup_check=False) as md:
        out = md.delete(args.collection, args.key)
    _emit(args, out.as_dict(), f"deleted {out.collection}/{out.key} (v{out.version})"
          if out.result != "unchanged" else f"{out.collection}/{out.key} was already deleted")


def cmd_list(args: argparse.Namespace) -> None:
    with _open(args, startup_check=False) as md:
        rows = md.list_items(args.collection, status=args.status, after_key=args.after, limit=args.limit)
    _emit(args, rows, lambda rs: _table(
        [(r["key"], r["status"], r["version"], _iso(r["updated_at"]),
          r["preview"].replace("\n", " ")[:60]) for r in rs],
        ["key", "status", "ver", "updated", "content"]) if rs else "(no items)")


def cmd_history(args: argparse.Namespace) -> None:
    with _open(args, startup_check=False) as md:
        rows = md.history(args.collection, args.key)
    _emit(args, rows, lambda rs: "\n\n".join(
        f"v{r['version']}  {r['status']}  {_iso(r['valid_from'])}  seq {r['change_seq']}  by {r['actor']}\n"
        f"  {r['content'][:300]}" for r in rs))


def cmd_collections(args: argparse.Namespace) -> None:
    with _open(args, startup_check=False) as md:
        rows = md.collections()
    _emit(args, rows, lambda rs: _table(
        [(r["collection"], r["active"], r["quarantined"], r["deleted"], r["total"]) for r in rs],
        ["collection", "active", "quarantined", "deleted", "total"]) if rs else "(no collections)")


def cmd_search(args: argparse.Namespace) -> None:
    with _open(args, startup_check=False) as md:
        result = md.search(args.query, args.k, collections=args.collection or (),
                           statuses=args.status or ("active",),
                           since=_parse_time(args.since) if args.since else None,
                           until=_parse_time(args.until) if args.until else None)

    def human(_: Any) -> str:
        if not result.hits:
            return "(no results)"
        rows = [(n, f"{h.fused:.4f}", "-" if h.vector_score is None else f"{h.vector_score:.3f}",
                 "-" if h.keyword_score is None else f"{h.keyword_score:.2f}", f"{h.collection}/{h.key}",
                 h.content.replace("\n", " ")[:56]) for n, h in enumerate(result.hits, 1)]
        head = "".join(f"warning: {w}\n" for w in result.warnings)
        return head + _table(rows, ["#", "fused", "vector", "keyword", "item", "content"]) + (
            f"\n{result.mode}, {result.timings_ms.get('total', 0):.1f} ms")

    _emit(args, result.as_dict(), human)


def cmd_ingest(args: argparse.Namespace) -> int:
    with _open(args) as md:
        report = md.ingest(args.paths, collection=args.collection, recursive=not args.no_recursive)
    data = report.as_dict()

    def human(d: dict[str, Any]) -> str:
        lines = [f"{'ok  ' if f['ok'] else 'FAIL'} {f['path']}: " + (
            f"{f['chunks']} chunks ({f['created']} new, {f['updated']} changed, {f['unchanged']} unchanged, "
            f"{f['removed']} removed)" if f["ok"] else str(f["error"])) for f in d["files"]]
        lines.append(f"{d['files_ok']} file(s) ingested, {d['files_failed']} failed")
        return "\n".join(lines)

    _emit(args, data, human)
    return 1 if report.failed else 0


def cmd_sync_check(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        report = md.sync_check()
    data = report.as_dict(with_ids=True)
    _emit(args, data, lambda d: (
        f"missing {d['missing']}  orphaned {d['orphaned']}  stale {d['stale']}  "
        f"({d['active_items']} active items, {d['index_live']} vectors, {d['duration_ms']} ms)\n"
        + ("in sync" if d["clean"] else "OUT OF SYNC: run `memdeck sync repair`")))
    return 0 if report.clean else 1


def cmd_sync_repair(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        result = md.sync_repair(dry_run=args.dry_run)

    def human(r: dict[str, Any]) -> str:
        f = r["found"]
        found = f"found missing {f['missing']}, orphaned {f['orphaned']}, stale {f['stale']}"
        if r["dry_run"]:
            return found + "\n(dry run: nothing changed)"
        x = r["fixed"]
        return (found + f"\nremoved {x['removed']} orphaned, indexed {x['added']} (re-embedded "
                f"{x['reembedded']})\nafter: {r['after']}")

    _emit(args, result, human)
    return 0 if not any(result["after"].values()) or args.dry_run else 1


def cmd_index_rebuild(args: argparse.Namespace) -> None:
    with _open(args, startup_check=False) as md:
        result = md.rebuild_index()
    _emit(args, result, f"rebuilt index: {result['vectors']} vectors in {result['seconds']} s")


def cmd_heartbeat(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        beat = md.heartbeat_once(trigger="cron" if args.once else "manual")
    _emit(args, beat, lambda b: (
        f"heartbeat {_iso(b['started_at'])}: {b['duration_ms']:.1f} ms, missing {b['missing']}, orphaned "
        f"{b['orphaned']}, stale {b['stale']}, repaired {b['repaired']}"
        + (f"\nerror: {b['error']}" if b["error"] else "")))
    return 1 if beat["error"] else 0


def cmd_stats(args: argparse.Namespace) -> None:
    with _open(args, startup_check=False) as md:
        s = md.stats()

    def human(s: dict[str, Any]) -> str:
        hb = s["last_heartbeat"]
        emb = s["embedding"]
        idx = s["index"]
        lines = [f"data dir: {s['data_dir']}",
                 "items: " + ", ".join(f"{k} {v}" for k, v in s["items"].items()),
                 f"vectors in index: {s['vectors']}  (tombstones {idx['tombstones']}, capacity {idx['capacity']})",
                 f"drift: {s['drift']}" + ("" if s["drift_clean"] else "  OUT OF SYNC"),
                 "last heartbeat: " + ("never" if hb is None else
                                       f"{_iso(hb['started_at'])} ({hb['trigger']}, {hb['duration_ms']:.1f} ms, "
                                       f"repaired {hb['repaired']})"),
                 f"embedding: {emb.get('model', '-')}  fingerprint {emb.get('fingerprint', emb.get('error'))}",
                 f"index: cosine dim {idx['dim']} M {idx['M']} ef_construction {idx['ef_construction']} "
                 f"ef {idx['ef_search']}  file {idx['file_bytes']:,} B  watermark {idx['watermark']}/"
                 f"{idx['latest_seq']}",
                 f"database: {s['database']['path']}  {s['database']['bytes']:,} B  "
                 f"schema v{s['database']['schema_version']}", "",
                 _table([(c["collection"], c["active"], c["quarantined"], c["deleted"]) for c in s["collections"]],
                        ["collection", "active", "quarantined", "deleted"]) if s["collections"] else "(empty)"]
        return "\n".join(lines)

    _emit(args, s, human)


def cmd_demo(args: argparse.Namespace) -> None:
    with _open(args, startup_check=False) as md:
        if args.if_empty and md.item_count():
            _emit(args, {"loaded": 0, "skipped": "data dir not empty"}, "demo: data dir already has memory")
            return
        result = md.load_demo(force=args.force)
        # Score it at once, so the planted conflicts are already found and quarantined by policy.
        trust = md.trust_recompute(full=True)
        result["trust"] = {k: trust[k] for k in ("scored", "contradictions_open")} | {
            "quarantined": len(trust["quarantined"])}
    _emit(args, result, f"loaded {result['loaded']} demo items into {md.layout.root}; trust: "
                        f"{trust['contradictions_open']} open contradictions, {len(trust['quarantined'])} quarantined")


def cmd_tui(args: argparse.Namespace) -> None:
    from tui.app import run_app

    run_app(args.data_dir)


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS, metavar="PATH",
                        help="data dir (default: $MEMDECK_HOME or the platform user data dir)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable JSON output")

    parser = argparse.ArgumentParser(
        prog="memdeck", parents=[common],
        description="Offline console for an AI memory system. With no command, opens the TUI.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, handler: Handler, help_: str, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_, description=help_, **kw)
        p.set_defaults(handler=handler)
        return p

    add("tui", cmd_tui, "open the terminal UI (the default)")

    cfg = sub.add_parser("config", parents=[common], help="show or change config.toml")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    p = cfg_sub.add_parser("show", parents=[common], help="every setting, its value and documentation")
    p.set_defaults(handler=cmd_config_show)
    p = cfg_sub.add_parser("set", parents=[common], help="validate and save one setting")
    p.add_argument("key")
    p.add_argument("value")
    p.set_defaults(handler=cmd_config_set)

    p = add("put", cmd_put, "store or update one item ('-' reads the text from stdin)")
    p.add_argument("collection")
    p.add_argument("key")
    p.add_argument("text")
    p.add_argument("--meta", help="metadata as a JSON object")
    p.add_argument("--source", default="cli", help="provenance recorded with the item (default: cli)")

    p = add("get", cmd_get, "show one item")
    p.add_argument("collection")
    p.add_argument("key")
    p.add_argument("--as-of", metavar="TIME", help="the version current at TIME (ISO 8601, e.g. 2026-11-01T09:00Z)")

    p = add("delete", cmd_delete, "delete one item (kept in history)")
    p.add_argument("collection")
    p.add_argument("key")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = add("list", cmd_list, "list items of a collection, a page at a time")
    p.add_argument("collection")
    p.add_argument("--status", choices=["active", "quarantined", "deleted"])
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--after", default="", metavar="KEY", help="start after this key (next page)")

    p = add("history", cmd_history, "every version of one item")
    p.add_argument("collection")
    p.add_argument("key")

    add("collections", cmd_collections, "collections with item counts per status")

    p = add("search", cmd_search, "hybrid (vector + keyword) search")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=None, help="number of results (default: search.top_k)")
    p.add_argument("--collection", action="append", help="only this collection (repeatable)")
    p.add_argument("--status", action="append", choices=["active", "quarantined", "deleted"],
                   help="statuses to include (default: active)")
    p.add_argument("--since", help="updated at or after (ISO 8601)")
    p.add_argument("--until", help="updated at or before (ISO 8601)")

    p = add("ingest", cmd_ingest, "ingest .txt .md .json .jsonl .csv .html files or folders")
    p.add_argument("paths", nargs="+")
    p.add_argument("--collection", default="docs")
    p.add_argument("--no-recursive", action="store_true", help="do not descend into sub-folders")

    syn = sub.add_parser("sync", parents=[common], help="drift between SQLite and the vector index")
    syn_sub = syn.add_subparsers(dest="sync_command", metavar="ACTION", required=True)
    p = syn_sub.add_parser("check", parents=[common], help="count (and with --json list) drifted ids")
    p.set_defaults(handler=cmd_sync_check)
    p = syn_sub.add_parser("repair", parents=[common], help="fix exactly what check finds")
    p.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    p.set_defaults(handler=cmd_sync_repair)

    idx = sub.add_parser("index", parents=[common], help="vector index maintenance")
    idx_sub = idx.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    p = idx_sub.add_parser("rebuild", parents=[common], help="rebuild the index from SQLite (no re-embedding)")
    p.set_defaults(handler=cmd_index_rebuild)

    p = add("heartbeat", cmd_heartbeat, "run a heartbeat: check drift, repair if allowed, record it")
    p.add_argument("--once", action="store_true", help="one beat and exit (for cron or a systemd timer)")

    add("stats", cmd_stats, "health summary: counts, drift, heartbeat, model, index, database")

    p = add("demo", cmd_demo, "load the demo corpus into an empty data dir")
    p.add_argument("--force", action="store_true", help="load even if the data dir has items")
    p.add_argument("--if-empty", action="store_true", help="load only if empty; otherwise do nothing")

    from tui import cli_ask, cli_audit, cli_backup, cli_train, cli_trust

    cli_audit.register(sub, common)
    cli_backup.register(sub, common)
    cli_ask.register(sub, common)
    cli_trust.register(sub, common)
    cli_train.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.data_dir = getattr(args, "data_dir", None)
    args.json = getattr(args, "json", False)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        if args.command is None:
            handler = cmd_tui
        else:
            parser.parse_args([args.command, "--help"])
            return 2
    from core.errors import MemdeckError

    try:
        code = handler(args)
    except MemdeckError as exc:
        if args.json:
            print(json.dumps(exc.to_dict(), indent=2))
        label = "pending" if type(exc).__name__ == "ApprovalRequired" else "error"
        print(f"{label}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
