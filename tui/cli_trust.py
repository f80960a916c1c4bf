"""CLI twins of the Trust Dashboard: ``trust show|top|bottom|recompute|retrain|review|queue|summary`` and
``contradictions list|show|resolve``. Every command takes ``--json`` for scripts and cron."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui.cli import _emit, _iso, _open, _table


def _score(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}"


def _bar(value: float, width: int = 20) -> str:
    filled = round(max(0.0, min(1.0, value)) * width)
    return "█" * filled + "·" * (width - filled)


def _collection_key(text: str) -> tuple[str, str]:
    from core.errors import InvalidInput

    collection, sep, key = text.partition("/")
    if not sep or not collection or not key:
        raise InvalidInput(f"expected COLLECTION/KEY or COLLECTION KEY, got {text!r}")
    return collection, key


def _target(args: argparse.Namespace) -> tuple[str, str]:
    return (args.collection, args.key) if args.key else _collection_key(args.collection)


def cmd_trust_show(args: argparse.Namespace) -> int:
    collection, key = _target(args)
    with _open(args, startup_check=False) as md:
        out = md.trust_show(collection, key)

    def human(r: dict[str, Any]) -> str:
        lines = [f"{r['collection']}/{r['key']} v{r['version']}  ({r['status']}, source {r['source'] or '-'})",
                 f"trust {r['score']:.2f}  by the {r['method']}"
                 + ("  (scored now: changed since the last pass)" if r["computed_at"] is None
                    else f"  computed {_iso(r['computed_at'])}")]
        if r["quarantine"]:
            lines.append(f"QUARANTINED: {r['quarantine']['reason']}")
        if r["review"]:
            rv = r["review"]
            note = f" — {rv['note']}" if rv["note"] else ""
            lines.append(f"review: {rv['verdict']} by {rv['actor']} {_iso(rv['at'])}{note}")
        unit = "log-odds" if r["method"] == "learned" else "share"
        lines.append("")
        lines.append(_table([(e["component"], f"{e['value']:.2f}", _bar(e["value"]), f"{e['weight']:.2f}",
                              f"{e['contribution']:+.3f}") for e in r["explanation"]],
                            ["component", "value", "", "weight", unit]))
        i = r["inputs"]
        lines.append(f"\ninputs: age {i['age_days']:.0f} d · retrieved {i['retrieved']} · helpful {i['helpful']}"
                     f" · unhelpful {i['unhelpful']} · corroborations {i['corroborations']}"
                     f" · open contradictions {i['open_contradictions']} (max {i['max_contradiction']:.2f})"
                     f" · source reviews +{i['source_approved']}/-{i['source_rejected']}")
        if r["history"]:
            lines.append("history: " + "  ".join(f"{_iso(h['at'])[:10]} {h['score']:.2f}" for h in r["history"][-6:]))
        for c in r["contradictions"]:
            lines.append(f"contradiction #{c['id']} [{c['status']}] {c['kind']} {c['score']:.2f}: {c['evidence']}")
        return "\n".join(lines)

    _emit(args, out, human)
    return 0


def _list(args: argparse.Namespace, order: str) -> int:
    with _open(args, startup_check=False) as md:
        rows = md.trust_list(order, args.limit, args.collection, args.status)
    _emit(args, rows, lambda rs: _table(
        [(_score(r["score"]), f"{r['collection']}/{r['key']}", r["status"], r["method"], r["reason"]) for r in rs],
        ["trust", "item", "status", "method", "strongest component"]) if rs else
        "no trust scores yet: run `memdeck trust recompute`")
    return 0


def cmd_trust_top(args: argparse.Namespace) -> int:
    return _list(args, "desc")


def cmd_trust_bottom(args: argparse.Namespace) -> int:
    return _list(args, "asc")


def cmd_trust_recompute(args: argparse.Namespace) -> int:
    with _open(args) as md:
        out = md.trust_recompute(full=args.full)

    def human(r: dict[str, Any]) -> str:
        lines = [f"scored {r['scored']} items ({'full scan' if r['full'] else 'changes only'}: {r['scanned']} checked)"
                 f" in {r['duration_ms'] / 1000:.1f} s by the {r['method']}",
                 f"contradictions: {r['contradictions_new']} new, {r['contradictions_open']} open,"
                 f" {r['superseded']} superseded"]
        lines += [f"quarantined {q['collection']}/{q['key']}: {q['reason']}" for q in r["quarantined"]]
        lines += [f"restored {q['collection']}/{q['key']}" for q in r["restored"]]
        return "\n".join(lines)

    _emit(args, out, human)
    return 0


def _model_line(m: dict[str, Any]) -> str:
    acc = "" if m.get("cv_accuracy") is None else f", cross-validated accuracy {m['cv_accuracy']:.2f}"
    return f"{m['method']}{acc}: {m['reason']}"


def cmd_trust_retrain(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.trust_retrain()
    _emit(args, out, _model_line)
    return 0


def cmd_trust_summary(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.trust_summary()

    def human(s: dict[str, Any]) -> str:
        if not s["collections"]:
            return "no trust scores yet: run `memdeck trust recompute`"
        spark = "▁▂▃▄▅▆▇█"
        lines = [_table([(c["collection"], c["n"], f"{c['avg']:.2f}", c["low"], c["high"], c["quarantined"],
                          "".join(spark[min(7, int(v * 8))] for v in c["trend"][-20:]))
                         for c in s["collections"]],
                        ["collection", "items", "avg", f"low <{s['low_threshold']:.2f}",
                         f"high >={s['high_threshold']:.2f}", "quarantined", "trend"]),
                 "", "distribution: " + " ".join(f"{n}" for n in s["histogram"]) + "  (0.0-0.1 … 0.9-1.0)",
                 f"model: {_model_line(s['model'])}", f"last pass: {_iso(s['computed_at'])}"]
        if s["alerts"]:
            lines.append("\nalerts:")
            lines += [f"  {_iso(a['at'])}  {a['kind']:<13} {a['message']}" for a in s["alerts"][:10]]
        return "\n".join(lines)

    _emit(args, out, human)
    return 0


def cmd_trust_queue(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        rows = md.review_queue()
    _emit(args, rows, lambda rs: _table(
        [(r["type"], r["id"], _score(r["score"]), r["title"], r["reason"][:60], r["suggestion"]) for r in rs],
        ["type", "id", "score", "what", "why", "suggested"]) if rs else "nothing to review")
    return 0


def cmd_trust_review(args: argparse.Namespace) -> int:
    collection, key = _target(args)
    verdict = {"approve": "approved", "reject": "rejected", "restore": "restore"}[args.verdict]
    with _open(args, startup_check=False) as md:
        out = md.trust_review(collection, key, verdict, args.note or "")
    _emit(args, out, lambda r: f"{r['collection']}/{r['key']}: {r['verdict']}, now {r['status']} (v{r['version']})")
    return 0


def _side(s: dict[str, Any]) -> str:
    return f"{s['collection']}/{s['key']} v{s['version']} (trust {_score(s['trust'])}, {s['status']})"


def cmd_contradictions_list(args: argparse.Namespace) -> int:
    status = None if args.status == "all" else args.status
    with _open(args, startup_check=False) as md:
        rows = md.contradictions(status, args.limit)
    _emit(args, rows, lambda rs: _table(
        [(r["id"], r["status"], r["kind"], f"{r['score']:.2f}", f"{r['a']['collection']}/{r['a']['key']}",
          f"{r['b']['collection']}/{r['b']['key']}", r["evidence"][:50]) for r in rs],
        ["id", "status", "kind", "score", "A", "B", "evidence"]) if rs else f"no {args.status} contradictions")
    return 0


def cmd_contradictions_show(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.contradiction(args.id)

    def human(c: dict[str, Any]) -> str:
        lines = [f"contradiction #{c['id']} [{c['status']}] {c['kind']} score {c['score']:.2f} ({c['method']})"
                 + (" — a version conflict: A is the older text" if c["version_conflict"] else ""),
                 f"A: {_side(c['a'])}", f"   {c['a']['content']}", f"B: {_side(c['b'])}", f"   {c['b']['content']}",
                 "", "findings:"]
        lines += [f"  {f['kind']:<9} {f['score']:.2f}  A: {f['a_span']!r}  B: {f['b_span']!r}" for f in c["findings"]]
        if c["status"] == "open":
            lines.append(f"\nsuggested: {c['suggestion']}")
            lines.append(f"resolve: memdeck contradictions resolve {c['id']} --keep A|B|both|merge [--text ...]")
        else:
            lines.append(f"\n{c['status']} by {c['resolved_by']} {_iso(c['resolved_at'])}: {c['resolution']}")
        return "\n".join(lines)

    _emit(args, out, human)
    return 0


def cmd_contradictions_resolve(args: argparse.Namespace) -> int:
    from core.errors import InvalidInput

    with _open(args, startup_check=False) as md:
        if args.keep in ("A", "B", "merge") and not args.yes:
            c = md.contradiction(args.id)
            lose = {"A": c["b"], "B": c["a"], "merge": c["b"]}[args.keep]
            what = "put the older text back as a new version" if c["version_conflict"] and args.keep == "A" else (
                f"quarantine {lose['collection']}/{lose['key']}" if args.keep != "merge" else
                f"rewrite {c['a']['collection']}/{c['a']['key']} and delete {lose['collection']}/{lose['key']}")
            if not sys.stdin.isatty():
                raise InvalidInput(f"refusing to {what} without confirmation", hint="pass --yes (no terminal to ask)")
            if input(f"this will {what}. type yes to go on: ").strip().lower() != "yes":
                print("nothing changed")
                return 1
        out = md.contradiction_resolve(args.id, args.keep, args.text, args.note or "")
    _emit(args, out, lambda r: f"contradiction #{r['id']} {r['status']}: {r['resolution']}")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    t = sub.add_parser("trust", parents=[common], help="trust scores: show, top, bottom, recompute, review")
    t_sub = t.add_subparsers(dest="trust_command", required=True, metavar="COMMAND")

    def item_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("collection", help="COLLECTION (then KEY) or COLLECTION/KEY")
        p.add_argument("key", nargs="?", help="the item's key")

    p = t_sub.add_parser("show", parents=[common], help="one item's score, explained component by component")
    item_args(p)
    p.set_defaults(handler=cmd_trust_show)
    for name, handler, text in (("top", cmd_trust_top, "the most trusted items"),
                                ("bottom", cmd_trust_bottom, "the least trusted items")):
        p = t_sub.add_parser(name, parents=[common], help=text)
        p.add_argument("--limit", type=int, default=20, help="how many (default 20)")
        p.add_argument("--collection", help="only this collection")
        p.add_argument("--status", choices=["active", "quarantined"], help="only items with this status")
        p.set_defaults(handler=handler)
    p = t_sub.add_parser("recompute", parents=[common], help="rescore now (and apply the quarantine policy)")
    p.add_argument("--full", action="store_true", help="check every item for contradictions, not just changes")
    p.set_defaults(handler=cmd_trust_recompute)
    t_sub.add_parser("retrain", parents=[common], help="fit the learned model on the admin reviews (admin)"
                     ).set_defaults(handler=cmd_trust_retrain)
    t_sub.add_parser("summary", parents=[common], help="per collection, distribution, trend, model, alerts"
                     ).set_defaults(handler=cmd_trust_summary)
    t_sub.add_parser("queue", parents=[common], help="the review queue: quarantined items, open contradictions"
                     ).set_defaults(handler=cmd_trust_queue)
    p = t_sub.add_parser("review", parents=[common], help="approve, reject or restore one item")
    p.add_argument("verdict", choices=["approve", "reject", "restore"])
    item_args(p)
    p.add_argument("--note", help="why (kept in the audit trail)")
    p.set_defaults(handler=cmd_trust_review)

    c = sub.add_parser("contradictions", parents=[common], help="conflicting memories: list, show, resolve")
    c_sub = c.add_subparsers(dest="contradictions_command", required=True, metavar="COMMAND")
    p = c_sub.add_parser("list", parents=[common], help="contradictions, strongest first")
    p.add_argument("--status", choices=["open", "resolved", "dismissed", "all"], default="open")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(handler=cmd_contradictions_list)
    p = c_sub.add_parser("show", parents=[common], help="both texts side by side with the findings")
    p.add_argument("id", type=int)
    p.set_defaults(handler=cmd_contradictions_show)
    p = c_sub.add_parser("resolve", parents=[common], help="keep A, keep B, keep both (a false alarm), or merge")
    p.add_argument("id", type=int)
    p.add_argument("--keep", required=True, choices=["A", "B", "both", "merge"])
    p.add_argument("--text", help="the merged text (the new version of A) for --keep merge")
    p.add_argument("--note", help="why (kept in the audit trail)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=cmd_contradictions_resolve)
